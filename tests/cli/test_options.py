"""Shared options are declared once and read ``MLRELEASE_*`` variables: an action sets the
variables and runs a bare command; a bad value is a usage error naming the variable."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from mlrelease.cli import COMMANDS, LazyGroup, cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "brno-houses"
CORPUS = ROOT / "tests" / "fixtures" / "notebooks"
REGRESSION = ROOT / "tests" / "fixtures" / "eval-regression"

ENVVARS = {
    "config_path": "MLRELEASE_CONFIG",
    "fail_on": "MLRELEASE_FAIL_ON",
    "data": "MLRELEASE_DATA",
    "evaluation": "MLRELEASE_EVALUATION",
    "image_json": "MLRELEASE_IMAGE_JSON",
}


def leaf_commands() -> list[tuple[str, click.Command]]:
    out = []
    group = LazyGroup()
    ctx = click.Context(cli)
    for name in sorted(COMMANDS):
        command = group.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            out += [(f"{name} {sub}", command.commands[sub]) for sub in sorted(command.commands)]
        else:
            out.append((name, command))
    return out


@pytest.mark.parametrize(("name", "command"), leaf_commands(), ids=[n for n, _ in leaf_commands()])
def test_every_shared_option_reads_its_variable(name, command):
    for param in command.params:
        if param.name in ENVVARS and isinstance(param, click.Option) and param.opts[0].startswith("--"):
            if name == "init" and param.name == "data":
                continue  # init's --data names a file to write into the new config, not one to read
            if name == "pr-check" and param.name == "fail_on":
                assert param.envvar == "MLRELEASE_PR_FAIL_ON"  # a policy over the checks, not lint's
                continue
            assert param.envvar == ENVVARS[param.name], f"{name} {param.opts[0]}"


def test_a_variable_sets_the_option_and_the_flag_wins():
    path = str(CORPUS / "nb301_unused_import.ipynb")  # one warning
    assert CliRunner().invoke(cli, ["lint", path]).exit_code == 0
    runner = CliRunner(env={"MLRELEASE_FAIL_ON": "warning"})
    assert runner.invoke(cli, ["lint", path]).exit_code == 1
    assert runner.invoke(cli, ["lint", path, "--fail-on", "error"]).exit_code == 0


def test_a_bad_variable_is_a_usage_error_naming_it():
    result = CliRunner(env={"MLRELEASE_FAIL_ON": "sometimes"}).invoke(
        cli, ["deps", "check", "-c", str(EXAMPLE)]
    )
    assert result.exit_code == 2
    assert "MLRELEASE_FAIL_ON" in result.output and "'sometimes' is not one of" in result.output


def test_config_and_data_from_the_environment():
    data = REGRESSION / "data" / "reference.csv"  # not the config's validation data
    env = {"MLRELEASE_CONFIG": str(REGRESSION), "MLRELEASE_DATA": str(data)}
    result = CliRunner(env=env).invoke(cli, ["predict", "--rows", "1", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["data"].endswith("reference.csv") and doc["rows"] == 600
