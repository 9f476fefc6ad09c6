"""Rendering a gate decision: Markdown (job summary, PR comment) and a terminal table."""

from __future__ import annotations

from mlrelease.gate import OVERALL, Check, GateResult, fmt, fmt_change

ICONS = {
    "pass": "✅ pass",
    "fail": "❌ fail",
    "noise": "⚠️ within noise",
    "skip": "➖ skipped",
    "info": "ℹ️ reported",
}


def _metric(c: Check) -> str:
    return c.metric if c.scope == OVERALL else f"{c.metric} · slice `{c.scope}`"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(result: GateResult) -> str:
    icon = "✅" if result.verdict == "pass" else "❌"
    lines = [f"**{icon} {result.headline}**", ""]
    lines += [
        "| metric | baseline | candidate | change | rule | verdict |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for c in result.checks:
        lines.append(
            f"| {_md_cell(_metric(c))} | {fmt(c.baseline)} | {fmt(c.candidate)} | {fmt_change(c)} | "
            f"{_md_cell(c.rule)} | {ICONS[c.verdict]}: {_md_cell(c.reason)} |"
        )
    if result.trade_offs:
        lines += ["", "**Trade-offs applied**", ""] + [f"- {t}" for t in result.trade_offs]
    if result.notes:
        lines += ["", "**Notes**", ""] + [f"- {n}" for n in result.notes]
    if result.reported:
        lines += ["", "<details><summary>Other metrics (reported, not gated)</summary>", ""]
        lines += ["| metric | baseline | candidate | change |", "| --- | ---: | ---: | ---: |"]
        lines += [
            f"| {c.metric} | {fmt(c.baseline)} | {fmt(c.candidate)} | {fmt_change(c)} |"
            for c in result.reported
        ]
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def print_table(result: GateResult) -> None:
    """The decision as a table on stdout; colours only when it is a terminal."""
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    from mlrelease import terminal

    console = terminal.console()
    style = {"pass": "green", "fail": "bold red", "noise": "yellow", "skip": "dim", "info": "dim"}
    table = Table(title=escape(result.headline), title_justify="left")
    for col in ("metric", "baseline", "candidate", "change", "rule", "verdict"):
        table.add_column(col, no_wrap=col == "metric")
    for column in table.columns[1:4]:  # the numbers
        column.justify = "right"
    for c in result.checks:
        table.add_row(
            escape(_metric(c).replace("`", "")),
            fmt(c.baseline),
            fmt(c.candidate),
            fmt_change(c),
            escape(c.rule),
            f"[{style[c.verdict]}]{c.verdict}[/]",
        )
    console.print(table)
    for c in result.checks:
        if c.verdict in ("fail", "noise", "skip"):
            console.print(f"[{style[c.verdict]}]{c.verdict}[/] {escape(_metric(c))}: {escape(c.reason)}")
    for line in [f"trade-off: {t}" for t in result.trade_offs] + [f"note: {n}" for n in result.notes]:
        console.print(Text(line))  # as written: no markup, no highlighting of its numbers
