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
import secrets
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
