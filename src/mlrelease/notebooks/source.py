"""Reading a notebook and turning its code cells into plain Python that the engines can check.

IPython syntax (``%magic``, ``%%cell magic``, ``!shell``, ``x = !cmd``, ``obj?``) is translated line
for line, so every line of the translated cell is the line of the same number in the original
cell and locations stay exact. The translation keeps what the magic means for names: ``%%capture
out`` defines ``out``; the Python bodies of ``%%time``/``%%timeit``/``%%capture`` stay Python;
``%time x = f()`` and ``%timeit f()`` keep their statement. This is why we do not hand the
``.ipynb`` to ruff directly: ruff skips every cell that holds a magic it cannot parse, so a name a
magic uses would look unused and ``ruff --fix`` would delete the import that magic needs.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from mlrelease.errors import UsageError


@contextmanager
def _quiet() -> Iterator[None]:
    """nbformat warns on stderr about cells without an id (nbformat 4.5 made ids required, and
    notebooks saved by older tools lack them); the ids play no part in linting or running a
    notebook, so the warning is noise in a CI log."""
    from nbformat.warnings import MissingIDFieldWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingIDFieldWarning)
        yield


def reads(text: str) -> NotebookNode:
    """``nbformat.reads(text, as_version=4)`` without the missing-id warning."""
    with _quiet():
        notebook: NotebookNode = nbformat.reads(text, as_version=4)  # nbformat's reads is untyped
        return notebook


# cell magics whose body is ordinary Python, run in the notebook's namespace
PYTHON_BODY_MAGICS = {"time", "timeit", "capture", "prun", "debug", "memit", "snakeviz"}
# line magics whose argument is a Python statement
PYTHON_ARG_MAGICS = {"time", "timeit", "prun", "memit", "debug"}
# line magics ``%mprun -f func stmt`` / ``%lprun -f func stmt``: they use each ``-f`` function and run stmt
PROFILER_MAGICS = {"mprun", "lprun"}
# cell magics that write their body to a file: ``%%file path`` / ``%%writefile [-a] path``
WRITEFILE_MAGICS = {"file", "writefile"}
SHELL_CELL_MAGICS = {"bash", "sh", "script", "system"}

_INLINE_IGNORE = re.compile(r"#\s*mlrelease:\s*ignore(?:\[([A-Za-z0-9_,\s]+)\])?", re.IGNORECASE)
_LINE_MAGIC = re.compile(r"^(\s*)(?:([\w.\[\]\s,()]+?)\s*=\s*)?(%{1,2}|!{1,2})\s*(.*)$")
_MAGIC_OPTS = re.compile(r"^(?:-[a-zA-Z]+\s*\d*\s+)*")


class NotebookUnreadable(UsageError):
    """A file that is not a readable notebook: bad JSON, wrong nbformat, empty."""

    title = "unreadable notebook"


@dataclass(frozen=True)
class MagicLine:
    """A line that is IPython syntax, not Python."""

    line: int  # 1-based, in the cell
    kind: str  # "line-magic", "cell-magic", "shell", "help"
    name: str  # magic name, or the shell command's first word
    args: str
    text: str  # the original line


@dataclass
class CodeCell:
    index: int  # position among all cells of the notebook
    source: str  # as stored
    python: str  # translated, same number of lines
    execution_count: int | None
    outputs: list[dict[str, Any]]
    magics: list[MagicLine] = field(default_factory=list)
    shell_cell: bool = False  # %%bash and friends: the body is not Python
    tree: ast.Module | None = None
    syntax_error: str | None = None
    ignores: dict[int, frozenset[str] | None] = field(default_factory=dict)

    @property
    def lines(self) -> list[str]:
        return self.source.splitlines()

    @property
    def number(self) -> int:
        """The cell's number as shown to the user: its position among all cells, from 1."""
        return self.index + 1

    def ignored(self, line: int | None, rule_id: str) -> bool:
        """True when the line carries ``# mlrelease: ignore`` or ``# mlrelease: ignore[<rule_id>]``."""
        if line is None or line not in self.ignores:
            return False
        rules = self.ignores[line]
        return rules is None or rule_id in rules


@dataclass
class Notebook:
    path: Path
    display: str  # the path as shown to the user
    sha256: str
    cells: list[dict[str, Any]]  # all cells, as nbformat dicts
    code: list[CodeCell]
    raw_text: str
    raw_sources: list[str | list[str]] = field(default_factory=list, repr=False)
    _source_lines: list[int] = field(default_factory=list, repr=False)

    def file_line(self, cell: int, line: int | None) -> int:
        """The line in the .ipynb file where ``line`` of cell ``cell`` is stored (for SARIF/annotations)."""
        if not self._source_lines:
            self._source_lines = _source_key_lines(self.raw_text)
        if cell >= len(self._source_lines):
            return 1
        start = self._source_lines[cell]
        src = self.raw_sources[cell] if cell < len(self.raw_sources) else ""
        if isinstance(src, list) and line:
            return start + min(line, max(len(src), 1))
        return start

    @property
    def executed(self) -> bool:
        return any(c.execution_count is not None for c in self.code)


def _source_key_lines(text: str) -> list[int]:
    """Line numbers of the ``"source":`` key of each cell, in order.

    Escaped quotes inside JSON strings read ``\\"source\\":``, so a match on an unescaped quote is
    a key; the notebook-level metadata has no ``source`` key.
    """
    lines = []
    for n, row in enumerate(text.splitlines(), 1):
        if re.search(r'(?<!\\)"source"\s*:', row):
            lines.append(n)
    return lines


def read(path: Path, display: str | None = None) -> Notebook:
    """Read and validate one notebook; raise NotebookUnreadable with one line naming the problem."""
    shown = display or str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise NotebookUnreadable(f"{shown}: cannot read ({exc.strerror or exc})") from None
    if not data.strip():
        raise NotebookUnreadable(f"{shown}: the file is empty, expected notebook JSON (nbformat 4)")
    try:
        text = data.decode("utf-8")
        raw = json.loads(text)
    except UnicodeDecodeError:
        raise NotebookUnreadable(f"{shown}: not UTF-8 text, expected notebook JSON") from None
    except json.JSONDecodeError as exc:
        raise NotebookUnreadable(
            f"{shown}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise NotebookUnreadable(
            f"{shown}: nested deeper than the JSON reader allows; not a notebook"
        ) from None
    if not isinstance(raw, dict) or ("cells" not in raw and "worksheets" not in raw):
        raise NotebookUnreadable(f"{shown}: not a notebook (no 'cells' list at the top level)")
    major = raw.get("nbformat")
    if major != 4:
        raise NotebookUnreadable(
            f"{shown}: nbformat {major!r} is not supported, expected 4 "
            "(convert with `jupyter nbconvert --to notebook --nbformat 4`)"
        )
    try:
        nb = reads(text)
        with _quiet():
            nbformat.validate(nb)
    except Exception as exc:  # nbformat raises several types; all mean "not a valid notebook"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise NotebookUnreadable(f"{shown}: not a valid nbformat 4 notebook ({first})") from None
    cells = [dict(c) for c in nb.cells]
    code = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        code.append(_code_cell(i, cell))
    return Notebook(
        path=path,
        display=shown,
        sha256=hashlib.sha256(data).hexdigest(),
        cells=cells,
        code=code,
        raw_text=text,
        raw_sources=[c.get("source", "") for c in raw.get("cells", []) if isinstance(c, dict)],
    )


def _code_cell(index: int, cell: Any) -> CodeCell:
    source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
    outputs = [dict(o) for o in cell.get("outputs", [])]
    cc = CodeCell(index, source, "", cell.get("execution_count"), outputs)
    cc.python, cc.magics, cc.shell_cell = translate(source)
    try:
        cc.tree = ast.parse(cc.python)
    except SyntaxError as exc:
        # a null byte is refused before any line is read: no "line" then
        cc.syntax_error = f"line {exc.lineno}: {exc.msg}" if exc.lineno else exc.msg
        cc.tree = None
    for n, text in enumerate(source.splitlines(), 1):
        m = _INLINE_IGNORE.search(text)
        if m:
            cc.ignores[n] = (
                frozenset(r.strip().upper() for r in m.group(1).split(",") if r.strip())
                if m.group(1)
                else None
            )
    return cc


def translate(source: str) -> tuple[str, list[MagicLine], bool]:
    """Translate one cell's IPython source into Python with the same line numbers.

    Returns the Python text, the magic/shell lines found, and whether the whole cell is a shell
    cell (``%%bash``) whose body is not Python.
    """
    lines = source.splitlines()
    if not lines:
        return "", [], False
    try:
        ast.parse(source)
        return source, [], False  # plain Python: nothing to translate
    except SyntaxError:
        pass
    magics: list[MagicLine] = []
    out = list(lines)
    start = 0
    shell_cell = False
    first = lines[0].strip()
    if first.startswith("%%"):
        name, _, args = first[2:].partition(" ")
        args = args.strip()
        magics.append(MagicLine(1, "cell-magic", name, args, lines[0]))
        if name in PYTHON_BODY_MAGICS:
            target = (
                args.split()[-1]
                if name == "capture" and args and not args.split()[-1].startswith("-")
                else ""
            )
            out[0] = f"{target} = get_ipython()" if target.isidentifier() else "pass"
            start = 1
        else:
            # the body is another language (bash, html, sql, writefile): no Python in it
            shell_cell = name in SHELL_CELL_MAGICS
            out = ["pass"] + ["" for _ in lines[1:]]
            return "\n".join(out) + "\n", magics, shell_cell
    for i in range(start, len(lines)):
        text = lines[i]
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("?") and not stripped.startswith(("#", "%", "!")) and _help_line(stripped):
            magics.append(MagicLine(i + 1, "help", "pinfo", stripped.rstrip("?"), text))
            out[i] = _indent(text) + "get_ipython()"
            continue
        m = _LINE_MAGIC.match(text)
        if not m:
            continue
        indent, target, sigil, rest = m.groups()
        if target is not None and not all(
            t.strip().isidentifier() for t in re.split(r"[,()\[\]]", target) if t.strip()
        ):
            continue
        if sigil.startswith("!"):
            word = rest.split()[0] if rest.split() else ""
            magics.append(MagicLine(i + 1, "shell", word, rest, text))
            arg = interpolated(rest)
            call = f"get_ipython().getoutput({arg})" if target else f"get_ipython().system({arg})"
        else:
            name, _, args = rest.partition(" ")
            magics.append(MagicLine(i + 1, "line-magic", name, args.strip(), text))
            call = f"get_ipython().run_line_magic({name!r}, {interpolated(args.strip())})"
            if name in PYTHON_ARG_MAGICS:
                stmt = _MAGIC_OPTS.sub("", args.strip())
                if _parses(stmt):
                    call = stmt
            elif name in PROFILER_MAGICS:
                funcs, stmt = profiler_args(args.strip())
                if funcs and all(_parses(f) for f in funcs) and _parses(stmt):
                    call = "; ".join([*funcs, stmt])
        out[i] = f"{indent}{target} = {call}" if target else f"{indent}{call}"
    return "\n".join(out) + "\n", magics, shell_cell


def interpolated(text: str) -> str:
    """The Python literal of a magic's or shell line's argument: an f-string when it holds
    ``{expr}`` (IPython expands those from the namespace, so the names are used), else a string."""
    if "{" in text:
        candidate = "f" + repr(text)
        try:
            ast.parse(candidate, mode="eval")
            return candidate
        except SyntaxError:  # `awk '{print $1}'`: braces that are not Python
            pass
    return repr(text)


def profiler_args(args: str) -> tuple[list[str], str]:
    """``-f train -f load train(X)`` -> (["train", "load"], "train(X)"): the profiled functions and
    the statement %mprun / %lprun runs."""
    funcs: list[str] = []
    words = args.split()
    while words and words[0].startswith("-"):
        opt = words.pop(0)
        if opt in {"-f", "-m", "-T"} and words:
            value = words.pop(0)
            if opt == "-f":
                funcs.append(value)
    return funcs, " ".join(words)


def _help_line(stripped: str) -> bool:
    body = stripped.lstrip("?").rstrip("?")
    return bool(re.fullmatch(r"[\w.()\[\]'\"]+", body))


def _indent(text: str) -> str:
    return text[: len(text) - len(text.lstrip())]


def _parses(text: str) -> bool:
    try:
        ast.parse(text)
    except SyntaxError:
        return False
    return bool(text.strip())
