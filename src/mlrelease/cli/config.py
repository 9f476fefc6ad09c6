"""``mlrelease config validate``, ``mlrelease config schema`` and ``mlrelease init``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mlrelease.cli.options import json_option

if TYPE_CHECKING:
    from mlrelease.config import Config


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
    from mlrelease.errors import ConfigError, Problem

    try:
        cfg = cfgmod.load(path)
        refused = _refused_types(cfg)
        if refused:
            raise ConfigError(
                f"{cfg.model.artifact}: the model holds {len(refused)} type(s) that loading refuses",
                problems=[
                    Problem(
                        f"not trusted: {', '.join(refused)}",
                        file=str(cfg.path),
                        key="model.trusted_types",
                        hint="review them (each runs its own code when the model loads), then list "
                        "them under model.trusted_types",
                    )
                ],
            )
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


def _refused_types(cfg: Config) -> list[str]:
    """A skops model's types that `predict`, `evaluate` and `serve` would refuse to load."""
    artifact = cfg.model.artifact
    if artifact is None or cfg.model.format not in (None, "skops") or artifact.suffix != ".skops":
        return []
    from mlrelease.model import untrusted_skops_types

    return untrusted_skops_types(artifact, cfg.model.trusted_types)


@config.command("schema")
def print_schema() -> None:
    """Print the JSON Schema of mlrelease.yaml (for editors and other tools)."""
    from mlrelease import config as cfgmod

    click.echo(json.dumps(cfgmod.schema(), indent=2))


@click.command()
@click.argument("folder", required=False, default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), help="The model file to release.")
@click.option("--entrypoint", metavar="MODULE:FACTORY", help="Instead of a model file: a factory to call.")
@click.option("--data", type=click.Path(dir_okay=False, path_type=Path), help="The validation data.")
@click.option(
    "--reference",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The reference (training) data that drift and the outlier guard compare against.",
)
@click.option(
    "--requirements",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The loose list of the model's packages (requirements.in).",
)
@click.option("--target", metavar="COLUMN", help="The column the model predicts.")
@click.option("--task", type=click.Choice(["regression", "classification"]), help="What the model predicts.")
@click.option(
    "--allow-pickle",
    is_flag=True,
    help="Accept a joblib or pickle model file (it runs code when loaded); pins its sha256.",
)
@click.option("--print", "print_only", is_flag=True, help="Print the proposed file to stdout; write nothing.")
def init(
    folder: Path,
    model: Path | None,
    entrypoint: str | None,
    data: Path | None,
    reference: Path | None,
    requirements: Path | None,
    target: str | None,
    task: str | None,
    allow_pickle: bool,
    print_only: bool,
) -> None:
    """Propose an mlrelease.yaml for the handoff in FOLDER (default: here) and write it.

    Finds the model file, notebooks, requirements, validation and reference data, and infers the
    target column and the task from the data. Each choice is explained (on stderr and as a comment
    in the file) with the other candidates seen. Where several candidates fit and no rule picks
    one (two model files, a val and a test table), init exits 2 listing them and the option that
    decides (--model, --data, --requirements, ...). Paths are relative to here or to FOLDER.

    The lock goes to a file that is only ever a lock, never to the requirements themselves.
    An existing mlrelease.yaml is never replaced; the file is written atomically, and only after
    it passed the checks of `mlrelease config validate`.
    """
    from mlrelease import scaffold

    options = scaffold.Options(
        model=model,
        entrypoint=entrypoint,
        data=data,
        reference=reference,
        requirements=requirements,
        target=target,
        task=task,  # type: ignore[arg-type]  # click.Choice gives one of Task's values
        allow_pickle=allow_pickle,
    )
    path, found = scaffold.init(folder, options, write=not print_only)
    for choice in found.choices:
        click.echo(f"  {choice.render()}", err=True)
    for note in found.notes:
        click.echo(f"  note: {note}", err=True)
    if found.untrusted_types:
        click.echo(
            f"  review: {len(found.untrusted_types)} skops type(s) are listed, commented, under "
            "model.trusted_types; uncomment the ones you trust",
            err=True,
        )
    if print_only:
        click.echo(found.to_yaml(), nl=False)
    else:
        click.echo(f"wrote {path}")
