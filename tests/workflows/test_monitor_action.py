"""actions/monitor as a caller's workflow uses it, on a copy of examples/survey, through act."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.act, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "examples" / "survey"


@pytest.fixture(scope="module")
def run(act, tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    root = tmp_path_factory.mktemp("monitor-action") / "survey"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("logs", "report"))
    return act(
        "tests/fixtures/workflows/monitor-action.yml",
        event="workflow_dispatch",
        workspace=root,
        env={"HANDOFF": str(root)},
        timeout=600,
    )


def log(run: subprocess.CompletedProcess[str]) -> str:
    prefix = re.compile(r"^\[monitor-action/monitor\s*\] ?")
    return "\n".join(prefix.sub("", line) for line in run.stdout.splitlines() if prefix.match(line))


def test_the_job_succeeds_with_the_alert_contained(run) -> None:
    assert run.returncode == 0


def test_seniors_alert_with_outputs_files_and_the_issue_body(run) -> None:
    text = log(run)
    assert "monitor seniors: outcome=failure verdict=alert drifted=age,prediction" in text
    assert "monitor wrote mlrelease-monitor/drift.html" in text
    assert "monitor wrote mlrelease-monitor/drift.md" in text
    assert "issue body: 🚨 **alert**; 2 of 4 columns drifted: age (alert), prediction (alert)" in text
    assert "age: PSI" in text  # the error annotation


def test_same_data_is_ok_and_a_missing_window_fails_without_files(run) -> None:
    text = log(run)
    assert "monitor same: outcome=success verdict=ok" in text
    assert "monitor nonsense: outcome=failure" in text
    assert "no/such/window.jsonl: no such file or folder" in text
    assert "monitor wrote nonsense/drift.json" not in text
