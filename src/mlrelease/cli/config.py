"""``mlrelease config validate``, ``mlrelease config schema`` and ``mlrelease init``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mlrelease.cli.options import json_option


@click.group()
def config() -> None:
    """Validate mlrelease.yaml, print its schema."""


@config.command("validate")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@json_option
def validate(path: Path | None, as_json: bool) -> None:
    """Check PATH (mlrelease.yaml, or its folder) against the schema and the files it names.

    Exits 0 when valid, 2 with every problem (file, line, key, what was expected) when not.
    """
    from mlrelease import config as cfgmod
    from mlrelease.errors import ConfigError

    try:
        cfg = cfgmod.load(path)
    except ConfigError as exc:
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "valid": False,
                        "message": exc.message,
                        "problems": [p.__dict__ for p in exc.problems],
                    },
                    indent=2,
                )
            )
        raise
    if as_json:
        click.echo(json.dumps({"valid": True, "path": str(cfg.path), "model": cfg.model.name}, indent=2))
    else:
        click.echo(f"{cfg.path}: valid (model '{cfg.model.name}', {cfg.model.task})")


@config.command("schema")
def print_schema() -> None:
    """Print the JSON Schema of mlrelease.yaml (for editors and other tools)."""
    from mlrelease import config as cfgmod

    click.echo(json.dumps(cfgmod.schema(), indent=2))


@click.command()
@click.argument("folder", required=False, default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite an existing mlrelease.yaml.")
def init(folder: Path, force: bool) -> None:
    """Write an mlrelease.yaml for the handoff in FOLDER (default: here).

    Finds the model file, notebooks, requirements and data, and infers the target column and the
    task from the data when it can.
    """
    from mlrelease import scaffold

    path, found = scaffold.init(folder, force=force)
    for note in found.notes:
        click.echo(f"  {note}", err=True)
    click.echo(f"wrote {path}")
