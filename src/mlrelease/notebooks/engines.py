"""The engines behind the dead-code rules: ruff (pyflakes rules) and vulture, run as subprocesses.

Each notebook becomes one script: its code cells, translated from IPython to Python
(``source.translate``), top to bottom. Checking the whole notebook as one module is what makes the
analysis cross-cell: an import used three cells later is used. ruff runs once for all notebooks
of a lint run (one process; it checks each file alone); vulture runs in process, one scan per
notebook, because it would otherwise count a name defined in one notebook as used by another.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlrelease import process
from mlrelease.errors import EnvironmentUnavailable
from mlrelease.notebooks.rules import Hit
from mlrelease.notebooks.source import Notebook
from mlrelease.process import Finished

# names IPython puts in every kernel's namespace
IPYTHON_BUILTINS = ("get_ipython", "display", "In", "Out", "exit", "quit")

RUFF_RULES = {"F401": "NB301", "F841": "NB302", "F811": "NB305", "F821": "NB106"}


@dataclass
class Script:
    """A notebook's code cells as one Python module, with the way back to cells."""

    text: str
    where: list[tuple[int, int]]  # script line (0-based) -> (cell index, line in cell)

    def locate(self, row: int) -> tuple[int, int]:
        row = min(max(row, 1), len(self.where)) - 1
        return self.where[row] if self.where else (0, 1)


def script_of(nb: Notebook) -> Script:
    chunks: list[str] = []
    where: list[tuple[int, int]] = []
    for cell in nb.code:
        lines = cell.python.splitlines()
        if cell.tree is None:
            lines = ["" for _ in lines]  # a cell that does not parse is reported by NB107, not here
        for n, text in enumerate(lines, 1):
            chunks.append(text)
            where.append((cell.index, n))
    return Script("\n".join(chunks) + "\n", where)


def run_process(argv: list[str], ok: tuple[int, ...] = (0,), stdin: str | None = None) -> Finished:
    """Run an engine (ruff, vulture); a missing engine or an unexpected exit is EnvironmentUnavailable."""
    return process.run(argv, ok=ok, stdin=stdin, error=EnvironmentUnavailable, hint="run `make setup`")


def ruff_bin() -> str:
    here = Path(sys.executable).parent / "ruff"
    if here.exists():
        return str(here)
    found = shutil.which("ruff")
    if found:
        return found
    try:
        from ruff.__main__ import find_ruff_bin

        return str(find_ruff_bin())
    except Exception:  # the ruff package is a dependency; this is only the last resort
        raise EnvironmentUnavailable("ruff is not installed", hint="pip install ruff") from None


def run_engines(notebooks: list[Notebook]) -> dict[int, list[Hit]]:
    """Run ruff and vulture on every notebook; hits by position in ``notebooks``.

    Each notebook is its own program: ruff checks each file alone, and vulture (which would
    count a function defined in one file as used by another) gets one scan per notebook, in
    process. So a notebook's findings are the same whether it is linted alone or with others.
    """
    hits: dict[int, list[Hit]] = {i: [] for i in range(len(notebooks))}
    if not notebooks:
        return hits
    scripts = [script_of(nb) for nb in notebooks]
    with tempfile.TemporaryDirectory(prefix="mlrelease-lint-") as tmp:
        files = []
        for i, s in enumerate(scripts):
            f = Path(tmp) / f"nb{i:05d}.py"
            f.write_text(s.text, encoding="utf-8")
            files.append(f)
        index = {f.name: i for i, f in enumerate(files)}
        found: list[tuple[int | None, int, str, str, str | None]] = [
            (index.get(Path(name).name), row, rule, message, ident)
            for name, row, rule, message, ident in _ruff(tmp)
        ]
    for i, s in enumerate(scripts):
        for row, rule_id, message, ident in _vulture(s.text):
            if rule_id == "NB302" and not _module_level_assignment(notebooks[i], s, row, ident):
                continue
            found.append((i, row, rule_id, message, ident))
    for which, row, rule_id, message, ident in found:
        if which is None:
            continue
        cell, line = scripts[which].locate(row)
        hits[which].append(Hit(rule_id, cell, line, message, ident))
    return hits


def _ruff(folder: str) -> list[tuple[str, int, str, str, str | None]]:
    argv = [
        ruff_bin(),
        "check",
        "--isolated",
        "--no-cache",
        "--no-fix",
        "--exit-zero",
        "--output-format",
        "json",
        "--select",
        ",".join(RUFF_RULES),
        "--config",
        f"builtins = {json.dumps(list(IPYTHON_BUILTINS))}",
        folder,
    ]
    proc = run_process(argv)
    out = []
    for d in json.loads(proc.stdout or "[]"):
        code = d.get("code")
        if code not in RUFF_RULES:
            continue
        m = re.search(r"`([^`]+)`", d.get("message", ""))
        out.append(
            (d["filename"], d["location"]["row"], RUFF_RULES[code], d["message"], m.group(1) if m else None)
        )
    return out


def _vulture(text: str) -> list[tuple[int, str, str, str | None]]:
    """(line, rule, message, name) of vulture's findings in one notebook's script."""
    from vulture import Vulture

    scan = Vulture()
    scan.scan(text, filename="notebook.py")
    out = []
    for item in scan.get_unused_code(min_confidence=60):
        name = str(item.name) if item.typ != "unreachable_code" else None
        if item.typ in {"function", "class"}:
            rule_id = "NB303"
        elif item.typ == "unreachable_code":
            rule_id = "NB304"
        elif item.typ == "variable":
            # function-local variables come from ruff's F841, which knows more about scopes
            rule_id = "NB302"
        else:
            # unused imports come from ruff; unused methods, attributes and properties are left out:
            # frameworks call them through protocols (fit/transform, forward, __call__) that
            # vulture cannot see
            continue
        if name and name.startswith("_"):
            continue
        out.append((item.first_lineno, rule_id, item.message, name))
    return out


def _module_level_assignment(nb: Notebook, script: Script, row: int, name: str | None) -> bool:
    """Vulture's unused variables count only for module-level ``name = value`` statements.

    Vulture also reports loop variables and every name of a tuple unpacking
    (``fig, ax = plt.subplots()``), which notebooks use idiomatically; locals are ruff's job.
    """
    if not name:
        return False
    cell_index, line = script.locate(row)
    for cell in nb.code:
        if cell.index != cell_index or cell.tree is None:
            continue
        for stmt in cell.tree.body:
            if stmt.lineno != line:
                continue
            if isinstance(stmt, ast.Assign):
                return any(isinstance(t, ast.Name) and t.id == name for t in stmt.targets)
            if isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                return isinstance(stmt.target, ast.Name) and stmt.target.id == name
    return False
