"""Options shared by several subcommands."""

from __future__ import annotations

from pathlib import Path

import click

config_option = click.option(
    "--config",
    "-c",
    "config_path",
    type=click.Path(dir_okay=True, path_type=str),
    default=None,
    help="mlrelease.yaml, or the folder that holds it. Default: ./mlrelease.yaml.",
)

json_option = click.option("--json", "as_json", is_flag=True, help="Print only JSON, for machines.")


def output_dir_option(what: str):
    """``-o/--output DIR`` (required), passed as ``out_dir``: the folder a step writes ``what`` into."""
    return click.option(
        "--output",
        "-o",
        "out_dir",
        type=click.Path(file_okay=False, path_type=Path),
        required=True,
        help=f"Folder for {what}.",
    )


registry_option = click.option(
    "--registry",
    "registry_location",
    envvar="MLRELEASE_REGISTRY",
    default=None,
    help="The release registry: a folder, oci://HOST/NAMESPACE or oci+http://HOST/NAMESPACE. "
    "Default: registry.location in mlrelease.yaml. Env: MLRELEASE_REGISTRY.",
)
