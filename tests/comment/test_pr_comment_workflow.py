"""pr-comment.yml through act, started by `workflow_run` as GitHub starts it after a PR check.

The workflow downloads the check run's artifact and posts the comment through the REST API of
tests/comment/fake_github.py on 127.0.0.1 (its `api-url` input, set by the caller
tests/fixtures/workflows/pr-comment-run.yml from a variable). Two runs, as two pushes to one pull
request: the first (a blocked check) creates the comment, the second (a passing one) updates it.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fake_github import HEAD, TOKEN, FakeGitHub, artifact_files, serve

pytestmark = [pytest.mark.act, pytest.mark.slow]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pr-comment"
WORKFLOW = "tests/fixtures/workflows/pr-comment-run.yml"
REPO = "mlrelease/mlrelease"  # act's GITHUB_REPOSITORY: the caller repository's origin
PR = 12


@dataclass
class Runs:
    api: FakeGitHub
    first: subprocess.CompletedProcess[str]
    second: subprocess.CompletedProcess[str]
    after_first: list[tuple[str, str, str | None]]
    first_body: str


def _event(path: Path, run_id: int) -> Path:
    path.write_text(
        json.dumps(
            {
                "action": "completed",
                "workflow_run": {
                    "id": run_id,
                    "name": "pr",
                    "event": "pull_request",
                    "conclusion": "failure",
                    "head_sha": HEAD,
                    "html_url": f"https://github.com/{REPO}/actions/runs/{run_id}",
                },
                "repository": {
                    "full_name": REPO,
                    "name": REPO.split("/")[1],
                    "owner": {"login": "mlrelease"},
                },
            }
        )
    )
    return path


@pytest.fixture(scope="module")
def runs(act, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    root = tmp_path_factory.mktemp("pr-comment")
    with serve() as api:
        api.repo = REPO
        api.add_artifact(501, "mlrelease-pr-comment", artifact_files(FIXTURES / "blocked", f"{PR}\n"))
        api.add_artifact(502, "mlrelease-pr-comment", artifact_files(FIXTURES / "passed", f"{PR}\n"))
        api.add(PR, "a reviewer's remark")

        def run(run_id: int) -> subprocess.CompletedProcess[str]:
            return act(
                WORKFLOW,
                event="workflow_run",
                secrets={"GITHUB_TOKEN": TOKEN},
                args=["--eventpath", str(_event(root / f"event-{run_id}.json", run_id)),
                      "--var", f"MLRELEASE_API_URL={api.url}"],
                timeout=900,
            )  # fmt: skip

        first = run(501)
        after_first = list(api.requests)
        first_body = api.ours(PR)[0]["body"] if api.ours(PR) else ""
        second = run(502)
        yield Runs(api, first, second, after_first, first_body)


def test_the_first_run_creates_one_comment_saying_blocked_with_the_table(runs):
    assert runs.first.returncode == 0, "the comment job failed; act's output is printed above"
    assert [m for m, _, _ in runs.after_first].count("POST") == 1
    assert [m for m, _, _ in runs.after_first].count("PATCH") == 0
    assert "## ❌ mlrelease: BLOCKED" in runs.first_body
    assert (
        "| metric | slice | baseline | candidate | change | interval of change | rule | verdict |"
        in runs.first_body
    )
    assert f"[job summary](https://github.com/{REPO}/actions/runs/501)" in runs.first_body


def test_the_second_run_updates_the_same_comment_and_never_posts_again(runs):
    assert runs.second.returncode == 0, "the comment job failed; act's output is printed above"
    ours = runs.api.ours(PR)
    assert len(ours) == 1
    assert len(runs.api.comments[PR]) == 2  # the reviewer's remark and ours
    assert "## ✅ mlrelease: PASSED" in ours[0]["body"]
    later = runs.api.requests[len(runs.after_first) :]
    calls = [(m, p.split("?")[0]) for m, p, _ in later]
    assert calls == [
        ("GET", f"/repos/{REPO}/actions/runs/502/artifacts"),
        ("GET", f"/repos/{REPO}/actions/artifacts/50200/zip"),
        ("GET", "/storage/50200"),
        ("GET", f"/repos/{REPO}/pulls/{PR}"),  # its head is the commit the run checked
        ("GET", f"/repos/{REPO}/issues/{PR}/comments"),
        ("PATCH", f"/repos/{REPO}/issues/comments/{ours[0]['id']}"),
    ]


def test_the_token_reaches_only_the_api_and_never_the_log(runs):
    for method, path, auth in runs.api.requests:
        expected = None if path.startswith("/storage/") else f"Bearer {TOKEN}"
        assert auth == expected, (method, path)
    assert TOKEN not in runs.first.stdout + runs.second.stdout


def test_the_comment_workflow_checks_out_nothing_and_runs_only_our_actions():
    """Fork safety as pr-comment.yml's header states it: no checkout, no third-party action."""
    import yaml

    workflow = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / ".github/workflows/pr-comment.yml").read_text()
    )
    uses = [s["uses"] for job in workflow["jobs"].values() for s in job["steps"] if "uses" in s]
    assert uses == ["mlrelease/mlrelease/actions/setup@main"]
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert list(triggers) == ["workflow_call"]  # started only through a caller's workflow_run
