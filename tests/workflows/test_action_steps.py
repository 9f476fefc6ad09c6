"""Each composite action is a thin shim: its run step is a bare ``mlrelease <command>``, and every
input it maps reaches an option of that command through the option's own ``MLRELEASE_*``
variable, so a nonsense input is the command's own usage error (exit 2) naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml

from mlrelease.cli import cli

ROOT = Path(__file__).resolve().parents[2]
# actions/setup installs mlrelease (install.sh), so it has no command to run yet
ACTIONS = [
    ROOT / "action.yml",
    *sorted(a for a in ROOT.glob("actions/*/action.yml") if a.parent.name != "setup"),
]
# read by the domain, not by an option: registry credentials (masked as soon as read), the token
READ_BY_DOMAIN = {"MLRELEASE_REGISTRY_USERNAME", "MLRELEASE_REGISTRY_PASSWORD", "GITHUB_TOKEN"}


def command_steps() -> list[tuple[str, dict[str, object]]]:
    steps = []
    for action in ACTIONS:
        for step in yaml.safe_load(action.read_text())["runs"]["steps"]:
            if step.get("id") != "setup":
                steps.append((f"{action.relative_to(ROOT).parent}:{step['id']}", step))
    return steps


def resolve(words: list[str]) -> click.Command:
    command: click.Command = cli
    ctx = click.Context(cli)
    for word in words[1:]:
        assert isinstance(command, click.Group)
        found = command.get_command(ctx, word)
        assert found is not None, f"no command {word!r}"
        command = found
    return command


def envvars(command: click.Command) -> set[str]:
    """The variables ``command`` reads; a command with --target gke reads its cluster command's too."""
    from mlrelease.cli import gke
    from mlrelease.cli.deploy import ByTarget

    names: set[str] = set()
    params = list(command.params)
    if isinstance(command, ByTarget):
        params += getattr(gke, command.cluster_command).params
    for param in params:
        if isinstance(param.envvar, str):
            names.add(param.envvar)
        elif param.envvar:
            names.update(param.envvar)
    return names


@pytest.mark.parametrize(("name", "step"), command_steps(), ids=[n for n, _ in command_steps()])
def test_each_action_step_is_a_bare_command_over_its_options_variables(name, step):
    words = str(step["run"]).split()
    assert words[0] == "mlrelease" and all(
        w.isidentifier() or w.replace("-", "_").isidentifier() for w in words
    )
    known = envvars(resolve(words))
    env = {key for key in step.get("env", {}) if key not in READ_BY_DOMAIN}
    assert env <= known, f"{name}: {sorted(env - known)} is no option's variable of `{' '.join(words)}`"
    assert env, f"{name}: maps no input"


@pytest.mark.parametrize(
    ("command", "variable", "value"),
    [
        ("gate", "MLRELEASE_ALLOW_DIFFERENT_DATA", "sometimes"),
        ("build", "MLRELEASE_GPU", "sometimes"),
        ("lock", "MLRELEASE_LOCK_MODE", "sometimes"),
        ("evaluate", "MLRELEASE_LATENCY_SAMPLES", "ten"),
        ("rollback", "MLRELEASE_PORT", "http"),
        ("rollback", "MLRELEASE_DRY_RUN", "perhaps"),
    ],
)
def test_a_nonsense_input_is_the_commands_usage_error_naming_its_variable(tmp_path, command, variable, value):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "MLRELEASE_"))}
    env.update({"GITHUB_ACTIONS": "true", variable: value, "MLRELEASE_CANDIDATE": str(tmp_path)})
    env["MLRELEASE_OUTPUT_DIR"] = str(tmp_path / "out")  # the required -o, so only the input is wrong
    done = subprocess.run(
        [sys.executable, "-m", "mlrelease", command], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert done.returncode == 2, done.stderr
    assert f"(env var: '{variable}'): '{value}'" in done.stderr
    assert f"::error title=mlrelease {command}%3A invalid input::Invalid value for" in done.stderr
