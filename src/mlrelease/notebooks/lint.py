"""``mlrelease lint``: every rule on every notebook, with the handoff's severities and ignores.

The result is a ``LintReport``, written as ``lint.json`` (schema version 1) and SARIF. Unreadable
notebooks do not stop the run: each gets one line in ``report.unreadable`` and the others are
still checked.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlrelease import findings as fnd
from mlrelease.artifacts import read_typed, write_json
from mlrelease.config import LintConfig
from mlrelease.findings import Finding, Location, Severity
from mlrelease.notebooks import checks, engines
from mlrelease.notebooks.kernels import CURRENT, Kernel
from mlrelease.notebooks.rules import RULES, Hit
from mlrelease.notebooks.source import Notebook, NotebookUnreadable, read

# 2: a finding's notebook is under "file" (was "path"), as in every findings list
SCHEMA_VERSION = 2
UNUSED_RULES = frozenset({"NB301", "NB302", "NB303", "NB305"})
# what a cell that does not parse hides: its uses (so "unused" is a guess) and its definitions
# (so "undefined" is a cascade of the one syntax error, which NB107 reports)
HELD_BACK_ON_SYNTAX_ERROR = UNUSED_RULES | {"NB106"}


@dataclass(frozen=True)
class NotebookSummary:
    path: str
    sha256: str
    cells: int
    code_cells: int
    findings: int


@dataclass
class LintReport:
    fail_on: str
    notebooks: list[NotebookSummary] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # one line each, naming file and problem
    executed: bool = False
    kernel: str | None = None  # what the notebooks were executed in, when they were

    def counts(self) -> dict[str, int]:
        return fnd.counts(self.findings)

    @property
    def failed(self) -> bool:
        """True when a finding reaches the ``fail_on`` severity."""
        return fnd.fails(self.findings, self.fail_on)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": "mlrelease lint",
            "fail_on": self.fail_on,
            "failed": self.failed,
            "executed": self.executed,
            "kernel": self.kernel,
            "counts": self.counts(),
            "notebooks": [asdict(n) for n in self.notebooks],
            "unreadable": list(self.unreadable),
            "findings": [f.to_json() for f in self.findings],
        }

    def write(self, path: Path) -> None:
        write_json(path, self.to_json())

    @classmethod
    def read(cls, path: Path) -> LintReport:
        """lint.json back as a report (ArtifactError, exit 2, when it is not one)."""
        hint = "run `mlrelease lint --report` with this version of mlrelease to write it again"
        return read_typed(path, kind="lint.json", version=SCHEMA_VERSION, hint=hint, build=cls._from_json)

    @classmethod
    def _from_json(cls, data: dict[str, Any]) -> LintReport:
        return cls(
            fail_on=str(data["fail_on"]),
            notebooks=[NotebookSummary(**n) for n in data["notebooks"]],
            findings=[Finding.from_json(f) for f in data["findings"]],
            unreadable=[str(u) for u in data["unreadable"]],
            executed=bool(data.get("executed", False)),
            kernel=data.get("kernel"),
        )


def display_path(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


def repo_root(start: Path) -> Path | None:
    """The nearest folder above ``start`` with ``.git`` or ``mlrelease.yaml``: where the handoff ends."""
    for folder in [start, *start.parents]:
        if (folder / ".git").exists() or (folder / "mlrelease.yaml").is_file():
            return folder
    return None


def _allowed(rule_id: str, cfg: LintConfig) -> Severity | None:
    """The configured severity of a rule, or None when it is switched off or ignored."""
    if any(rule_id == ig or (ig and rule_id.startswith(ig)) for ig in (i.upper() for i in cfg.ignore)):
        return None
    sev = cfg.severity.get(rule_id, RULES[rule_id].severity)
    return None if sev == "off" else sev


def lint_paths(
    paths: list[Path],
    cfg: LintConfig | None = None,
    *,
    root: Path | None = None,
    execute: bool = False,
    fail_on: str | None = None,
    kernel: Kernel | None = None,
) -> LintReport:
    """Check every notebook in ``paths``; ``root`` is the repository the handoff lives in.
    With ``execute``, each runs in ``kernel`` (default: mlrelease's own environment)."""
    cfg = cfg or LintConfig()
    kernel = kernel or CURRENT
    report = LintReport(
        fail_on=fail_on or cfg.fail_on, executed=execute, kernel=kernel.description if execute else None
    )
    notebooks: list[Notebook] = []
    for path in paths:
        try:
            notebooks.append(read(path, display_path(path)))
        except NotebookUnreadable as exc:
            report.unreadable.append(exc.message)
    engine_hits = engines.run_engines(notebooks)
    for i, nb in enumerate(notebooks):
        found = engine_hits[i]
        if any(c.syntax_error for c in nb.code):
            found = [h for h in found if h.rule not in HELD_BACK_ON_SYNTAX_ERROR]
        hits = list(static_hits(nb, root or repo_root(nb.path.parent), cfg)) + found
        if execute:
            from mlrelease.notebooks.execute import execution_hits

            hits += execution_hits(nb, cfg, root or repo_root(nb.path.parent), kernel)
        findings = _apply(nb, _dedupe(hits), cfg)
        report.findings += findings
        report.notebooks.append(
            NotebookSummary(nb.display, nb.sha256, len(nb.cells), len(nb.code), len(findings))
        )
    return report


def static_hits(nb: Notebook, root: Path | None, cfg: LintConfig) -> list[Hit]:
    flows = checks.module_names(nb)
    return [
        *checks.syntax_errors(nb),
        *checks.execution_order(nb),
        *checks.error_outputs(nb),
        *checks.hidden_state(nb, flows),
        *checks.commented_out(nb),
        *checks.environment_leaks(nb, root),
        *checks.nondeterminism(nb),
        *checks.secrets(nb),
        *checks.clutter(nb, cfg.max_output_kb),
    ]


def _dedupe(hits: list[Hit]) -> list[Hit]:
    """Drop pyflakes' "undefined name" where NB103 already explains it (defined in a cell below)."""
    hidden = {(h.cell, h.line, h.name) for h in hits if h.rule == "NB103"}
    hidden_names = {(h.cell, h.name) for h in hits if h.rule == "NB103"}
    out = []
    seen = set()
    for h in hits:
        if h.rule == "NB106" and ((h.cell, h.line, h.name) in hidden or (h.cell, h.name) in hidden_names):
            continue
        key = (h.rule, h.cell, h.line, h.message)
        if key not in seen:
            seen.add(key)
            out.append(h)
    return out


def _apply(nb: Notebook, hits: list[Hit], cfg: LintConfig) -> list[Finding]:
    cells = {c.index: c for c in nb.code}
    out = []
    for h in hits:
        sev = _allowed(h.rule, cfg)
        if sev is None:
            continue
        cell = cells.get(h.cell)
        # an inline ignore on a line; a cell-wide finding (no line) is ignored from the cell's first line
        if cell is not None and (cell.ignored(h.line or 1, h.rule)):
            continue
        rule = RULES[h.rule]
        out.append(
            Finding(
                rule=h.rule,
                name=rule.name,
                severity=sev,
                message=h.message,
                location=Location(
                    file=nb.display,
                    cell=h.cell + 1,  # Hit.cell is the index; people count cells from 1
                    line=h.line,
                    file_line=nb.file_line(h.cell, h.line),
                ),
                hint=rule.hint,
                data={"engine": rule.engine},
            )
        )
    out.sort(key=lambda f: (f.location.cell or -1, f.location.line or 0, f.rule))
    return out
