"""The pipeline step actions as a caller's workflow uses them, on a copy of examples/brno-houses.

One act run of tests/fixtures/workflows/step-actions.yml (three jobs: lint, lock, gate) serves
every test here; each job's last step prints the other steps' outcomes and outputs.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.act, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = "tests/fixtures/workflows/step-actions.yml"
EXAMPLE = REPO_ROOT / "examples" / "brno-houses"
DEGRADED_MODEL = REPO_ROOT / "tests" / "fixtures" / "eval-degraded" / "model.skops"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example handoff with the degraded model at degraded/model.skops."""
    root = tmp_path_factory.mktemp("step-actions") / "brno-houses"
    shutil.copytree(EXAMPLE, root)
    (root / "degraded").mkdir()
    shutil.copy2(DEGRADED_MODEL, root / "degraded" / "model.skops")
    return root


@pytest.fixture(scope="module")
def run(act, workspace: Path) -> subprocess.CompletedProcess[str]:
    return act(
        WORKFLOW, event="workflow_dispatch", workspace=workspace, env={"HANDOFF": str(workspace)}, timeout=600
    )


def job_log(run: subprocess.CompletedProcess[str], job: str) -> str:
    """The lines act printed for ``job``, without act's ``[workflow/job]`` prefix."""
    prefix = re.compile(rf"^\[step-actions/{re.escape(job)}\s*\] ?")
    return "\n".join(prefix.sub("", line) for line in run.stdout.splitlines() if prefix.match(line))


def test_workflow_succeeds_with_each_failing_step_contained(run):
    assert run.returncode == 0, "a job failed; act's output is printed above"


def lint_counts_from_cli(workspace: Path) -> dict[str, int]:
    result = subprocess.run(
        [sys.executable, "-m", "mlrelease", "lint", "-c", str(workspace), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    return json.loads(result.stdout)["counts"]


def test_lint_fails_on_the_example_notebook_and_counts_match_the_cli(run, workspace):
    counts = lint_counts_from_cli(workspace)
    assert counts["error"] >= 1, "the example notebook is expected to carry an NB101 error"
    log = job_log(run, "lint")

    errors, warnings = counts["error"], counts["warning"]
    assert f"lint default: outcome=failure errors={errors} warnings={warnings} failed=true" in log
    assert "lint wrote mlrelease-lint.json" in log
    assert "lint wrote mlrelease-lint.sarif" in log
    assert re.search(
        r"::error file=notebooks/house_prices\.ipynb,line=\d+,title=NB101 out-of-order-execution::", log
    )
    assert "Summary - ### ❌ Notebook lint" in log


def test_lint_with_fail_on_never_passes_and_still_reports(run, workspace):
    counts = lint_counts_from_cli(workspace)
    log = job_log(run, "lint")

    errors, warnings = counts["error"], counts["warning"]
    assert f"lint never: outcome=success errors={errors} warnings={warnings} failed=false" in log
    assert "lint wrote lint-never.json" in log


def test_lint_rejects_a_nonsense_fail_on_with_a_clear_message(run):
    log = job_log(run, "lint")

    assert "lint nonsense: outcome=failure" in log
    assert "Invalid value for '--fail-on'" in log
    assert "'sometimes' is not one of 'error', 'warning'" in log


def test_lock_check_passes_on_the_fresh_example_lock(run):
    log = job_log(run, "lock")

    assert "lock fresh: outcome=success files=requirements.txt errors=0 warnings=0" in log
    assert "lock fresh changed=false" in log
    assert "requirements.txt: fresh: requirements.txt is up to date with its inputs" in log


def test_lock_check_fails_on_a_stale_lock_and_shows_the_diff(run):
    log = job_log(run, "lock")

    assert "lock stale: outcome=failure files=requirements.txt" in log
    assert "requirements.txt: stale: requirements.txt is stale: its inputs changed since it was locked" in log
    assert "+in: requests>=2.31" in log  # the diff between the recorded and the current inputs
    assert "Summary - ### Lock check failed" in log


def test_evaluate_then_gate_passes_the_candidate_against_the_baseline(run):
    log = job_log(run, "gate")

    assert (
        "evaluate: outcome=success out-dir=mlrelease-evaluate metrics=mlrelease-evaluate/metrics.json "
        "golden=mlrelease-evaluate/golden.parquet"
    ) in log
    assert "gate pass: outcome=success verdict=pass report=mlrelease-gate/gate.md" in log


def test_gate_blocks_the_degraded_model_with_the_table_in_the_job_summary(run):
    log = job_log(run, "gate")

    assert "gate blocked: outcome=failure verdict=fail report=gate-degraded/gate.md" in log
    assert "Summary - **❌ FAIL: " in log
    # the summary's table rows follow act's `Summary -` line unprefixed
    row = re.compile(r"^\| root_mean_squared_error \| [\d,]+ \| [\d,]+ \| .*❌ fail", re.MULTILINE)
    assert row.search(run.stdout)
    assert "::error title=gate%3A blocked::root_mean_squared_error" in log


def test_gate_rejects_a_missing_baseline_with_a_clear_message(run):
    log = job_log(run, "gate")

    assert "gate nonsense: outcome=failure verdict=" in log
    assert "--baseline no-such-baseline: no metrics.json there" in log
    assert "fix: point --baseline at the folder `mlrelease evaluate -o` wrote" in log
