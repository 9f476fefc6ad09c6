"""The root action's body, `mlrelease pr-check`, run as the action runs it: inputs through env only.

The act runs in test_pr_check.py cover the checks end to end; these pin the inputs and the failure
policy quickly, on the example's notebook (it carries an NB101 error) with only `lint` selected.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# the action's input -> the variable its step sets
VARIABLES = {"steps": "MLRELEASE_PR_CHECKS", "fail_on": "MLRELEASE_PR_FAIL_ON"}
EXAMPLE = ROOT / "examples" / "brno-houses"


def run(workspace: Path, **inputs: str) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    outputs = workspace / "github-output"
    outputs.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "MLRELEASE_"))}
    env |= {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(outputs)}
    env.update({VARIABLES[key]: value for key, value in inputs.items()})
    result = subprocess.run(
        [sys.executable, "-m", "mlrelease", "pr-check"],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line.partition("=") for line in outputs.read_text().splitlines() if "=" in line]
    return result, {key: value for key, _, value in lines}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLE, tmp_path / "handoff", ignore=shutil.ignore_patterns(".github"))
    return tmp_path / "handoff"


@pytest.mark.parametrize(("policy", "code"), [("any", 1), ("gate", 0), ("never", 0)])
def test_the_failure_policy_decides_the_exit_code_and_the_outputs_still_say_blocked(workspace, policy, code):
    result, outputs = run(workspace, steps="lint", fail_on=policy)

    assert result.returncode == code, result.stdout + result.stderr
    assert outputs["failed-checks"] == "lint"
    assert outputs["blocked"] == "true"
    assert outputs["reports"] == "mlrelease-pr-check"
    body = (workspace / "mlrelease-pr-check" / "comment.md").read_text()
    assert "## ❌ mlrelease: BLOCKED" in body and "Blocked by: notebook lint (1 errors)." in body


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (
            {"steps": "lint deploy"},
            "Invalid value for '--checks' (env var: 'MLRELEASE_PR_CHECKS'): 'deploy' is not one of 'lint',",
        ),
        ({"steps": "lint image"}, "--checks: 'image' needs 'gate'"),
        (
            {"fail_on": "sometimes"},
            "'--fail-on' (env var: 'MLRELEASE_PR_FAIL_ON'): 'sometimes' is not one of 'any',",
        ),
    ],
)
def test_a_nonsense_input_stops_before_any_check_with_a_clear_message(workspace, inputs, message):
    result, _ = run(workspace, **inputs)

    assert result.returncode == 2
    assert message in result.stderr
    assert "::error title=" in result.stderr  # the same message as an annotation
    assert not (workspace / "mlrelease-pr-check").exists()
