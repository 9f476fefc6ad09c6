"""monitor.yml as a caller's schedule uses it, through act, offline: three runs on a copy of
examples/survey. The first has no GitHub API (the issue is rendered to issue.md); the next two
talk to a local stand-in for GitHub's REST API that records every request: one issue opened,
then the same one updated."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "monitor"))
# The recording stand-in for GitHub's issues endpoints.
from test_issue import FakeIssues  # type: ignore[import-not-found]

pytestmark = [pytest.mark.act, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "examples" / "survey"
WORKFLOW = REPO_ROOT / ".github" / "workflows" / "monitor.yml"
PINNED = re.compile(r"uses: (actions/[a-z-]+)@([0-9a-f]{40})")
JOB = "monitor/drift, outliers and slices"  # act's name for monitor.yml's job, after the caller's `scheduled`


@pytest.fixture(scope="module")
def github_api() -> Iterator[str]:
    FakeIssues.issues, FakeIssues.requests = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeIssues)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _offline_actions(root: Path) -> list[str]:
    """act arguments resolving monitor.yml's SHA-pinned actions/* to stand-ins that fail if run
    (act loads every action of a job, even one whose ``if`` is false)."""
    args: list[str] = []
    for name, sha in sorted(set(PINNED.findall(WORKFLOW.read_text()))):
        stub = root / name.replace("/", "-")
        stub.mkdir(parents=True, exist_ok=True)
        (stub / "action.yml").write_text(
            f"name: offline stand-in for {name}\ndescription: not available offline\n"
            "runs:\n  using: composite\n  steps:\n"
            f"    - run: echo '{name} is not available offline' && exit 1\n      shell: bash\n"
        )
        args += ["--local-repository", f"{name}@{sha}={stub}"]
    assert len(args) == 4, "expected actions/checkout and actions/upload-artifact in monitor.yml"
    return args


Runs = dict[str, subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def runs(act, github_api: str, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """Three scheduled runs in a row: ``offline`` (no API answers), then ``first`` and ``second``."""
    root = tmp_path_factory.mktemp("monitor-workflow")
    handoff = root / "survey"
    shutil.copytree(EXAMPLE, handoff, ignore=shutil.ignore_patterns("logs", "report"))
    offline = _offline_actions(root / "offline-actions")
    out: Runs = {}
    for name, api in (("offline", ""), ("first", github_api), ("second", github_api)):
        out[name] = act(
            "tests/fixtures/workflows/monitor-workflow.yml",
            event="workflow_dispatch",
            inputs={"handoff": str(handoff), "api": api},
            secrets={"GITHUB_TOKEN": "t0ken"},
            args=offline,
            timeout=600,
        )
    return out


def job_log(run: subprocess.CompletedProcess[str]) -> str:
    prefix = re.compile(rf"^\[scheduled/{re.escape(JOB)}\s*\] ?")
    return "\n".join(prefix.sub("", line) for line in run.stdout.splitlines() if prefix.match(line))


@pytest.mark.parametrize("name", ["offline", "first", "second"])
def test_each_run_fails_on_the_alert_with_the_drift_table_in_the_job_summary(runs: Runs, name: str) -> None:
    run = runs[name]
    log = job_log(run)
    assert run.returncode != 0 and "🏁  Job failed" in log  # an alert fails the job
    assert "Summary - ## mlrelease monitor" in log
    # act prints a summary's first line prefixed, the rest of it unprefixed after it
    assert re.search(
        r"^🚨 \*\*alert\*\*; 2 of 4 columns drifted: age \(alert\), prediction", run.stdout, re.M
    )
    assert re.search(r"^\| age \| 🚨 alert \| 8\.658 \|", run.stdout, re.MULTILINE)
    assert "::error title=monitor%3A age drifted::age: PSI 8.658" in log


@pytest.mark.parametrize("name", ["offline", "first", "second"])
def test_the_html_report_stays_on_the_runner_with_its_path_printed(runs: Runs, name: str) -> None:
    log = job_log(runs[name])
    for f in ("drift.html", "drift.json", "drift.md", "issue.md"):
        assert re.search(rf"monitor report: /\S+/mlrelease-monitor/{f}$", log, re.MULTILINE), f
    assert "is not available offline" not in log  # the upload step was skipped


def test_without_an_api_the_issue_is_rendered_to_issue_md(runs: Runs) -> None:
    log = job_log(runs["offline"])
    assert "no GitHub API answered; the issue is in mlrelease-monitor/issue.md" in log
    assert "::warning title=monitor%3A no issue::cannot reach https://api.github.com" in log


def test_the_alert_opens_one_issue_then_updates_it(runs: Runs) -> None:
    calls = [(method, path.split("?")[0]) for method, path, _, _ in FakeIssues.requests]
    repo = "/repos/mlrelease/mlrelease/issues"
    assert calls == [("GET", repo), ("POST", repo), ("GET", repo), ("PATCH", f"{repo}/1")]
    assert len(FakeIssues.issues) == 1
    issue = FakeIssues.issues[0]
    assert issue["title"] == "Drift alert: age, prediction"
    assert issue["labels"] == ["mlrelease-drift"]
    assert "| age | 🚨 alert |" in issue["body"]
    assert all(auth == "Bearer t0ken" for _, _, _, auth in FakeIssues.requests)
    assert "issue #1 created" in job_log(runs["first"])
    assert "issue #1 updated" in job_log(runs["second"])
    assert "api.github.com" not in job_log(runs["first"])
