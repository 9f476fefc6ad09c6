"""Options shared by several subcommands, each declared once, each readable from the environment.

An option with an ``MLRELEASE_*`` variable takes its value from it when the flag is not given, so
a composite action maps its inputs to variables and runs a bare ``mlrelease <command>``. A bad
value is click's usage error (exit 2), naming the option and the variable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

IMAGE_JSON = "image.json"

# What click.option decorates: a command callback (click's own bound for its decorators).
FC = TypeVar("FC", bound=Callable[..., Any])

config_option = click.option(
    "--config",
    "-c",
    "config_path",
    type=click.Path(dir_okay=True, path_type=str),
    default=None,
    envvar="MLRELEASE_CONFIG",
    show_envvar=True,
    help="mlrelease.yaml, or the folder that holds it. Default: ./mlrelease.yaml.",
)

json_option = click.option("--json", "as_json", is_flag=True, help="Print only JSON, for machines.")


def output_dir_option(what: str) -> Callable[[FC], FC]:
    """``-o/--output DIR`` (required), passed as ``out_dir``: the folder a step writes ``what`` into."""
    return click.option(
        "--output",
        "-o",
        "out_dir",
        type=click.Path(file_okay=False, path_type=Path),
        required=True,
        help=f"Folder for {what}.",
    )


def fail_on_option(choices: Sequence[str], default: str | None, help: str) -> Callable[[FC], FC]:
    """``--fail-on SEVERITY``: the lowest severity that makes a check exit 1."""
    return click.option(
        "--fail-on",
        type=click.Choice(list(choices)),
        default=default,
        show_default=default is not None,
        envvar="MLRELEASE_FAIL_ON",
        show_envvar=True,
        help=help,
    )


def _path_option(flag: str, envvar: str, *, folder: bool, help: str) -> Callable[[FC], FC]:
    return click.option(
        flag,
        type=click.Path(file_okay=not folder, dir_okay=folder, path_type=Path),
        default=None,
        envvar=envvar,
        show_envvar=True,
        help=help,
    )


def data_option(help: str) -> Callable[[FC], FC]:
    """``--data FILE``: a CSV or Parquet file to run the model on."""
    return _path_option("--data", "MLRELEASE_DATA", folder=False, help=help)


def evaluation_option(help: str) -> Callable[[FC], FC]:
    """``--evaluation DIR``: the folder `mlrelease evaluate -o` wrote."""
    return _path_option("--evaluation", "MLRELEASE_EVALUATION", folder=True, help=help)


image_json_option = click.option(
    "--image-json",
    type=click.Path(dir_okay=False, path_type=Path),
    default=IMAGE_JSON,
    show_default=True,
    envvar="MLRELEASE_IMAGE_JSON",
    show_envvar=True,
    help="The image record: written by build, read by test-image, updated by push.",
)


registry_option = click.option(
    "--registry",
    "registry_location",
    envvar="MLRELEASE_REGISTRY",
    default=None,
    show_envvar=True,
    help="The release registry: a folder, oci://HOST/NAMESPACE or oci+http://HOST/NAMESPACE. "
    "Default: registry.location in mlrelease.yaml.",
)
