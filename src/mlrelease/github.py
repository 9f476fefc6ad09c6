"""GitHub Actions integration: step outputs, job summaries, annotations and masks.

This is the only module that writes workflow commands. Every function is a no-op outside
GitHub Actions (when ``GITHUB_ACTIONS`` is not ``true``), so domain code may call them freely.

Workflow commands (annotations, masks) go to stderr: the runner parses both streams of a step for
them (actions/runner's ScriptHandler hands stdout and stderr each to an OutputManager over the
same command manager, and act does the same), while stdout is kept for data, so that
``mlrelease <command> --json`` prints one JSON document that parses, inside Actions too.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Literal, TextIO

Level = Literal["error", "warning", "notice"]


def in_actions(env: Mapping[str, str] | None = None) -> bool:
    return (env if env is not None else os.environ).get("GITHUB_ACTIONS") == "true"


def escape_data(value: str) -> str:
    """Escape the message part of a workflow command (after the ``::``)."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Escape a property value (``file=...``, ``title=...``) of a workflow command."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def annotation_command(
    level: Level,
    message: str,
    *,
    file: str | None = None,
    line: int | None = None,
    end_line: int | None = None,
    col: int | None = None,
    title: str | None = None,
) -> str:
    props: list[str] = []
    if file:
        props.append(f"file={escape_property(file)}")
    if line is not None:
        props.append(f"line={int(line)}")
    if end_line is not None:
        props.append(f"endLine={int(end_line)}")
    if col is not None:
        props.append(f"col={int(col)}")
    if title:
        props.append(f"title={escape_property(title)}")
    head = f"::{level}"
    if props:
        head += " " + ",".join(props)
    return f"{head}::{escape_data(message)}"


def annotate(
    level: Level,
    message: str,
    *,
    file: str | None = None,
    line: int | None = None,
    end_line: int | None = None,
    col: int | None = None,
    title: str | None = None,
    stream: TextIO | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """Print an ``::error``/``::warning``/``::notice`` annotation on stderr, inside Actions only."""
    if not in_actions(env):
        return
    cmd = annotation_command(level, message, file=file, line=line, end_line=end_line, col=col, title=title)
    out = stream or sys.stderr
    out.write(cmd + "\n")
    out.flush()


def mask(value: str, *, stream: TextIO | None = None, env: Mapping[str, str] | None = None) -> None:
    """Ask the runner to redact ``value`` from every later log line (the command goes to stderr)."""
    if not value or not in_actions(env):
        return
    out = stream or sys.stderr
    for part in value.splitlines() or [value]:
        if part.strip():
            out.write(f"::add-mask::{escape_data(part)}\n")
    out.flush()


def set_output(name: str, value: str, *, env: Mapping[str, str] | None = None) -> None:
    """Append a step output to ``$GITHUB_OUTPUT``; multi-line values use a random delimiter."""
    environ = env if env is not None else os.environ
    path = environ.get("GITHUB_OUTPUT")
    if not in_actions(environ) or not path:
        return
    if "\n" in value or "\r" in value:
        import secrets  # here, not at the top: every command imports this module, few write such a value

        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        while delimiter in value:  # pragma: no cover - 128 random bits
            delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        record = f"{name}<<{delimiter}\n{value}\n{delimiter}\n"
    else:
        record = f"{name}={value}\n"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(record)


def add_summary(markdown: str, *, env: Mapping[str, str] | None = None) -> None:
    """Append Markdown to the job summary (``$GITHUB_STEP_SUMMARY``)."""
    environ = env if env is not None else os.environ
    path = environ.get("GITHUB_STEP_SUMMARY")
    if not in_actions(environ) or not path:
        return
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(markdown.rstrip("\n") + "\n\n")


DEFAULT_API_URL = "https://api.github.com"


class GitHubAPIError(Exception):
    """A GitHub REST API call failed: ``status`` is the HTTP status, 0 when nothing answered."""

    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.status = status


class GitHubClient:
    """The few REST calls mlrelease makes: one comment per pull request (made from the check
    run's artifact, which it downloads), one issue per label.

    Plain ``urllib``. The base URL is ``api_url``, else ``GITHUB_API_URL`` (GitHub Enterprise sets
    it), else api.github.com. The token goes only into the ``Authorization`` header, never into a
    message, and only to URLs under the base URL. Redirects are not followed with it: an
    artifact's archive redirects to storage elsewhere, which is fetched without the token.
    """

    def __init__(
        self,
        token: str,
        *,
        api_url: str | None = None,
        timeout: float = 30,
        env: Mapping[str, str] | None = None,
    ):
        environ = os.environ if env is None else env
        self.api_url = (api_url or environ.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")
        self._token = token
        self.timeout = timeout

    def _open(
        self,
        method: str,
        url: str,
        data: bytes | None = None,
        *,
        token: bool = True,
        shown: str | None = None,
        limit: int | None = None,
    ) -> tuple[int, bytes, Mapping[str, str]]:
        """One request, redirects not followed: (status, body, headers); an HTTP error raises.

        ``shown`` stands for ``url`` in messages (a signed URL is a credential); a body longer
        than ``limit`` bytes is refused.
        """
        shown = shown or url
        import json
        import urllib.error
        import urllib.request

        class _NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: object, **kwargs: object) -> None:
                return None

        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("X-GitHub-Api-Version", "2022-11-28")
        if token:
            request.add_header("Authorization", f"Bearer {self._token}")
        request.add_header("User-Agent", "mlrelease")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=self.timeout) as response:
                payload = response.read() if limit is None else response.read(limit + 1)
                if limit is not None and len(payload) > limit:
                    raise GitHubAPIError(f"{method} {shown}: the answer is larger than {limit} bytes")
                return response.status, payload, dict(response.headers.items())
        except urllib.error.HTTPError as exc:
            if exc.code in (301, 302, 303, 307, 308):
                return exc.code, b"", dict(exc.headers.items())
            try:
                reason = json.loads(exc.read() or b"{}").get("message", "")
            except (ValueError, AttributeError):
                reason = ""
            message = f"{method} {shown}: HTTP {exc.code} {reason or exc.reason}"
            raise GitHubAPIError(message, exc.code) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise GitHubAPIError(f"{method} {shown}: no answer ({reason})") from None

    def call(self, method: str, url: str, body: Mapping[str, object] | None = None) -> tuple[object, str]:
        """One request to ``url`` (under the base URL): the JSON answer and the ``Link`` header."""
        import json

        self._confined(url, "the URL")
        data = json.dumps(body).encode() if body is not None else None
        status, payload, headers = self._open(method, url, data)
        if status >= 300:
            raise GitHubAPIError(f"{method} {url}: HTTP {status}, a redirect where an answer was due", status)
        try:
            return (json.loads(payload) if payload else None), headers.get("Link", "")
        except ValueError:
            raise GitHubAPIError(f"{method} {url}: the answer is not JSON") from None

    def _confined(self, url: str, what: str) -> str:
        if not url.startswith(self.api_url + "/"):
            raise GitHubAPIError(f"{what} {url} is not on {self.api_url}; the token is not sent there")
        return url

    def download_artifact(self, repo: str, run_id: int, name: str, *, limit: int = 512 << 20) -> bytes:
        """The zip archive of workflow run ``run_id``'s artifact ``name`` (not expired), at most
        ``limit`` bytes."""
        import urllib.parse

        query = urllib.parse.urlencode({"name": name, "per_page": "100"})
        url = f"{self.api_url}/repos/{repo}/actions/runs/{run_id}/artifacts?{query}"
        listing, _ = self.call("GET", url)
        artifacts = listing.get("artifacts") if isinstance(listing, dict) else None
        if not isinstance(artifacts, list):
            raise GitHubAPIError(f"GET {url}: expected an object with a list `artifacts`")
        found = [
            a for a in artifacts if isinstance(a, dict) and a.get("name") == name and not a.get("expired")
        ]
        if not found or not isinstance(found[-1].get("archive_download_url"), str):
            raise GitHubAPIError(f"run {run_id} of {repo} has no artifact {name!r} (or it expired)", 404)
        archive = self._confined(str(found[-1]["archive_download_url"]), "the artifact's archive")
        status, payload, headers = self._open("GET", archive, limit=limit)
        if status >= 300:  # GitHub answers 302 to a short-lived storage URL that needs no token
            location = headers.get("Location", "")
            if not location.startswith(("https://", "http://")):
                raise GitHubAPIError(f"GET {archive}: HTTP {status} without a usable Location", status)
            shown = f"the storage URL {archive} redirected to"
            status, payload, _ = self._open("GET", location, token=False, shown=shown, limit=limit)
            if status >= 300:
                raise GitHubAPIError(f"GET {shown}: HTTP {status}, a second redirect", status)
        return payload

    def pull_head_sha(self, repo: str, number: int) -> str:
        """The commit at the head of pull request ``number`` of ``repo`` now."""
        url = f"{self.api_url}/repos/{repo}/pulls/{number}"
        pull, _ = self.call("GET", url)
        head = pull.get("head") if isinstance(pull, dict) else None
        sha = head.get("sha") if isinstance(head, dict) else None
        if not isinstance(sha, str):
            raise GitHubAPIError(f"GET {url}: the answer holds no head.sha")
        return sha

    def find_comment(self, repo: str, number: int, marker: str) -> dict[str, object] | None:
        """The first comment on ``repo``'s issue/PR ``number`` whose body holds ``marker``."""
        url: str | None = f"{self.api_url}/repos/{repo}/issues/{number}/comments?per_page=100"
        while url:
            page, link = self.call("GET", url)
            if not isinstance(page, list):
                raise GitHubAPIError(f"GET {url}: expected a list of comments")
            for comment in page:
                if isinstance(comment, dict) and marker in str(comment.get("body") or ""):
                    return comment
            url = _next_link(link)
        return None

    def upsert_comment(self, repo: str, number: int, body: str, marker: str) -> tuple[str, str | None]:
        """Update the comment holding ``marker`` in place, or create it: ("updated"|"created", url)."""
        found = self.find_comment(repo, number, marker)
        if found is not None:
            url = f"{self.api_url}/repos/{repo}/issues/comments/{found['id']}"
            answer, _ = self.call("PATCH", url, {"body": body})
            action = "updated"
        else:
            url = f"{self.api_url}/repos/{repo}/issues/{number}/comments"
            answer, _ = self.call("POST", url, {"body": body})
            action = "created"
        html_url = answer.get("html_url") if isinstance(answer, dict) else None
        return action, html_url if isinstance(html_url, str) else None

    def upsert_issue(self, repo: str, title: str, body: str, *, label: str) -> tuple[str, int]:
        """Open one issue labelled ``label``, or update the open one: never a duplicate.

        Returns ("created" | "updated", issue number). Three calls at most: list the open issues
        with the label, then PATCH the first or POST a new one.
        """
        import urllib.parse

        base = f"{self.api_url}/repos/{repo}"
        query = urllib.parse.urlencode({"state": "open", "labels": label, "per_page": "100"})
        found, _ = self.call("GET", f"{base}/issues?{query}")
        if not isinstance(found, list):
            raise GitHubAPIError(f"GET {base}/issues: expected a list of issues")
        open_issues = [i for i in found if isinstance(i, dict) and "pull_request" not in i]
        if open_issues:
            number = int(open_issues[0]["number"])
            self.call("PATCH", f"{base}/issues/{number}", {"title": title, "body": body})
            return "updated", number
        created, _ = self.call("POST", f"{base}/issues", {"title": title, "body": body, "labels": [label]})
        if not isinstance(created, dict) or not isinstance(created.get("number"), int):
            raise GitHubAPIError(f"POST {base}/issues: the answer holds no issue number")
        return "created", created["number"]


def _next_link(header: str) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header (GitHub's pagination), or None."""
    for part in header.split(","):
        section = part.split(";")
        url = section[0].strip()
        if any(p.strip() == 'rel="next"' for p in section[1:]) and url.startswith("<") and url.endswith(">"):
            return url[1:-1]
    return None
