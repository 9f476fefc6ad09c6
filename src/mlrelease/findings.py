"""The findings contract: what every check reports, how bad it is, and how it leaves the CLI.

A check (lint, deps, gate, ...) turns what it found into ``Finding`` objects: a stable rule id, a
``Severity``, a ``Location`` (file, line, notebook cell, config key), a message, a hint that says
how to fix it, and rule-specific ``data``. One policy decides whether they fail the run
(``fails(findings, fail_on)``), and one error leaves the CLI with exit 1
(``raise_if_failed`` raises ``errors.FindingsFailed``, which ``cli.main`` maps like every other
error). One set of renderers turns findings into a terminal table, JSON, job-summary Markdown,
annotations (through ``mlrelease.github``) and SARIF 2.1.0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

from mlrelease import __version__, github
from mlrelease.errors import FindingsFailed

Severity = Literal["error", "warning", "info"]
FailOn = Literal["error", "warning", "info", "never"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
RANK: dict[str, int] = {"info": 0, "warning": 1, "error": 2}

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
ANNOTATION_LEVEL: dict[str, github.Level] = {"error": "error", "warning": "warning", "info": "notice"}
STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


@dataclass(frozen=True)
class Location:
    """Where a finding is. ``line`` counts inside ``cell`` when a notebook cell is named (as
    Jupyter shows it); ``file_line`` is then the line in the file itself, for annotations."""

    file: str | None = None
    line: int | None = None
    cell: int | None = None
    key: str | None = None
    file_line: int | None = None

    def render(self) -> str:
        where = self.file or ""
        if self.cell is not None:
            where += f":cell {self.cell}"
        if self.line is not None:
            where += f":{self.line}"
        if self.key:
            where += f" {self.key}" if where else self.key
        return where

    @property
    def annotation_line(self) -> int | None:
        return (
            self.file_line if self.file_line is not None else (None if self.cell is not None else self.line)
        )


@dataclass(frozen=True)
class Finding:
    """One problem a check found. ``name`` is the rule's readable name when its id is a code."""

    rule: str
    severity: Severity
    message: str
    location: Location = field(default_factory=Location)
    hint: str | None = None
    name: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.rule} {self.name}" if self.name else self.rule

    def to_json(self) -> dict[str, Any]:
        """The finding as one flat JSON object (the ``findings`` items of lint.json, deps.json)."""
        loc = self.location
        out: dict[str, Any] = {"rule": self.rule}
        if self.name is not None:
            out["name"] = self.name
        out |= {"severity": self.severity, "message": self.message, "file": loc.file, "line": loc.line}
        if loc.cell is not None or loc.file_line is not None:
            out |= {"cell": loc.cell, "file_line": loc.file_line}
        if loc.key is not None:
            out["key"] = loc.key
        out["hint"] = self.hint
        return out | dict(self.data)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Finding:
        """The inverse of ``to_json``; keys it does not know go back into ``data``."""
        if data["severity"] not in RANK:
            raise ValueError(f"unknown severity {data['severity']!r}")
        return cls(
            rule=str(data["rule"]),
            severity=data["severity"],
            message=str(data["message"]),
            location=Location(
                data.get("file"), data.get("line"), data.get("cell"), data.get("key"), data.get("file_line")
            ),
            hint=data.get("hint"),
            name=data.get("name"),
            data={k: v for k, v in data.items() if k not in _JSON_KEYS},
        )


_JSON_KEYS = frozenset(
    {"rule", "name", "severity", "message", "file", "line", "cell", "file_line", "key", "hint"}
)


# ----------------------------------------------------------------------------- the policy


def counts(findings: Iterable[Finding], severities: Sequence[Severity] = SEVERITIES) -> dict[str, int]:
    out: dict[str, int] = dict.fromkeys(severities, 0)
    for f in findings:
        out[f.severity] = out.get(f.severity, 0) + 1
    return out


def fails(findings: Iterable[Finding], fail_on: FailOn) -> bool:
    """True when a finding reaches the ``fail_on`` severity (never with ``never``)."""
    if fail_on == "never":
        return False
    return any(RANK[f.severity] >= RANK[fail_on] for f in findings)


def ranked(findings: Iterable[Finding]) -> list[Finding]:
    """Worst first, then by file, line and rule."""
    return sorted(
        findings,
        key=lambda f: (-RANK[f.severity], f.location.file or "", f.location.line or 0, f.rule),
    )


def raise_if_failed(findings: Sequence[Finding], fail_on: FailOn, message: str = "") -> None:
    """The one exit path of a check: ``FindingsFailed`` (exit 1) when the findings fail it.
    An empty ``message`` prints nothing more (the rendered findings said it all)."""
    if fails(findings, fail_on):
        raise FindingsFailed(message, findings=list(findings))


# ----------------------------------------------------------------------------- renderers


def render_table(
    findings: Sequence[Finding], *, stream: TextIO | None = None, hints: bool = True, stderr: bool = False
) -> None:
    """A table on a terminal (colours, NO_COLOR honoured); one ``where: severity RULE name:
    message`` line per finding elsewhere (CI logs, pipes). Then each distinct fix, once."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from mlrelease import terminal

    console = (
        Console(file=stream, highlight=False, soft_wrap=not stream.isatty())
        if stream is not None
        else terminal.console(stderr=stderr)
    )
    if not findings:
        return
    if console.is_terminal:
        table = Table(box=None, pad_edge=False, header_style="bold")
        for col in ("where", "severity", "rule", "problem"):
            table.add_column(col, overflow="fold", no_wrap=col != "problem")
        for f in findings:
            table.add_row(
                escape(f.location.render()),
                f"[{STYLE[f.severity]}]{f.severity}[/]",
                escape(f.label),
                escape(f.message),
            )
        console.print(table)
    else:
        for f in findings:
            where = f.location.render()
            console.print(f"{where + ': ' if where else ''}{f.severity} {f.label}: {f.message}", markup=False)
    fixes = list(dict.fromkeys((f.label, f.hint) for f in findings if f.hint))
    if hints and fixes:
        console.print("how to fix:", style="bold")
        for label, hint in sorted(fixes):
            console.print(f"  {label}: {hint}", markup=False)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def summary_markdown(findings: Sequence[Finding], *, title: str, failed: bool, line: str = "") -> str:
    """A job-summary section: a heading with the verdict, one line, and a table of findings."""
    lines = [f"### {'❌' if failed else '✅'} {title}", ""]
    if line:
        lines += [line, ""]
    if findings:
        lines += ["| severity | rule | where | problem |", "| --- | --- | --- | --- |"]
        for f in findings:
            where, problem = _md_cell(f.location.render()), _md_cell(f.message)
            lines.append(f"| {f.severity} | {_md_cell(f.label)} | {where} | {problem} |")
    return "\n".join(lines)


def annotate(findings: Iterable[Finding], *, title_prefix: str = "", base: Path | None = None) -> None:
    """One annotation per finding (no-ops outside GitHub Actions). ``base`` is the folder the
    findings' files are relative to, when that is not the working folder."""
    import os

    for f in findings:
        loc = f.location
        file = loc.file
        if file and base is not None:
            file = os.path.relpath(base / file)
        where = loc.render() if loc.cell is not None or (loc.key and not file) else ""
        message = f"{where + ': ' if where else ''}{f.message}" + (f" (fix: {f.hint})" if f.hint else "")
        github.annotate(
            ANNOTATION_LEVEL[f.severity],
            message,
            file=file,
            line=loc.annotation_line,
            title=title_prefix + f.label,
        )


@dataclass(frozen=True)
class SarifRule:
    id: str
    name: str
    summary: str
    hint: str
    severity: Severity
    tags: tuple[str, ...] = ()
    properties: Mapping[str, Any] = field(default_factory=dict)


def sarif(
    findings: Sequence[Finding],
    rules: Sequence[SarifRule],
    *,
    base: Path | None = None,
    notifications: Sequence[str] = (),
    notification_id: str = "unreadable-file",
) -> dict[str, Any]:
    """The findings as SARIF 2.1.0, for GitHub code scanning (``upload-sarif``). ``notifications``
    are problems that stopped part of the run (an unreadable file): the run is then unsuccessful."""
    used = sorted({f.rule for f in findings} | {r.id for r in rules})
    by_id = {r.id: r for r in rules}
    index = {rule_id: i for i, rule_id in enumerate(used)}
    descriptors = []
    for rule_id in used:
        r = by_id.get(rule_id) or SarifRule(rule_id, rule_id, rule_id, "", "error")
        descriptors.append(
            {
                "id": r.id,
                "name": r.name,
                "shortDescription": {"text": r.summary.split(": ")[0].rstrip(".")},
                "fullDescription": {"text": r.summary},
                "help": {"text": f"{r.summary} Fix: {r.hint}."},
                "defaultConfiguration": {"level": SARIF_LEVEL[r.severity]},
                "properties": {**r.properties, "tags": [*r.tags, r.name]},
            }
        )
    results = []
    for f in findings:
        loc = f.location
        uri = _uri(loc.file or "", base)
        location: dict[str, Any] = {
            "physicalLocation": {
                "artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"},
                **({"region": {"startLine": loc.annotation_line}} if loc.annotation_line else {}),
            }
        }
        if loc.cell is not None:
            location["logicalLocations"] = [
                {"name": f"cell {loc.cell}" + (f" line {loc.line}" if loc.line else ""), "kind": "module"}
            ]
        results.append(
            {
                "ruleId": f.rule,
                "ruleIndex": index[f.rule],
                "level": SARIF_LEVEL[f.severity],
                "message": {"text": f.message + (f" (fix: {f.hint})" if f.hint else "")},
                "locations": [location],
                "partialFingerprints": {"mlrelease/v1": f"{f.rule}:{uri}:{loc.cell}:{f.message}"},
            }
        )
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "mlrelease",
                        "version": __version__,
                        "informationUri": "https://github.com/mlrelease/mlrelease",
                        "rules": descriptors,
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": not notifications,
                        "toolExecutionNotifications": [
                            {
                                "level": "error",
                                "message": {"text": line},
                                "descriptor": {"id": notification_id},
                            }
                            for line in notifications
                        ],
                    }
                ],
                "results": results,
            }
        ],
    }


def _uri(path: str, base: Path | None) -> str:
    p = Path(path)
    if base is not None and p.resolve().is_relative_to(base.resolve()):
        p = p.resolve().relative_to(base.resolve())
    return p.as_posix()
