"""The PR check as users meet it: pr-check.yml and the root action.yml, end to end through act.

Two act runs serve every test here (each is minutes on a shared runner):

- ``blocked``: examples/brno-houses with its out-of-order notebook, a stale lock and the degraded
  model, through pr-check.yml and through the root action (tests/fixtures/workflows/pr-check-blocked.yml).
- ``passed``: the example with its notebook run in order (its image built on the test base image and
  checked on the golden predictions), and tests/fixtures/handoff-churn-repo (config in ml/churn/)
  through pr-check.yml with only inputs changed, and the churn handoff through the root action
  (tests/fixtures/workflows/pr-check-pass.yml).

The reports pass between jobs through a shared folder (the ``exchange-dir`` input), because
actions/upload-artifact cannot be fetched offline; the comment's body is rendered to a file
(no GitHub API here) and printed by the summary job.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.act, pytest.mark.docker, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "examples" / "brno-houses"
DEGRADED_MODEL = REPO_ROOT / "tests" / "fixtures" / "eval-degraded" / "model.skops"
CHURN = REPO_ROOT / "tests" / "fixtures" / "handoff-churn-repo"


PINNED = re.compile(r"uses: (actions/[a-z-]+)@([0-9a-f]{40})")


@pytest.fixture(scope="module")
def offline_actions(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """act arguments that resolve each SHA-pinned actions/* of pr-check.yml to a local stand-in.

    act loads every action of a job before its first step, even one whose ``if`` is false, and
    github.com cannot be reached here. The stand-ins fail if run: with ``local-handoff`` and
    ``exchange-dir`` set, pr-check.yml never runs them.
    """
    root = tmp_path_factory.mktemp("offline-actions")
    text = (REPO_ROOT / ".github" / "workflows" / "pr-check.yml").read_text()
    args: list[str] = []
    for name, sha in sorted(set(PINNED.findall(text))):
        stub = root / name.replace("/", "-")
        stub.mkdir(exist_ok=True)
        (stub / "action.yml").write_text(
            f"name: offline stand-in for {name}\n"
            "description: not available offline\n"
            "runs:\n  using: composite\n  steps:\n"
            f"    - run: echo '{name} is not available offline' && exit 1\n      shell: bash\n"
        )
        args += ["--local-repository", f"{name}@{sha}={stub}"]
    assert len(args) >= 6, "expected checkout, upload-artifact and download-artifact in pr-check.yml"
    return args


def _example_copy(target: Path) -> Path:
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(".github"))
    return target


def _notebook_in_order(handoff: Path) -> None:
    """Renumber the example notebook's execution counts top to bottom (no NB101 error left)."""
    path = handoff / "notebooks" / "house_prices.ipynb"
    notebook = json.loads(path.read_text())
    count = 0
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code" and cell.get("execution_count") is not None:
            count += 1
            cell["execution_count"] = count
            for output in cell.get("outputs", []):
                if "execution_count" in output:
                    output["execution_count"] = count
    path.write_text(json.dumps(notebook, indent=1))


@pytest.fixture(scope="module")
def blocked(
    act, offline_actions: list[str], tmp_path_factory: pytest.TempPathFactory
) -> subprocess.CompletedProcess[str]:
    root = tmp_path_factory.mktemp("pr-check-blocked")
    handoff = _example_copy(root / "handoff")
    shutil.copy2(DEGRADED_MODEL, handoff / "model" / "model.skops")
    with (handoff / "requirements.in").open("a") as fh:
        fh.write("requests>=2.31\n")
    exchange = root / "exchange"
    inputs = {"handoff": str(handoff), "exchange": str(exchange)}
    run = act(
        "tests/fixtures/workflows/pr-check-blocked.yml",
        event="workflow_dispatch",
        inputs=inputs,
        args=offline_actions,
        timeout=1500,
    )
    return run


@pytest.fixture(scope="module")
def passed(
    act, offline_actions: list[str], base_image: str, tmp_path_factory: pytest.TempPathFactory
) -> subprocess.CompletedProcess[str]:
    root = tmp_path_factory.mktemp("pr-check-pass")
    example = _example_copy(root / "example")
    _notebook_in_order(example)
    churn = root / "churn"
    shutil.copytree(CHURN, churn)
    inputs = {
        "example": str(example),
        "churn": str(churn),
        "exchange": str(root / "exchange"),
        "base-image": base_image,
    }
    run = act(
        "tests/fixtures/workflows/pr-check-pass.yml",
        event="workflow_dispatch",
        inputs=inputs,
        args=offline_actions,
        timeout=1500,
    )
    return run


def job_log(run: subprocess.CompletedProcess[str], job: str) -> str:
    """The lines act printed for ``job`` (``caller/job`` or a called job ``caller/pr-check.yml/job``)."""
    prefix = re.compile(rf"^\[{re.escape(job)}\s*\] ?")
    return "\n".join(prefix.sub("", line) for line in run.stdout.splitlines() if prefix.match(line))


def job_outcome(run: subprocess.CompletedProcess[str], job: str) -> str:
    log = job_log(run, job)
    if "🏁  Job succeeded" in log:
        return "succeeded"
    if "🏁  Job failed" in log:
        return "failed"
    return "did not run"


CALLED = "check/mlrelease pr-check"  # act's prefix for the jobs of pr-check.yml called by job `check`


def test_a_worse_model_is_blocked_and_the_summary_job_fails(blocked):
    assert blocked.returncode != 0
    assert job_outcome(blocked, f"{CALLED}/evaluate and gate") == "failed"
    assert job_outcome(blocked, f"{CALLED}/pr-check") == "failed"
    assert job_outcome(blocked, f"{CALLED}/image") == "did not run"  # image: false by default
    summary = job_log(blocked, f"{CALLED}/pr-check")
    assert "evaluate and gate: failure" in summary
    assert "::error title=mlrelease pr-check::the evaluate and gate job did not pass (failure)" in summary
    assert "image: skipped" in summary


def test_the_gate_job_names_the_failing_metrics_in_its_summary(blocked):
    log = job_log(blocked, f"{CALLED}/evaluate and gate")

    assert re.search(r"Summary - \*\*❌ FAIL: 1[12] of 13 checks block brno-house-prices", log)
    assert "::error title=gate%3A blocked::root_mean_squared_error: 65.2%25 worse" in log
    assert "::error title=gate%3A blocked::mean_absolute_percentage_error: " in log
    # the summary's table rows follow act's `Summary -` line unprefixed
    row = re.compile(r"^\| root_mean_squared_error \| 601,977 \| 994,411 \| .*❌ fail", re.MULTILINE)
    assert row.search(blocked.stdout)


def test_the_comment_body_says_blocked_with_the_table(blocked):
    log = job_log(blocked, f"{CALLED}/pr-check")

    assert "| <!-- mlrelease:pr-check -->" in log
    assert "| ## ❌ mlrelease: BLOCKED" in log
    assert (  # p95_latency_ms may join the list on a loaded runner
        "| Blocked by: notebook lint (1 errors); lock not fresh (requirements.txt); "
        "gate (mean_absolute_percentage_error, "
    ) in log
    assert "| | metric | slice | baseline | candidate | change | interval of change | rule | verdict |" in log
    assert "| | root_mean_squared_error | city-centre | 770,561 | 1,379,841 | +609,279 (+79.1%) |" in log
    assert "| - `requirements.txt`: **stale**" in log


def test_a_stale_lock_fails_the_deps_job_naming_the_package(blocked):
    log = job_log(blocked, f"{CALLED}/deps")

    assert job_outcome(blocked, f"{CALLED}/deps") == "failed"
    assert (
        "::error file=requirements.txt,title=deps%3A stale-lock::requirements.txt is stale: "
        "its inputs changed since it was locked: +in: requests>=2.31"
    ) in log


def test_an_out_of_order_notebook_fails_lint_with_an_annotation_at_the_cell(blocked):
    log = job_log(blocked, f"{CALLED}/lint")

    assert job_outcome(blocked, f"{CALLED}/lint") == "failed"
    assert re.search(
        r"::error file=notebooks/house_prices\.ipynb,line=\d+,title=NB101 out-of-order-execution::"
        r"notebooks/house_prices\.ipynb:cell 18: cell 18 ran \(count 12\) before cell 17",
        log,
    )


def test_the_root_action_blocks_the_same_handoff_in_one_step(blocked):
    log = job_log(blocked, "pr-check-blocked/action")

    assert "action: outcome=failure verdict=fail blocked=true failed=lint deps gate" in log
    assert "action: comment=mlrelease-pr-check/comment.md gate-report=mlrelease-pr-check/gate/gate.md" in log
    assert "action comment: ## ❌ mlrelease: BLOCKED" in log
    assert re.search(
        r"::error file=notebooks/house_prices\.ipynb,line=\d+,title=NB101 out-of-order-execution", log
    )
    assert (
        "title=deps%3A stale-lock::requirements.txt is stale: its inputs changed since it was locked: "
        "+in: requests>=2.31"
    ) in log
    assert "::error title=gate%3A blocked::root_mean_squared_error: 65.2%25 worse" in log
    # act prints only a summary's first line; gate.md is what the gate step added to it
    assert re.search(r"action gate: \*\*❌ FAIL: 1[12] of 13 checks block", log)
    assert re.search(r"action gate: \| root_mean_squared_error \| 601,977 \| 994,411 \| .*❌ fail", log)


def test_the_example_passes_through_pr_check(passed):
    assert passed.returncode == 0, "a job failed; act's output is printed above"
    for job in ("lint", "deps", "evaluate and gate", "image", "pr-check"):
        assert job_outcome(passed, f"example/mlrelease pr-check/{job}") == "succeeded", job
    summary = job_log(passed, "example/mlrelease pr-check/pr-check")
    assert "| ## ✅ mlrelease: PASSED" in summary
    assert "| ### ✅ Gate: PASS" in summary
    assert "example: result=success verdict=pass blocked=false" in job_log(passed, "pr-check-pass/report")


def test_a_handoff_in_another_layout_passes_with_only_inputs_changed(passed):
    for job in ("lint", "deps", "evaluate and gate", "pr-check"):
        assert job_outcome(passed, f"churn/mlrelease pr-check/{job}") == "succeeded", job
    summary = job_log(passed, "churn/mlrelease pr-check/pr-check")
    assert "| ### ✅ Gate: PASS: " in summary and "churn" in summary
    assert "| | accuracy_score | overall |" in summary
    assert "churn: result=success verdict=pass blocked=false" in job_log(passed, "pr-check-pass/report")


def test_the_root_action_passes_the_other_layout_in_one_step(passed):
    log = job_log(passed, "pr-check-pass/action")

    assert "action: outcome=success verdict=pass blocked=false reports=mlrelease-pr-check" in log
    assert "action comment: ## ✅ mlrelease: PASSED" in log


def test_the_image_job_builds_the_example_and_reproduces_the_golden_predictions(passed):
    log = job_log(passed, "example/mlrelease pr-check/image")

    assert job_outcome(passed, "example/mlrelease pr-check/image") == "succeeded"
    assert "✅  Success - Main test the image on the golden predictions" in log, log[-3000:]
    image = re.search(r"example: image=(brno-house-prices:\S+)", job_log(passed, "pr-check-pass/report"))
    assert image, "the workflow's `image` output is empty"
    summary = job_log(passed, "example/mlrelease pr-check/pr-check")
    assert f"| ### ✅ Image `{image.group(1)}`" in summary
    assert re.search(r"\| all \d+ golden predictions reproduce, packages match the lock", summary)
    assert "image: success" in summary
    # the churn call leaves the image job off (its default)
    assert job_outcome(passed, "churn/mlrelease pr-check/image") == "did not run"
