"""A GitHub REST API on 127.0.0.1 that keeps comments and run artifacts and records every request.

It speaks the endpoints the sticky comment uses, as GitHub documents them: issue comments (list
with ``per_page`` and a ``Link`` header, create, update) and a workflow run's artifacts (list by
name, and the archive, which answers 302 to a storage URL that must be fetched without the token).
A request to the API without the right bearer token gets 401.
"""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from mlrelease.prcomment import MARKER

TOKEN = "ghs_test0123456789abcdefTOKEN"
REPO = "octo/models"
HEAD = "5f0c6e1d2a3b4c5d6e7f8091a2b3c4d5e6f70812"  # every pull request's head commit, unless set


@dataclass
class FakeGitHub:
    url: str = ""
    repo: str = REPO
    comments: dict[int, list[dict]] = field(default_factory=dict)  # issue -> comments
    artifacts: dict[int, dict[str, bytes]] = field(default_factory=dict)  # run id -> name -> zip
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, auth
    next_id: int = 1000
    foreign_next: str | None = None  # a Link rel="next" URL to hand out instead of our own
    heads: dict[int, str] = field(default_factory=dict)  # pull request -> its head commit

    def add(self, issue: int, body: str, login: str = "someone") -> dict:
        self.next_id += 1
        comment = {
            "id": self.next_id,
            "body": body,
            "user": {"login": login},
            "html_url": f"https://github.com/{self.repo}/pull/{issue}#issuecomment-{self.next_id}",
        }
        self.comments.setdefault(issue, []).append(comment)
        return comment

    def ours(self, issue: int) -> list[dict]:
        return [c for c in self.comments.get(issue, []) if MARKER in c["body"]]

    def add_artifact(self, run_id: int, name: str, files: Mapping[str, bytes | str]) -> None:
        """Store an artifact of run ``run_id`` holding ``files`` (path inside the zip -> content)."""
        self.artifacts.setdefault(run_id, {})[name] = artifact_zip(files)

    def _artifact_ids(self) -> dict[int, tuple[int, str]]:
        ids = {}
        for run_id, named in sorted(self.artifacts.items()):
            for index, name in enumerate(sorted(named)):
                ids[run_id * 100 + index] = (run_id, name)
        return ids


def artifact_files(reports: Path, pr: str) -> dict[str, bytes | str]:
    """The artifact pr-check.yml uploads (mlrelease-pr-comment), from a fixture's gate and lock."""
    return {
        "mlrelease-evaluate/mlrelease-gate/gate.json": (reports / "gate.json").read_bytes(),
        "mlrelease-deps/mlrelease-lock.json": (reports / "lock.json").read_bytes(),
        "mlrelease-evaluate/mlrelease-evaluate/metrics.json": "{}",
        "mlrelease-comment/comment.md": "ignored: the comment is rendered again from the reports",
        "mlrelease-comment/pr-number": pr,
    }


def artifact_zip(files: Mapping[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _handler(state: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            content_type = "application/zip" if isinstance(payload, bytes) else "application/json"
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _route(self, method: str) -> None:
            auth = self.headers.get("Authorization")
            state.requests.append((method, self.path, auth))
            url = urlsplit(self.path)
            parts = url.path.strip("/").split("/")
            # /storage/{artifact id}: the signed storage URL the archive redirects to (no token)
            if len(parts) == 2 and parts[0] == "storage" and method == "GET" and parts[1].isdigit():
                found = state._artifact_ids().get(int(parts[1]))
                if found is None or parse_qs(url.query).get("sig") != ["signed"]:
                    return self._send(403, {"message": "AuthenticationFailed"})
                run_id, name = found
                return self._send(200, state.artifacts[run_id][name])
            if auth != f"Bearer {TOKEN}":
                return self._send(401, {"message": "Bad credentials"})
            if parts[:3] != ["repos", *state.repo.split("/")]:
                return self._send(404, {"message": "Not Found"})
            body = None
            if method in ("POST", "PATCH"):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            rest = parts[3:]
            # /repos/{owner}/{repo}/actions/runs/{run_id}/artifacts
            if (
                rest[:2] == ["actions", "runs"]
                and len(rest) == 4
                and rest[3] == "artifacts"
                and method == "GET"
            ):
                run_id = int(rest[2])
                wanted = parse_qs(url.query).get("name", [None])[0]
                api = f"{state.url}/repos/{state.repo}"
                listed = [
                    {
                        "id": artifact_id,
                        "name": name,
                        "size_in_bytes": len(state.artifacts[run][name]),
                        "expired": False,
                        "archive_download_url": f"{api}/actions/artifacts/{artifact_id}/zip",
                    }
                    for artifact_id, (run, name) in state._artifact_ids().items()
                    if run == run_id and wanted in (None, name)
                ]
                return self._send(200, {"total_count": len(listed), "artifacts": listed})
            # /repos/{owner}/{repo}/actions/artifacts/{id}/zip
            if (
                rest[:2] == ["actions", "artifacts"]
                and len(rest) == 4
                and rest[3] == "zip"
                and method == "GET"
            ):
                if int(rest[2]) not in state._artifact_ids():
                    return self._send(404, {"message": "Not Found"})
                location = f"{state.url}/storage/{rest[2]}?sig=signed"
                return self._send(302, {}, {"Location": location})
            # /repos/{owner}/{repo}/pulls/{n}: a pull request's head commit
            if rest[:1] == ["pulls"] and len(rest) == 2 and rest[1].isdigit() and method == "GET":
                number = int(rest[1])
                return self._send(200, {"number": number, "head": {"sha": state.heads.get(number, HEAD)}})
            # /repos/{owner}/{repo}/issues/{n}/comments
            if rest[:1] == ["issues"] and len(rest) == 3 and rest[1].isdigit() and rest[2] == "comments":
                issue = int(rest[1])
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
            if rest[:2] == ["issues", "comments"] and len(rest) == 3 and method == "PATCH":
                for comments in state.comments.values():
                    for comment in comments:
                        if comment["id"] == int(rest[2]):
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


@contextmanager
def serve() -> Iterator[FakeGitHub]:
    """Run a FakeGitHub on a free port of 127.0.0.1 until the block ends."""
    state = FakeGitHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
