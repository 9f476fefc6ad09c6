"""What a handoff imports: every ``import`` of its notebooks and Python files, and where.

Notebook cells are translated from IPython syntax (magics, ``!shell``) to Python with IPython's
``TransformerManager`` before ``ast`` reads them. Imports inside ``try: ... except ImportError``
are optional. For plotting packages, each notebook is also read cell by cell to tell whether the
package is used only for display: the cells that use its names produce nothing that a cell
without them reads later.
"""

from __future__ import annotations

import ast
import json
import pickletools
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

Context = Literal["runtime", "display", "test", "model"]

SKIP_DIRS = frozenset(
    {".git", ".venv", "venv", "env", "node_modules", "__pycache__", "build", "dist", "site-packages", "out"}
)


@dataclass(frozen=True)
class ImportUse:
    module: str  # dotted, absolute
    file: Path
    line: int | None
    cell: int | None  # 1-based index of the notebook cell
    context: Context
    optional: bool = False

    def where(self) -> str:
        return f"cell {self.cell}, line {self.line}" if self.cell is not None else f"line {self.line}"


@dataclass(frozen=True)
class ParseFailure:
    file: Path
    cell: int | None
    message: str


@dataclass
class _Cell:
    index: int
    imports: list[tuple[str, int, bool, tuple[str, ...]]]  # module, line, optional, names bound
    loads: set[str]
    stores: set[str]


def _visit(tree: ast.AST) -> _Cell:
    cell = _Cell(0, [], set(), set())
    optional_nodes: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(_catches_import_error(h) for h in node.handlers):
            for child in node.body:
                optional_nodes.update(id(n) for n in ast.walk(child))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".", 1)[0]
                cell.imports.append((alias.name, node.lineno, id(node) in optional_nodes, (bound,)))
                cell.stores.add(bound)
        elif isinstance(node, ast.ImportFrom):
            if node.level or not node.module:
                continue  # relative: the handoff's own code
            names = tuple(a.asname or a.name for a in node.names if a.name != "*")
            cell.imports.append((node.module, node.lineno, id(node) in optional_nodes, names))
            cell.stores.update(names)
        elif isinstance(node, ast.Name):
            (cell.loads if isinstance(node.ctx, ast.Load) else cell.stores).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            cell.stores.add(node.name)
        elif isinstance(node, ast.Call) and _is_dynamic_import(node):
            cell.imports.append((node.args[0].value, node.lineno, True, ()))  # type: ignore[attr-defined]
    return cell


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names = {"ImportError", "ModuleNotFoundError", "Exception"}
    t = handler.type
    if t is None:
        return True
    if isinstance(t, ast.Tuple):
        return any(isinstance(e, ast.Name) and e.id in names for e in t.elts)
    return isinstance(t, ast.Name) and t.id in names


def _is_dynamic_import(node: ast.Call) -> bool:
    f = node.func
    named = (isinstance(f, ast.Name) and f.id == "__import__") or (
        isinstance(f, ast.Attribute) and f.attr == "import_module"
    )
    return (
        named
        and bool(node.args)
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    )


def python_file_imports(
    path: Path, context: Context = "runtime"
) -> tuple[list[ImportUse], list[ParseFailure]]:
    try:
        tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError, ValueError) as exc:
        return [], [ParseFailure(path, None, str(exc))]
    cell = _visit(tree)
    return [ImportUse(m, path, line, None, context, opt) for m, line, opt, _ in cell.imports], []


def notebook_imports(
    path: Path, display_packages: dict[str, str]
) -> tuple[list[ImportUse], list[ParseFailure]]:
    """Imports of a notebook's code cells; ``display_packages`` maps import name -> distribution
    of the plotting packages whose uses are tested for display-only."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        nb = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return [], [ParseFailure(path, None, f"not a readable notebook: {exc}")]
    except RecursionError:
        reason = "not a readable notebook: nested deeper than the JSON reader allows"
        return [], [ParseFailure(path, None, reason)]
    transformer = TransformerManager()
    cells: list[_Cell] = []
    failures: list[ParseFailure] = []
    written: set[str] = set()  # modules a %%file cell writes: the notebook's own
    extensions: list[tuple[str, int, int]] = []  # %load_ext packages: used, as dev tools
    for index, raw in enumerate(nb.get("cells", []), 1):
        if raw.get("cell_type") != "code":
            continue
        source = raw.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        written |= _written_modules(source)
        extensions += [(name, line, index) for name, line in _loaded_extensions(source)]
        try:
            tree = ast.parse(transformer.transform_cell(source))
        except (SyntaxError, ValueError) as exc:
            failures.append(ParseFailure(path, index, str(exc)))
            continue
        cell = _visit(tree)
        cell.index = index
        cells.append(cell)

    display_only = {top: _display_only(cells, top) for top in display_packages}
    uses: list[ImportUse] = []
    for cell in cells:
        for module, line, optional, _ in cell.imports:
            top = module.split(".", 1)[0]
            context: Context = "display" if display_only.get(top) else "runtime"
            if top not in written:
                uses.append(ImportUse(module, path, line, cell.index, context, optional))
    for name, line, index in extensions:
        if name.split(".", 1)[0] not in written | IPYTHON_EXTENSIONS:
            uses.append(ImportUse(name, path, line, index, "display"))
    return uses, failures


# extensions IPython ships: `%load_ext autoreload` needs no package
IPYTHON_EXTENSIONS = frozenset({"autoreload", "storemagic", "IPython"})
_WRITEFILE = re.compile(r"^\s*%%(?:writefile|file)\s+(?:-a\s+|--append\s+)?[\"']?([^\s\"']+)")
_LOAD_EXT = re.compile(r"^\s*%(?:load_ext|reload_ext)\s+([\w.]+)", re.MULTILINE)


def _written_modules(source: str) -> set[str]:
    """``%%file src/helpers.py`` -> {"helpers", "src"}: names a later import finds on disk."""
    m = _WRITEFILE.match(source)
    if not m or not m.group(1).endswith(".py"):
        return set()
    parts = PurePosixPath(m.group(1).replace("\\", "/")).parts
    return {parts[-1].removesuffix(".py"), *(p for p in parts[:-1] if p not in {".", ".."})}


def _loaded_extensions(source: str) -> list[tuple[str, int]]:
    """(package, line) of each ``%load_ext package``: the notebook uses it (memory_profiler, ...)."""
    return [(m.group(1), source.count("\n", 0, m.start()) + 1) for m in _LOAD_EXT.finditer(source)]


def _display_only(cells: list[_Cell], top: str) -> bool:
    """Are the names bound by imports of ``top`` used only in cells whose results feed no other cell?"""
    aliases = {
        name for c in cells for m, _, _, bound in c.imports if m.split(".", 1)[0] == top for name in bound
    }
    if not aliases:
        return True
    display = [c for c in cells if c.loads & aliases]
    produced = set().union(*(c.stores for c in display)) - aliases if display else set()
    others = [c for c in cells if c not in display]
    stored_elsewhere = set().union(*(c.stores for c in others)) if others else set()
    return not any(c.loads & (produced - stored_elsewhere) for c in others)


def model_modules(path: Path) -> list[str]:
    """Modules a model file refers to, read without loading it (skops schema, pickle opcodes)."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                if "schema.json" not in zf.namelist():
                    return []
                schema = json.loads(zf.read("schema.json"))
            found: set[str] = set()

            def walk(node: object) -> None:
                if isinstance(node, dict):
                    module = node.get("__module__")
                    if isinstance(module, str):
                        found.add(module)
                    for v in node.values():
                        walk(v)
                elif isinstance(node, list):
                    for v in node:
                        walk(v)

            walk(schema)
            return sorted(found)
        data = path.read_bytes()
        if not data.startswith(b"\x80"):
            return []  # compressed joblib or not a pickle: nothing to read without loading it
        modules: set[str] = set()
        strings: list[str] = []
        for op, arg, _ in pickletools.genops(data):
            if op.name == "GLOBAL" and isinstance(arg, str):
                modules.add(arg.split(" ", 1)[0])
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                modules.add(strings[-2])
            if isinstance(arg, str):
                strings.append(arg)
        return sorted(modules)
    except (OSError, ValueError, zipfile.BadZipFile, KeyError):
        return []


def local_modules(root: Path) -> set[str]:
    """Top-level names of the handoff's own modules and packages (never third-party)."""
    names: set[str] = set()
    for path in handoff_files(root, "*.py"):
        rel = path.relative_to(root)
        names.add(rel.parts[0].removesuffix(".py"))
        names.add(path.stem)
        names.update(p for p in rel.parts[:-1])
    return names


def handoff_files(root: Path, pattern: str) -> list[Path]:
    """Files under ``root`` matching ``pattern``; a symlink that leads out of ``root`` is not one."""
    inside = root.resolve()
    return sorted(
        p
        for p in root.rglob(pattern)
        if not any(part in SKIP_DIRS or part.startswith(".") for part in p.relative_to(root).parts[:-1])
        and p.resolve().is_relative_to(inside)
    )


def is_test_file(path: Path) -> bool:
    return path.name.startswith("test_") or path.name == "conftest.py" or "tests" in path.parts
