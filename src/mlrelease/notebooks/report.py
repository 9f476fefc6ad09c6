"""Rendering a ``LintReport`` through ``mlrelease.findings``: a table for people, JSON and SARIF
2.1.0 for machines, and annotations plus a job summary inside GitHub Actions."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TextIO

from mlrelease import findings, github
from mlrelease.notebooks.lint import LintReport
from mlrelease.notebooks.rules import sarif_rules


def render_table(report: LintReport, stream: TextIO | None = None) -> None:
    """The findings (a table on a terminal, one line each elsewhere), each fix once, a verdict."""
    from rich.console import Console

    from mlrelease import terminal

    findings.render_table(report.findings, stream=stream)
    console = Console(file=stream, highlight=False) if stream is not None else terminal.console()
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
    return findings.sarif(
        report.findings,
        sarif_rules(),
        base=base,
        notifications=report.unreadable,
        notification_id="unreadable-notebook",
    )


def annotate(report: LintReport) -> None:
    """Annotations on the notebook lines, a job summary and step outputs; no-ops outside Actions."""
    findings.annotate(report.findings)
    github.add_summary(summary_markdown(report))
    counts = report.counts()
    github.set_output("errors", str(counts["error"]))
    github.set_output("warnings", str(counts["warning"]))
    github.set_output("failed", "true" if report.failed or report.unreadable else "false")


def summary_markdown(report: LintReport) -> str:
    counts = report.counts()
    text = findings.summary_markdown(
        report.findings,
        title="Notebook lint",
        failed=report.failed or bool(report.unreadable),
        line=f"{len(report.notebooks)} notebook(s): {counts['error']} error(s), {counts['warning']} "
        f"warning(s), {counts['info']} info (fail-on: {report.fail_on})"
        + "".join(f"\n- unreadable: {line}" for line in report.unreadable),
    )
    return text
