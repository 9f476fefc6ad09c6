"""Posting the sticky comment to a GitHub REST API on 127.0.0.1 that keeps comments and records calls.

The server speaks the issue-comments endpoints as GitHub documents them (list with ``per_page`` and a
``Link`` header, create, update) and refuses a request without the right bearer token.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from mlrelease.prcomment import MARKER

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pr-comment"
TOKEN = "ghs_test0123456789abcdefTOKEN"
REPO = "octo/models"


@dataclass
class FakeGitHub:
    url: str = ""
    comments: dict[int, list[dict]] = field(default_factory=dict)  # issue -> comments
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, auth
    next_id: int = 1000
    foreign_next: str | None = None  # a Link rel="next" URL to hand out instead of our own

    def add(self, issue: int, body: str, login: str = "someone") -> dict:
        self.next_id += 1
        comment = {
            "id": self.next_id,
            "body": body,
            "user": {"login": login},
            "html_url": f"https://github.com/{REPO}/pull/{issue}#issuecomment-{self.next_id}",
        }
        self.comments.setdefault(issue, []).append(comment)
        return comment

    def ours(self, issue: int) -> list[dict]:
        return [c for c in self.comments.get(issue, []) if MARKER in c["body"]]


def _handler(state: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _route(self, method: str) -> None:
            auth = self.headers.get("Authorization")
            state.requests.append((method, self.path, auth))
            if auth != f"Bearer {TOKEN}":
                return self._send(401, {"message": "Bad credentials"})
            url = urlsplit(self.path)
            parts = url.path.strip("/").split("/")
            body = None
            if method in ("POST", "PATCH"):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            # /repos/{owner}/{repo}/issues/{n}/comments
            if parts[:4] == ["repos", *REPO.split("/"), "issues"] and len(parts) == 6 and parts[4].isdigit():
                issue = int(parts[4])
                if method == "GET":
                    query = parse_qs(url.query)
                    per_page = int(query.get("per_page", ["30"])[0])
                    page = int(query.get("page", ["1"])[0])
                    items = state.comments.get(issue, [])
                    chunk = items[(page - 1) * per_page : page * per_page]
                    headers = {}
                    if page * per_page < len(items):
                        nxt = (
                            state.foreign_next or f"{state.url}{url.path}?per_page={per_page}&page={page + 1}"
                        )
                        headers["Link"] = f'<{nxt}>; rel="next", <{state.url}{url.path}?page=1>; rel="first"'
                    return self._send(200, chunk, headers)
                if method == "POST":
                    return self._send(201, state.add(issue, body["body"], login="github-actions[bot]"))
            # /repos/{owner}/{repo}/issues/comments/{id}
            if len(parts) == 6 and parts[3:5] == ["issues", "comments"] and method == "PATCH":
                for comments in state.comments.values():
                    for comment in comments:
                        if comment["id"] == int(parts[5]):
                            comment["body"] = body["body"]
                            return self._send(200, comment)
            return self._send(404, {"message": "Not Found"})

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def do_PATCH(self) -> None:
            self._route("PATCH")

    return Handler


@pytest.fixture
def github_api() -> Iterator[FakeGitHub]:
    state = FakeGitHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def comment(
    api_url: str, out: Path, *args: str, token: str | None = TOKEN
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
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


def test_the_pr_comment_workflow_posts_once_and_updates_on_the_next_run(github_api, tmp_path):
    """The posting step of .github/workflows/pr-comment.yml, run by bash on the artifact's layout."""
    import shutil

    import yaml

    workflow = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / ".github/workflows/pr-comment.yml").read_text()
    )
    step = next(s for s in workflow["jobs"]["comment"]["steps"] if s.get("name") == "post the comment")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env |= {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": github_api.url, "GITHUB_REPOSITORY": REPO}
    env |= {"RUN_URL": f"https://github.com/{REPO}/actions/runs/42"}

    def post(reports: Path, pr: str) -> subprocess.CompletedProcess[str]:
        work = tmp_path / f"run-{len(github_api.requests)}"
        artifact = work / "mlrelease-reports"
        (artifact / "mlrelease-comment").mkdir(parents=True)
        (artifact / "mlrelease-evaluate" / "mlrelease-gate").mkdir(parents=True)
        shutil.copy2(reports / "gate.json", artifact / "mlrelease-evaluate" / "mlrelease-gate" / "gate.json")
        (artifact / "mlrelease-deps").mkdir()
        shutil.copy2(reports / "lock.json", artifact / "mlrelease-deps" / "mlrelease-lock.json")
        (artifact / "mlrelease-comment" / "pr-number").write_text(pr)
        runner_temp = work / "runner-temp"
        runner_temp.mkdir()
        return subprocess.run(
            ["bash", "-c", step["run"]],
            cwd=work,
            env={**env, "RUNNER_TEMP": str(runner_temp)},
            capture_output=True,
            text=True,
            check=False,
        )

    first = post(FIXTURES / "blocked", "12\n")
    assert first.returncode == 0, first.stderr
    second = post(FIXTURES / "passed", "12\n")
    assert second.returncode == 0, second.stderr

    ours = github_api.ours(12)
    assert len(ours) == 1
    assert "mlrelease: PASSED" in ours[0]["body"]
    assert "[job summary](https://github.com/octo/models/actions/runs/42)" in ours[0]["body"]
    assert [m for m, _, _ in github_api.requests] == ["GET", "POST", "GET", "PATCH"]

    forged = post(FIXTURES / "blocked", "12; curl evil\n")
    assert forged.returncode == 2
    assert "the artifact's PR number is not a number" in forged.stdout
