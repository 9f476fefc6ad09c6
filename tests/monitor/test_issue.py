"""The drift issue: opened once, then updated, never duplicated; over real HTTP."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from mlrelease import github
from mlrelease.cli import cli


class FakeIssues(BaseHTTPRequestHandler):
    """A recording stand-in for GitHub's REST issues endpoints (list, create, update)."""

    issues: ClassVar[list[dict]] = []
    requests: ClassVar[list[tuple[str, str, dict | None, str]]] = []

    def _reply(self, status: int, data: object) -> None:
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _body(self) -> dict | None:
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n)) if n else None

    def _record(self, body: dict | None) -> None:
        self.requests.append((self.command, self.path, body, self.headers.get("Authorization", "")))

    def do_GET(self) -> None:
        self._record(None)
        if "labels=mlrelease-drift" in self.path and "state=open" in self.path:
            self._reply(200, [i for i in self.issues if i["state"] == "open"])
        else:
            self._reply(404, {"message": "Not Found"})

    def do_POST(self) -> None:
        body = self._body()
        self._record(body)
        issue = {"number": len(self.issues) + 1, "state": "open", **(body or {})}
        self.issues.append(issue)
        self._reply(201, issue)

    def do_PATCH(self) -> None:
        body = self._body()
        self._record(body)
        number = int(self.path.rsplit("/", 1)[1])
        self.issues[number - 1].update(body or {})
        self._reply(200, self.issues[number - 1])

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api() -> str:
    FakeIssues.issues, FakeIssues.requests = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeIssues)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_upsert_creates_once_then_updates(api: str) -> None:
    client = github.GitHubClient("t0ken", env={"GITHUB_API_URL": api})  # the base URL as Actions sets it
    assert client.upsert_issue("o/r", "Drift alert: age", "first", label="mlrelease-drift") == ("created", 1)
    assert client.upsert_issue("o/r", "Drift alert: age, income", "second", label="mlrelease-drift") == (
        "updated",
        1,
    )
    assert len(FakeIssues.issues) == 1 and FakeIssues.issues[0]["body"] == "second"
    methods = [(m, p.split("?")[0]) for m, p, _, _ in FakeIssues.requests]
    assert methods == [
        ("GET", "/repos/o/r/issues"),
        ("POST", "/repos/o/r/issues"),
        ("GET", "/repos/o/r/issues"),
        ("PATCH", "/repos/o/r/issues/1"),
    ]
    assert FakeIssues.requests[1][2] == {
        "title": "Drift alert: age",
        "body": "first",
        "labels": ["mlrelease-drift"],
    }
    assert all(auth == "Bearer t0ken" for *_, auth in FakeIssues.requests)


def test_an_api_error_names_the_status(api: str) -> None:
    client = github.GitHubClient("x", api_url=api + "/nope")
    with pytest.raises(github.GitHubAPIError, match="HTTP 404") as exc:
        client.upsert_issue("o/r", "t", "b", label="other")
    assert exc.value.status == 404


def test_the_client_never_sends_the_token_off_its_base_url(api: str) -> None:
    client = github.GitHubClient("t0ken", api_url=api + "/api/v3")
    with pytest.raises(github.GitHubAPIError, match="the token is not sent there"):
        client.call("GET", api + "/repos/o/r/issues")
    assert FakeIssues.requests == []


def test_monitor_opens_the_issue_on_alert_with_the_summary_and_the_run(
    api: str, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    pd.DataFrame({"age": rng.integers(18, 31, 2000)}).to_csv("a.csv", index=False)
    pd.DataFrame({"age": rng.integers(60, 86, 500)}).to_csv("b.csv", index=False)
    for key, value in {
        "GITHUB_TOKEN": "t0ken",
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_API_URL": api,
        "GITHUB_RUN_ID": "42",
        "GITHUB_SERVER_URL": "https://github.example",
    }.items():
        monkeypatch.setenv(key, value)
    args = ["monitor", "--reference", "a.csv", "--current", "b.csv", "--issue-label", "mlrelease-drift"]
    for _ in range(2):
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 1
    assert len(FakeIssues.issues) == 1
    issue = FakeIssues.issues[0]
    assert issue["title"] == "Drift alert: age"
    assert "| age | 🚨 alert |" in issue["body"]
    assert issue["body"].rstrip().endswith("Run: https://github.example/o/r/actions/runs/42")
    # no alert, no issue traffic
    FakeIssues.requests.clear()
    res = CliRunner().invoke(
        cli, ["monitor", "--reference", "a.csv", "--current", "a.csv", "--issue-label", "x"]
    )
    assert res.exit_code == 0 and FakeIssues.requests == []


def test_without_an_answering_api_the_issue_is_written_to_issue_md(tmp_path: Path, monkeypatch) -> None:
    """A runner without network: the alert still exits 1, and the issue waits in issue.md."""
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    pd.DataFrame({"age": rng.integers(18, 31, 2000)}).to_csv("a.csv", index=False)
    pd.DataFrame({"age": rng.integers(60, 86, 500)}).to_csv("b.csv", index=False)
    env = {
        "GITHUB_TOKEN": "t0ken",
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_API_URL": f"http://127.0.0.1:{closed}",
    }
    args = ["monitor", "--reference", "a.csv", "--current", "b.csv", "--issue-label", "drift", "-o", "out"]
    res = CliRunner().invoke(cli, args, env=env)
    assert res.exit_code == 1, res.output
    assert "no GitHub API answered; the issue is in out/issue.md" in res.output
    text = (tmp_path / "out" / "issue.md").read_text()
    assert text.startswith("<!-- title: Drift alert: age -->\n")
    assert "| age | 🚨 alert |" in text
