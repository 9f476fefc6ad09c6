"""Rendering a ``LintReport``: a table for people, JSON and SARIF 2.1.0 for machines, and GitHub
annotations plus a job summary inside Actions (through ``mlrelease.github``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TextIO

from mlrelease import __version__, github
from mlrelease.notebooks.lint import LintReport
from mlrelease.notebooks.rules import RULES

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
ANNOTATION_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}
STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def render_table(report: LintReport, stream: TextIO | None = None) -> None:
    """A table per notebook on a terminal (colours, NO_COLOR honoured); one line per finding
    elsewhere (CI logs, pipes), in the ``file:cell:line: severity RULE name: message`` form."""
    from rich.console import Console
    from rich.table import Table

    out = stream or sys.stdout
    console = Console(file=out, highlight=False, soft_wrap=not out.isatty())
    by_path: dict[str, list] = {}
    for f in report.findings:
        by_path.setdefault(f.path, []).append(f)
    for path, findings in by_path.items():
        if console.is_terminal:
            table = Table(title=path, title_justify="left", box=None, pad_edge=False, header_style="bold")
            for col in ("cell", "line", "severity", "rule", "problem"):
                table.add_column(col, overflow="fold", no_wrap=col != "problem")
            for f in findings:
                table.add_row(
                    "" if f.cell is None else str(f.cell),
                    "" if f.line is None else str(f.line),
                    f"[{STYLE[f.severity]}]{f.severity}[/]",
                    f"{f.rule} {f.name}",
                    f.message,
                )
            console.print(table)
        else:
            for f in findings:
                where = f"{f.path}:cell {f.cell}" + (f":{f.line}" if f.line is not None else "")
                console.print(f"{where}: {f.severity} {f.rule} {f.name}: {f.message}", markup=False)
    fired = sorted({f.rule for f in report.findings})
    if fired:
        console.print("how to fix:", style="bold")
        for rule_id in fired:
            console.print(f"  {rule_id} {RULES[rule_id].name}: {RULES[rule_id].hint}", markup=False)
    counts = report.counts()
    checked = len(report.notebooks)
    verdict = "FAIL" if report.failed else "ok"
    console.print(
        f"{checked} notebook{'s' if checked != 1 else ''} checked"
        f"{f' and executed in {report.kernel}' if report.executed else ''}: "
        f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} info; "
        f"fail-on {report.fail_on}: [{'bold red' if report.failed else 'green'}]{verdict}[/]",
    )


def sarif(report: LintReport, base: Path | None = None) -> dict[str, Any]:
    """The report as SARIF 2.1.0, for GitHub code scanning (``upload-sarif``)."""
    used = sorted({f.rule for f in report.findings} | set(RULES))
    index = {rule_id: i for i, rule_id in enumerate(used)}
    rules = []
    for rule_id in used:
        r = RULES[rule_id]
        rules.append(
            {
                "id": r.id,
                "name": r.name,
                "shortDescription": {"text": r.summary.split(": ")[0].rstrip(".")},
                "fullDescription": {"text": r.summary},
                "help": {"text": f"{r.summary} Fix: {r.hint}."},
                "defaultConfiguration": {"level": SARIF_LEVEL[r.severity]},
                "properties": {"engine": r.engine, "tags": ["notebook", r.name]},
            }
        )
    results = []
    for f in report.findings:
        uri = _uri(f.path, base)
        results.append(
            {
                "ruleId": f.rule,
                "ruleIndex": index[f.rule],
                "level": SARIF_LEVEL[f.severity],
                "message": {"text": f"{f.message} (fix: {f.hint})"},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"},
                            "region": {"startLine": f.file_line},
                        },
                        "logicalLocations": [
                            {
                                "name": f"cell {f.cell}" + (f" line {f.line}" if f.line else ""),
                                "kind": "module",
                            }
                        ],
                    }
                ],
                "partialFingerprints": {"mlrelease/v1": f"{f.rule}:{uri}:{f.cell}:{f.message}"},
            }
        )
    notifications = [
        {"level": "error", "message": {"text": line}, "descriptor": {"id": "unreadable-notebook"}}
        for line in report.unreadable
    ]
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
                        "rules": rules,
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": not report.unreadable,
                        "toolExecutionNotifications": notifications,
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


def annotate(report: LintReport) -> None:
    """Annotations on the notebook lines and a job summary; no-ops outside GitHub Actions."""
    for line in report.unreadable:
        github.annotate("error", line, title="unreadable notebook")
    for f in report.findings:
        github.annotate(
            ANNOTATION_LEVEL[f.severity],  # type: ignore[arg-type]
            f"{f.location()}: {f.message} (fix: {f.hint})",
            file=f.path,
            line=f.file_line,
            title=f"{f.rule} {f.name}",
        )
    github.add_summary(summary_markdown(report))
    counts = report.counts()
    github.set_output("errors", str(counts["error"]))
    github.set_output("warnings", str(counts["warning"]))
    github.set_output("failed", "true" if report.failed or report.unreadable else "false")


def summary_markdown(report: LintReport) -> str:
    counts = report.counts()
    head = "❌" if report.failed or report.unreadable else "✅"
    lines = [
        f"### {head} Notebook lint",
        "",
        f"{len(report.notebooks)} notebook(s): {counts['error']} error(s), {counts['warning']} warning(s), "
        f"{counts['info']} info (fail-on: {report.fail_on})",
        "",
    ]
    for line in report.unreadable:
        lines.append(f"- unreadable: {line}")
    if report.findings:
        lines += ["| severity | rule | where | problem |", "| --- | --- | --- | --- |"]
        for f in report.findings:
            msg = f.message.replace("|", "\\|")
            lines.append(f"| {f.severity} | {f.rule} {f.name} | {f.location()} | {msg} |")
    return "\n".join(lines)
