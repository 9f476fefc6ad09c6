"""The rule catalogue of ``mlrelease lint``: stable ids, default severities, fix hints.

A rule id never changes meaning once published; retired rules keep their number. The severity
principle: ``error`` when the notebook would not run top to bottom, would not give the results it
shows, or leaks a secret or the author's machine; ``warning`` for dead code and anything a reviewer
must clean before the handoff is done; ``info`` for clutter that the export drops by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mlrelease.findings import SarifRule, Severity

Engine = Literal["mlrelease", "ruff", "vulture"]


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    severity: Severity
    summary: str
    hint: str
    engine: Engine = "mlrelease"


_RULES = [
    # -- execution order and state
    Rule("NB101", "out-of-order-execution", "error",
         "Execution counts do not increase top to bottom: the stored outputs (and any file the "
         "notebook wrote) came from a different order than the one the cells are read in.",
         "restart the kernel and run all cells top to bottom, then save"),
    Rule("NB102", "re-executed-cells", "warning",
         "Execution counts skip numbers: cells were run more than once, or run and deleted.",
         "restart the kernel and run all cells top to bottom, then save"),
    Rule("NB103", "hidden-state", "error",
         "A name is used in a cell above the cell that defines it; a top-to-bottom run fails there.",
         "move the definition above its first use"),
    Rule("NB104", "unexecuted-cell", "warning",
         "A code cell among executed ones was never run: the notebook's outputs do not show what it does.",
         "run it (restart and run all), or delete it"),
    Rule("NB105", "error-output", "error",
         "A cell's stored output is an exception.",
         "fix the cell so that a top-to-bottom run passes, then save"),
    Rule("NB106", "undefined-name", "error",
         "A name is used but defined nowhere in the notebook; it lived only in the author's kernel.",
         "define or import it in the notebook", "ruff"),
    Rule("NB107", "syntax-error", "error",
         "A cell is not valid Python (after IPython magics are understood); a run stops there.",
         "fix the syntax"),
    # -- commented-out code
    Rule("NB201", "commented-out-code", "warning",
         "Comment lines that parse as Python statements: code switched off, not explained.",
         "delete it (version control keeps old code), or turn it into a real cell"),
    # -- dead code
    Rule("NB301", "unused-import", "warning",
         "An import is used nowhere in the notebook.", "remove the import", "ruff"),
    Rule("NB302", "unused-variable", "warning",
         "A name is assigned and never read: at module level anywhere in the notebook, or inside "
         "its function.",
         "remove the assignment, or use `_` for a value you mean to drop", "ruff"),
    Rule("NB303", "unused-definition", "warning",
         "A function or class is defined and never used anywhere in the notebook.",
         "delete it, or call it", "vulture"),
    Rule("NB304", "unreachable-code", "warning",
         "Statements after return/raise/continue/break never run.", "delete them", "vulture"),
    Rule("NB305", "redefined-unused", "warning",
         "A name is defined again before its first definition was ever used.",
         "delete the first definition", "ruff"),
    # -- environment leaks
    Rule("NB401", "install-in-notebook", "error",
         "Packages installed from inside the notebook (!pip, %pip, %conda, ...): the production "
         "environment never sees them.",
         "add the package to requirements.in and run `mlrelease lock`"),
    Rule("NB402", "absolute-local-path", "error",
         "An absolute path on the author's machine; it does not exist anywhere else.",
         "use a path relative to the notebook's folder, inside the repository"),
    Rule("NB403", "path-outside-repo", "error",
         "A relative path that leaves the repository; the file is not part of the handoff.",
         "copy the file into the repository (or fetch it in code) and point to it there"),
    # -- non-determinism
    Rule("NB501", "unseeded-randomness", "error",
         "A random estimator, split or generator without a seed: every run trains a different model.",
         "pass random_state=<int> (scikit-learn), np.random.default_rng(<int>), or seed the module once"),
    # -- secrets
    Rule("NB601", "secret-in-code", "error",
         "A key, token or password written in the code.",
         "revoke it, then read it from an environment variable (os.environ) or a secret store"),
    Rule("NB602", "secret-in-output", "error",
         "A key, token or password stored in a cell's output.",
         "revoke it, clear the output, and stop printing it"),
    # -- clutter
    Rule("NB701", "display-only-cell", "info",
         "The cell only displays (a bare expression, .head(), a plot); the export drops bare names "
         "and attributes, and keeps every call.",
         "keep it for exploration, or delete it from the handoff"),
    Rule("NB702", "large-output", "warning",
         "The cell's stored outputs exceed lint.max_output_kb; they bloat the repository and its diffs.",
         "clear the output (nbstripout), or save the figure/table to a file"),
    # -- reproducibility run (--execute)
    Rule("NB801", "execution-failed", "error",
         "The notebook fails when run top to bottom in a fresh kernel.",
         "fix the failing cell; the traceback names the line"),
    Rule("NB802", "output-not-reproduced", "error",
         "A stored text output differs from the output of a fresh top-to-bottom run.",
         "re-run top to bottom and save, and seed anything random"),
]  # fmt: skip


@dataclass(frozen=True)
class Hit:
    """A rule firing at a place, before configuration (severity, ignores) is applied."""

    rule: str
    cell: int  # index among all cells of the notebook, 0-based (findings show it from 1)
    line: int | None  # line in the cell, 1-based; None for the whole cell
    message: str
    name: str | None = None  # the name the hit is about, when there is one


RULES: dict[str, Rule] = {r.id: r for r in _RULES}


def rule(rule_id: str) -> Rule:
    return RULES[rule_id]


def sarif_rules() -> list[SarifRule]:
    """The catalogue as SARIF rule descriptors."""
    return [
        SarifRule(r.id, r.name, r.summary, r.hint, r.severity, ("notebook",), {"engine": r.engine})
        for r in _RULES
    ]
