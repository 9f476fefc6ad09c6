"""Options shared by several subcommands."""

from __future__ import annotations

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
