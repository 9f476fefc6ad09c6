"""Posting the sticky comment to a GitHub REST API on 127.0.0.1 that keeps comments and records calls.

The server (fake_github.py, fixture ``github_api``) speaks the issue-comments and run-artifacts
endpoints as GitHub documents them and refuses a request without the right bearer token.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_github import HEAD, REPO, TOKEN, artifact_files

from mlrelease.prcomment import MARKER

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pr-comment"


def comment(
    api_url: str, out: Path, *args: str, token: str | None = TOKEN
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env["MLRELEASE_HEAD_SHA"] = HEAD  # what pr-comment.yml passes: the commit the run checked
    if token is not None:
        env["GITHUB_TOKEN"] = token
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mlrelease",
            "comment",
            "-o",
            str(out),
            "--repo",
            REPO,
            "--api-url",
            api_url,
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_a_second_run_updates_the_comment_found_on_a_later_page(github_api, tmp_path):
    for i in range(120):  # a busy PR: our comment will land on the second page of 100
        github_api.add(7, f"review remark {i}")

    first = comment(github_api.url, tmp_path / "one", "--pr", "7", "--gate", str(FIXTURES / "passed"))
    assert first.returncode == 0, first.stderr
    assert "created the comment on octo/models#7" in first.stderr
    assert [c["body"] for c in github_api.ours(7)] == [(tmp_path / "one" / "comment.md").read_text()]
    created_id = github_api.ours(7)[0]["id"]

    github_api.requests.clear()
    second = comment(github_api.url, tmp_path / "two", "--pr", "7", "--gate", str(FIXTURES / "blocked"))
    assert second.returncode == 0, second.stderr
    assert "updated the comment on octo/models#7" in second.stderr

    ours = github_api.ours(7)
    assert len(ours) == 1 and ours[0]["id"] == created_id
    assert "mlrelease: BLOCKED" in ours[0]["body"]
    assert len(github_api.comments[7]) == 121
    assert [(m, p.split("?")[0]) for m, p, _ in github_api.requests] == [
        ("GET", "/repos/octo/models/issues/7/comments"),
        ("GET", "/repos/octo/models/issues/7/comments"),
        ("PATCH", f"/repos/octo/models/issues/comments/{created_id}"),
    ]
    assert "page=2" in github_api.requests[1][1]
    assert {auth for _, _, auth in github_api.requests} == {f"Bearer {TOKEN}"}


def test_without_a_pr_number_the_body_is_only_written(github_api, tmp_path):
    result = comment(github_api.url, tmp_path / "c", "--gate", str(FIXTURES / "blocked"), token=None)

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "c" / "comment.md").read_text().startswith(MARKER)
    assert github_api.requests == []


def test_a_rejected_token_fails_with_the_reason_and_never_prints_the_token(github_api, tmp_path):
    bad = "ghs_wrongTOKENvalue42"
    result = comment(
        github_api.url, tmp_path / "c", "--pr", "7", "--gate", str(FIXTURES / "passed"), token=bad
    )

    assert result.returncode == 2
    assert "HTTP 401 Bad credentials" in result.stderr
    assert "pull-requests: write" in result.stderr
    assert bad not in result.stdout + result.stderr
    assert github_api.requests[0][2] == f"Bearer {bad}"
    assert (tmp_path / "c" / "comment.md").is_file()


def test_the_token_is_masked_inside_actions(github_api, tmp_path):
    env_actions = {"GITHUB_ACTIONS": "true"}
    result = subprocess.run(
        [sys.executable, "-m", "mlrelease", "comment", "-o", str(tmp_path / "c"), "--repo", REPO,
         "--api-url", github_api.url, "--pr", "3", "--gate", str(FIXTURES / "passed")],
        capture_output=True, text=True, check=False,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}, **env_actions,
             "GITHUB_TOKEN": TOKEN},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"::add-mask::{TOKEN}" in result.stderr  # workflow commands go to stderr (stdout is data)
    assert TOKEN not in result.stdout + result.stderr.replace(f"::add-mask::{TOKEN}", "")


def test_a_next_page_on_another_host_is_not_sent_the_token(github_api, tmp_path):
    for i in range(101):
        github_api.add(9, f"remark {i}")
    github_api.foreign_next = "http://127.0.0.2:9/steal?page=2"

    result = comment(github_api.url, tmp_path / "c", "--pr", "9", "--gate", str(FIXTURES / "passed"))

    assert result.returncode == 3
    assert "is not on" in result.stderr and "the token is not sent there" in result.stderr
    assert github_api.ours(9) == []


def test_an_unreachable_api_exits_3_and_keeps_the_body(tmp_path):
    result = comment("http://127.0.0.1:9", tmp_path / "c", "--pr", "7", "--gate", str(FIXTURES / "passed"))

    assert result.returncode == 3
    assert "no answer" in result.stderr
    assert (tmp_path / "c" / "comment.md").is_file()


def test_a_pr_without_a_token_is_refused(tmp_path):
    result = comment(
        "http://127.0.0.1:9", tmp_path / "c", "--pr", "7", "--gate", str(FIXTURES / "passed"), token=""
    )
    assert result.returncode == 2
    assert "GITHUB_TOKEN is empty" in result.stderr


def test_from_run_downloads_the_artifact_then_creates_and_updates_one_comment(github_api, tmp_path):
    github_api.add_artifact(41, "mlrelease-pr-comment", artifact_files(FIXTURES / "blocked", "12\n"))
    github_api.add_artifact(42, "mlrelease-pr-comment", artifact_files(FIXTURES / "passed", "12\n"))
    github_api.add_artifact(42, "other", {"x": "y"})

    first = comment(github_api.url, tmp_path / "one", "--from-run", "41")
    assert first.returncode == 0, first.stderr
    assert "created the comment on octo/models#12" in first.stderr
    assert "mlrelease: BLOCKED" in github_api.ours(12)[0]["body"]
    second = comment(github_api.url, tmp_path / "two", "--from-run", "42")
    assert second.returncode == 0, second.stderr

    ours = github_api.ours(12)
    assert len(ours) == 1 and "mlrelease: PASSED" in ours[0]["body"]
    calls = [(m, p.split("?")[0], auth) for m, p, auth in github_api.requests]
    bearer = f"Bearer {TOKEN}"
    assert calls == [
        ("GET", "/repos/octo/models/actions/runs/41/artifacts", bearer),
        ("GET", "/repos/octo/models/actions/artifacts/4100/zip", bearer),
        ("GET", "/storage/4100", None),  # the storage URL never gets the token
        ("GET", "/repos/octo/models/pulls/12", bearer),  # its head is the commit the run checked
        ("GET", "/repos/octo/models/issues/12/comments", bearer),
        ("POST", "/repos/octo/models/issues/12/comments", bearer),
        ("GET", "/repos/octo/models/actions/runs/42/artifacts", bearer),
        ("GET", "/repos/octo/models/actions/artifacts/4200/zip", bearer),
        ("GET", "/storage/4200", None),
        ("GET", "/repos/octo/models/pulls/12", bearer),
        ("GET", "/repos/octo/models/issues/12/comments", bearer),
        ("PATCH", f"/repos/octo/models/issues/comments/{ours[0]['id']}", bearer),
    ]
    assert "name=mlrelease-pr-comment" in github_api.requests[0][1]
    # only the known reports were taken out of the archive
    unpacked = sorted(
        str(p.relative_to(tmp_path / "two" / "reports")) for p in (tmp_path / "two").rglob("*.json")
    )
    assert unpacked == ["mlrelease-deps/mlrelease-lock.json", "mlrelease-evaluate/mlrelease-gate/gate.json"]


def test_from_run_posts_nothing_when_the_artifact_names_a_pull_request_the_run_did_not_check(
    github_api, tmp_path
):
    """A fork's check writes its own artifact: naming someone else's PR must not put a comment there."""
    github_api.add_artifact(43, "mlrelease-pr-comment", artifact_files(FIXTURES / "passed", "13\n"))
    github_api.heads[13] = "0123456789abcdef0123456789abcdef01234567"

    result = comment(github_api.url, tmp_path / "c", "--from-run", "43")

    assert result.returncode == 2, result.stderr
    assert (
        "names octo/models#13, whose head is 0123456789ab, but the run checked 5f0c6e1d2a3b" in result.stderr
    )
    assert "Nothing was posted" in result.stderr and "Traceback" not in result.stderr
    assert github_api.comments.get(13, []) == []
    assert [m for m, _, _ in github_api.requests if m in ("POST", "PATCH")] == []


def test_from_run_without_the_head_commit_is_refused_before_any_request(github_api, tmp_path):
    github_api.add_artifact(44, "mlrelease-pr-comment", artifact_files(FIXTURES / "passed", "12\n"))
    result = comment(github_api.url, tmp_path / "c", "--from-run", "44", "--head-sha", "")
    assert result.returncode == 2 and "--from-run needs --head-sha" in result.stderr
    assert github_api.requests == []


@pytest.mark.parametrize(
    ("pr", "extra", "message"),
    [
        ("12; curl evil\n", {}, "the artifact's PR number is not a number"),
        ("", {}, "the artifact's PR number is not a number"),
        ("0", {}, "the artifact's PR number is not a number"),
        ("12", {"mlrelease-lint/mlrelease-lint.json": "x" * (16 * 1024 * 1024 + 1)}, "is larger than"),
    ],
)
def test_from_run_refuses_an_artifact_that_is_not_data_it_expects(github_api, tmp_path, pr, extra, message):
    github_api.add_artifact(7, "mlrelease-pr-comment", {**artifact_files(FIXTURES / "blocked", pr), **extra})

    result = comment(github_api.url, tmp_path / "c", "--from-run", "7")

    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert [m for m, _, _ in github_api.requests if m != "GET"] == []  # nothing was posted


def test_from_run_refuses_a_symbolic_link_in_the_artifact(github_api, tmp_path):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in artifact_files(FIXTURES / "blocked", "12").items():
            if name != "mlrelease-deps/mlrelease-lock.json":
                archive.writestr(name, content)
        link = zipfile.ZipInfo("mlrelease-deps/mlrelease-lock.json")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
    github_api.artifacts[8] = {"mlrelease-pr-comment": buffer.getvalue()}

    result = comment(github_api.url, tmp_path / "c", "--from-run", "8")

    assert result.returncode == 2
    assert "mlrelease-deps/mlrelease-lock.json is a symbolic link; refused" in result.stderr
    assert github_api.ours(12) == []


def test_from_run_without_the_artifact_names_it(github_api, tmp_path):
    result = comment(github_api.url, tmp_path / "c", "--from-run", "99")

    assert result.returncode == 2
    assert "run 99 of octo/models has no artifact 'mlrelease-pr-comment'" in result.stderr
    assert "actions: read" in result.stderr


def test_an_archive_url_off_the_api_is_not_sent_the_token(github_api, tmp_path):
    """A listing that points the archive elsewhere (a compromised or confused API) gets no token."""
    github_api.add_artifact(5, "mlrelease-pr-comment", artifact_files(FIXTURES / "blocked", "12"))
    github_api.url, real = "http://127.0.0.2:9", github_api.url  # the listing now names another host

    result = comment(real, tmp_path / "c", "--from-run", "5")

    assert result.returncode == 3  # as for a next page elsewhere: the API cannot be used
    assert "is not on" in result.stderr and "the token is not sent there" in result.stderr
    assert [p.split("?")[0] for _, p, _ in github_api.requests] == [
        "/repos/octo/models/actions/runs/5/artifacts"
    ]


def test_the_pr_comment_workflow_posts_once_and_updates_on_the_next_run(github_api, tmp_path):
    """The posting step of .github/workflows/pr-comment.yml, run by bash as the runner runs it."""
    import yaml

    workflow = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / ".github/workflows/pr-comment.yml").read_text()
    )
    step = next(s for s in workflow["jobs"]["comment"]["steps"] if s.get("name") == "post the comment")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env |= {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": github_api.url, "GITHUB_REPOSITORY": REPO}
    env |= {"RUN_URL": f"https://github.com/{REPO}/actions/runs/42", "UNTRUSTED_API_URL": ""}
    env |= {"MLRELEASE_HEAD_SHA": HEAD}
    github_api.add_artifact(41, "mlrelease-pr-comment", artifact_files(FIXTURES / "blocked", "12\n"))
    github_api.add_artifact(42, "mlrelease-pr-comment", artifact_files(FIXTURES / "passed", "12\n"))

    def post(run_id: int) -> subprocess.CompletedProcess[str]:
        runner_temp = tmp_path / f"run-{run_id}"
        runner_temp.mkdir()
        return subprocess.run(
            ["bash", "-c", step["run"]],
            cwd=tmp_path,
            env={**env, "RUNNER_TEMP": str(runner_temp), "RUN_ID": str(run_id)},
            capture_output=True,
            text=True,
            check=False,
        )

    first = post(41)
    assert first.returncode == 0, first.stderr
    second = post(42)
    assert second.returncode == 0, second.stderr

    ours = github_api.ours(12)
    assert len(ours) == 1
    assert "mlrelease: PASSED" in ours[0]["body"]
    assert "[job summary](https://github.com/octo/models/actions/runs/42)" in ours[0]["body"]
    assert [m for m, _, _ in github_api.requests].count("POST") == 1
    assert [m for m, _, _ in github_api.requests].count("PATCH") == 1
