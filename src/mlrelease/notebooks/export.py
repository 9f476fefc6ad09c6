"""``mlrelease export``: a notebook as a clean script that runs with ``python pipeline.py``.

The rule is that no statement with an effect is lost and none changes place: the script runs
the notebook's code in the notebook's order. What goes is only what has no effect: package
installs, help lines (``obj?``), magics that only change the display (``%matplotlib``,
``%load_ext``), commented-out code, statements that only show a value (a bare name or attribute
such as ``df`` or ``model.coef_``; a call is never dropped: ``grid.fit(X, y);`` is training),
display-only cell magics (``%%html``), and functions defined and never used. Magics that do
something become Python: ``!cmd`` and ``%%bash`` become ``subprocess.run``, ``%cd`` becomes
``os.chdir``, ``%%file`` writes its file, ``%env`` sets the variable, ``%run`` runs the script,
``%time``/``%timeit``/``%mprun`` keep their statement, ``%%capture out`` captures into ``out``.
Imports stay where they are: an import may need a module that a ``%%file`` cell writes, a
``!wget`` downloads or a ``%cd`` makes reachable.
A magic dropped inside a block leaves ``pass``. A magic the export does not know is kept as a
comment and named in the header. The header names the source notebook and its sha256.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Set
from dataclasses import dataclass, field
from pathlib import Path

from mlrelease.errors import UsageError
from mlrelease.notebooks import checks, engines
from mlrelease.notebooks.source import (
    PROFILER_MAGICS,
    PYTHON_BODY_MAGICS,
    WRITEFILE_MAGICS,
    CodeCell,
    MagicLine,
    interpolated,
    profiler_args,
    read,
)

_INSTALL = checks._INSTALL
# line magics whose statement is kept: they wrap code that the script must still run (once)
KEEP_STATEMENT_MAGICS = {"time", "timeit", "prun", "memit"}
# magics with no effect on what the code computes: display, editor and profiler settings
NO_EFFECT_LINE_MAGICS = {
    "matplotlib", "pylab", "load_ext", "reload_ext", "unload_ext", "autoreload", "aimport", "config",
    "precision", "xmode", "pdb", "who", "whos", "who_ls", "pwd", "ls", "ll", "cat", "history", "lsmagic",
    "magic", "notebook", "pinfo", "pinfo2", "psearch", "page", "pprint", "qtconsole", "colors",
    "automagic", "autocall", "doctest_mode", "tb", "recall", "rerun", "save", "dhist", "dirs",
    "timeit", "load", "pip", "conda", "mamba", "micromamba", "uv",
}  # fmt: skip
# IPython's default shell aliases that change files: they run as shell lines
SHELL_ALIASES = {"cp", "mv", "rm", "rmdir", "mkdir"}
DISPLAY_CELL_MAGICS = {"html", "HTML", "markdown", "latex", "javascript", "js", "svg"}
SHELL_CELL_MAGICS = {"bash": "/bin/bash", "sh": "/bin/sh", "script": None, "system": None}


@dataclass
class Export:
    script: str
    kept: list[int] = field(default_factory=list)  # cell numbers, from 1
    dropped: dict[int, str] = field(default_factory=dict)  # cell number -> why
    not_exported: list[str] = field(default_factory=list)  # "cell N, line M: %magic" kept as comments


@dataclass
class _Cleaned:
    text: str
    origin: list[int]  # for each line of text, the line of the cell it comes from
    modules: set[str] = field(default_factory=set)  # os, subprocess, runpy: what the rewrites need
    not_exported: list[str] = field(default_factory=list)


def export_notebook(path: Path, output: Path | None = None) -> Export:
    nb = read(path)
    broken = [c for c in nb.code if c.syntax_error]
    if broken:
        c = broken[0]
        raise UsageError(
            f"{nb.display}: cell {c.number}, {c.syntax_error} (not valid Python; nothing exported)",
            hint="fix the cell; `mlrelease lint` lists every problem",
        )
    result = Export("")
    unused_defs = {
        (h.cell, h.name) for h in engines.run_engines([nb])[0] if h.rule == "NB303" and h.name is not None
    }
    modules: set[str] = set()
    body: list[str] = []
    names = {
        name for events in checks.module_names(nb).values() for kind, name, _ in events if kind == "store"
    }
    for cell in nb.code:
        if not cell.source.strip():
            continue
        cleaned = _clean_cell(cell, unused_defs, names)
        if isinstance(cleaned, str):
            result.dropped[cell.number] = cleaned
            continue
        _check_syntax(nb.display, cell, cleaned)
        modules |= cleaned.modules
        result.not_exported += cleaned.not_exported
        if any(line.strip() and not line.lstrip().startswith("#") for line in cleaned.text.splitlines()):
            body.append(f"# %% cell {cell.number}\n{cleaned.text.strip()}\n")
            result.kept.append(cell.number)
        elif cleaned.not_exported:
            body.append(f"# %% cell {cell.number}\n{cleaned.text.strip()}\n")
            result.dropped[cell.number] = "not exported (see the comments)"
        else:
            result.dropped[cell.number] = "nothing left to run"
    source_name = _relative(nb.path, output.parent if output else Path.cwd()) or nb.display
    header = [
        f"# Exported by `mlrelease export` from {source_name}",
        f"# source sha256: {nb.sha256}",
        "# Edit the notebook and export again; do not edit this file by hand.",
    ]
    if result.dropped:
        header.append(
            "# Dropped cells: " + ", ".join(f"{i} ({why})" for i, why in sorted(result.dropped.items()))
        )
    if result.not_exported:
        header.append("# NOT EXPORTED (kept as comments, port by hand): " + "; ".join(result.not_exported))
    imports = "".join(f"import {m}\n" for m in sorted(modules))
    if "sys" in modules:
        imports += 'sys.path.insert(0, "")  # import from the working folder, as the kernel does after %cd\n'
    text = "\n".join(header) + "\n\n" + imports + "\n\n" + "\n".join(body)
    _check_script(nb.display, text)
    result.script = _polish(text)
    if output is not None:
        from mlrelease.artifacts import write_text

        write_text(output, result.script)
    return result


def _relative(path: Path, base: Path) -> str | None:
    """``path`` relative to ``base`` when it is below it or a sibling; else None."""
    try:
        rel = Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return None
    return None if rel.startswith("../..") else rel


def _indent(text: str) -> str:
    return text[: len(text) - len(text.lstrip())]


def _clean_cell(cell: CodeCell, unused_defs: Set[tuple[int, str | None]], names: set[str]) -> _Cleaned | str:
    """The cell as script lines, or the reason the whole cell goes."""
    first = cell.magics[0] if cell.magics and cell.magics[0].kind == "cell-magic" else None
    if first is not None and first.name not in PYTHON_BODY_MAGICS:
        return _cell_magic(cell, first)
    lines = cell.python.splitlines()
    original = cell.lines
    out: dict[int, str | None] = {}  # line -> replacement (None: dropped)
    modules: set[str] = set()
    not_exported: list[str] = []
    for number in checks.commented_out_lines(cell):
        out[number] = None
    tail = ""
    for m in cell.magics:
        indent = _indent(original[m.line - 1])
        if m.kind == "cell-magic" and m.name == "capture":
            out[m.line], tail = _capture(m.args)
            modules |= {"contextlib", "io", "types"}
            continue
        if m.kind == "cell-magic":
            out[m.line] = None  # %%time, %%timeit: the body below is the code
            continue
        stmt, needs, known = _line_magic(m, lines[m.line - 1], names)
        modules |= needs
        if stmt is None and not known:
            not_exported.append(f"cell {cell.number}, line {m.line}: {m.text.strip()}")
            out[m.line] = f"{indent}{'pass  ' if indent else ''}# not exported: {m.text.strip()}"
        elif stmt is None:
            out[m.line] = f"{indent}pass" if indent else None  # an emptied block stays valid
        else:
            out[m.line] = indent + stmt
    assert cell.tree is not None
    statements = cell.tree.body
    magic_lines = {m.line for m in cell.magics}
    for statement in statements:
        span = range(statement.lineno, (statement.end_lineno or statement.lineno) + 1)
        if set(span) & magic_lines:
            continue
        shown_only = _no_effect(statement) and not _shares_a_line(statement, statements)
        unused = (
            _removable_definition(statement) and (cell.index, getattr(statement, "name", None)) in unused_defs
        )
        if shown_only or unused:
            out.update(dict.fromkeys(span))
    text: list[str] = []
    origin: list[int] = []
    for n, line in enumerate(lines, 1):
        if n in out:
            replaced = out[n]
            if replaced is None:
                continue
            line = replaced
        elif n not in magic_lines:
            line = original[n - 1] if n - 1 < len(original) else line
        if _INLINE_IGNORE_ONLY.match(line):
            continue
        text.append(line)
        origin.append(n)
    if tail:
        text.append(tail)
        origin.append(len(lines))
    return _Cleaned("\n".join(text), origin, modules, not_exported)


def _capture(args: str) -> tuple[str, str]:
    """``%%capture [--no-stdout] [--no-stderr] [name]``: the body's output is captured, not shown,
    and ``name.stdout`` / ``name.stderr`` hold it. Returns (the lines before the body, after it);
    the body keeps its lines and indentation."""
    words = args.split()
    target = words[-1] if words and not words[-1].startswith("-") and words[-1].isidentifier() else None
    streams = [s for s in ("stdout", "stderr") if f"--no-{s}" not in words]
    head = ["_captured = contextlib.ExitStack()"] + [
        f"_captured_{s} = _captured.enter_context(contextlib.redirect_{s}(io.StringIO()))" for s in streams
    ]
    tail = ["_captured.close()"]
    if target:
        values = ", ".join(
            f"{s}=_captured_{s}.getvalue()" if s in streams else f"{s}=''" for s in ("stdout", "stderr")
        )
        tail.append(f"{target} = types.SimpleNamespace({values}, outputs=[])")
    return "\n".join(head), "\n".join(tail)


_INLINE_IGNORE_ONLY = re.compile(r"^\s*#\s*mlrelease:\s*ignore")


def _line_magic(m: MagicLine, translated: str, names: set[str]) -> tuple[str | None, set[str], bool]:
    """(the statement that replaces a magic or shell line, the modules it needs, whether the
    magic is known); statement None: the line goes. ``names``: the notebook's variables, which
    IPython expands in ``$name`` as in ``{name}``. A magic whose value is assigned
    (``files = %ls``) never just goes: the name it binds may be read later, so unless it became a
    statement it is kept as a comment and reported as not exported."""
    stmt, needs, known = _translate_line_magic(m, translated, names)
    if stmt is None and " = get_ipython()" in translated:
        return None, set(), False
    return stmt, needs, known


def _translate_line_magic(
    m: MagicLine, translated: str, names: set[str]
) -> tuple[str | None, set[str], bool]:
    target = translated.strip().split(" = get_ipython()")[0] if " = get_ipython()" in translated else ""
    if m.kind == "help":
        return None, set(), True
    if m.kind == "shell" or (m.kind == "line-magic" and m.name in SHELL_ALIASES):
        command = m.args if m.kind == "shell" else f"{m.name} {m.args}".strip()
        if _INSTALL.search(command):
            return None, set(), True
        run = f"subprocess.run({interpolated(_dollar_names(command, names))}, shell=True, check=True"
        if target:
            captured = f"{target} = {run}, capture_output=True, text=True).stdout.splitlines()"
            return captured, {"subprocess"}, True
        return f"{run})", {"subprocess"}, True
    name, args = m.name, m.args
    if name in KEEP_STATEMENT_MAGICS and "get_ipython()" not in translated:
        return translated.strip(), set(), True  # `%time x = f()` was translated to `x = f()`
    if name in PROFILER_MAGICS:
        _, stmt = profiler_args(args)
        return (stmt or None), set(), True
    if name == "cd" and args:
        args = " ".join(w for w in args.split() if w not in {"-q", "-b"})
        # "sys": a kernel imports from its working folder ('' on sys.path), a script from its own
        return (
            f"os.chdir(os.path.expanduser({interpolated(args.strip(chr(34) + chr(39)))}))",
            {"os", "sys"},
            True,
        )
    if name == "env" and args:
        key, sep, value = args.partition("=")
        if not sep:
            key, _, value = args.partition(" ")
        if value.strip():
            return f"os.environ[{key.strip()!r}] = {interpolated(value.strip())}", {"os"}, True
        return None, set(), True  # `%env NAME` only shows it
    if name == "run" and args:
        words = [w for w in args.split() if not w.startswith("-")]
        if words and len(words) == len(args.split()):
            return f"globals().update(runpy.run_path({words[0]!r}, run_name='__main__'))", {"runpy"}, True
    if name in NO_EFFECT_LINE_MAGICS:
        return None, set(), True
    return None, set(), False


def _dollar_names(command: str, names: set[str]) -> str:
    """``wget $url`` -> ``wget {url}`` when ``url`` is a notebook variable (IPython expands it);
    ``$HOME`` and other shell variables stay for the shell, ``$$HOME`` is ``$HOME``."""
    expanded = re.sub(
        r"(?<!\$)\$([A-Za-z_]\w*)",
        lambda m: "{" + m.group(1) + "}" if m.group(1) in names else m.group(0),
        command,
    )
    return expanded.replace("$$", "$")  # IPython's escape for a literal $


def _cell_magic(cell: CodeCell, first: MagicLine) -> _Cleaned | str:
    body = cell.source.split("\n", 1)[1] if "\n" in cell.source else ""
    name, args = first.name, first.args
    if name in DISPLAY_CELL_MAGICS:
        return f"%%{name} cell, display only"
    if name in WRITEFILE_MAGICS:
        words = args.split()
        mode = "a" if "-a" in words or "--append" in words else "w"
        paths = [w for w in words if not w.startswith("-")]
        if len(paths) == 1:
            target = paths[0].strip("\"'")
            code = (
                f"with open(os.path.expanduser({target!r}), {mode!r}, encoding='utf-8') as written:\n"
                f"    written.write({body!r})"
            )
            return _Cleaned(code, [1, 1], {"os"})
    if name in SHELL_CELL_MAGICS:
        shell = SHELL_CELL_MAGICS[name] or (args.split()[0] if args.split() else None)
        if shell:
            kept = [line for line in body.splitlines() if not _INSTALL.search(line)]
            if not any(line.strip() for line in kept):
                return f"%%{name} cell that installs packages"
            script = "\n".join(kept) + ("\n" if body.endswith("\n") else "")
            if name in {"bash", "sh"}:
                code = f"subprocess.run({script!r}, shell=True, check=True, executable={shell!r})"
            else:  # %%script python3, %%system: the body is the program's standard input
                code = f"subprocess.run({shell!r}, input={script!r}, text=True, check=True)"
            return _Cleaned(code, [1], {"subprocess"})
    commented = "\n".join(f"# {line}" for line in cell.lines)
    return _Cleaned(
        commented,
        list(range(1, len(cell.lines) + 1)),
        set(),
        [f"cell {cell.number}: %%{name} cell ({len(cell.lines) - 1} line(s))"],
    )


def _no_effect(stmt: ast.stmt) -> bool:
    """An expression statement that cannot change anything: a name, a constant, an attribute of a
    name (``model.coef_``), or a tuple of those. A call, a subscript (``defaultdict``) or an
    operator (``__add__``) may have an effect, so it stays."""
    if not isinstance(stmt, ast.Expr):
        return False
    return _pure(stmt.value)


def _pure(node: ast.expr) -> bool:
    if isinstance(node, ast.Name | ast.Constant):
        return True
    if isinstance(node, ast.Attribute):
        return _pure(node.value) and not isinstance(node.value, ast.Constant)
    if isinstance(node, ast.Tuple):
        return all(_pure(e) for e in node.elts)
    return False


def _shares_a_line(stmt: ast.stmt, statements: list[ast.stmt]) -> bool:
    """``x; fit(X)`` on one line: dropping the line would drop the call with it."""
    lines = set(range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1))
    return any(
        other is not stmt and lines & set(range(other.lineno, (other.end_lineno or other.lineno) + 1))
        for other in statements
    )


def _removable_definition(stmt: ast.stmt) -> bool:
    """A def or class whose definition runs no code of its own: no decorators (they may register
    it), defaults and bases that are names or constants, a class body of defs and constants."""
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
        defaults = [*stmt.args.defaults, *(d for d in stmt.args.kw_defaults if d is not None)]
        return not stmt.decorator_list and all(_pure(d) for d in defaults)
    if isinstance(stmt, ast.ClassDef):
        return (
            not stmt.decorator_list
            and not stmt.keywords
            and all(_pure(b) for b in stmt.bases)
            and all(
                _removable_definition(s)
                or isinstance(s, ast.Pass)
                or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
                or (isinstance(s, ast.Assign | ast.AnnAssign) and s.value is not None and _pure(s.value))
                for s in stmt.body
            )
        )
    return False


def _check_syntax(display: str, cell: CodeCell, cleaned: _Cleaned) -> None:
    """The exported cell must parse; when it does not, say where in the notebook, not in ruff."""
    try:
        ast.parse(cleaned.text)
    except SyntaxError as exc:
        row = min(max((exc.lineno or 1), 1), max(len(cleaned.origin), 1))
        line = cleaned.origin[row - 1] if cleaned.origin else 1
        raise UsageError(
            f"{display}: cell {cell.number}, line {line}: the exported code is not valid Python "
            f"({exc.msg}); nothing exported",
            hint="rewrite the magic on that line as Python (or report the case: the export should "
            "have kept the code valid)",
        ) from None


def _check_script(display: str, text: str) -> None:
    try:
        ast.parse(text)
    except SyntaxError as exc:
        raise UsageError(
            f"{display}: the exported script is not valid Python (line {exc.lineno}: {exc.msg}); "
            "nothing exported",
            hint="run `mlrelease lint` on the notebook",
        ) from None


def _polish(text: str) -> str:
    """Format the script (ruff format, on plain Python that parses). Nothing is removed here."""
    formatted = engines.run_process(
        [
            engines.ruff_bin(),
            "format",
            "--isolated",
            "--no-cache",
            "--line-length",
            "110",
            "--stdin-filename",
            "pipeline.py",
            "-",
        ],
        stdin=text,
    ).stdout
    return re.sub(r"\n{4,}", "\n\n\n", formatted)
