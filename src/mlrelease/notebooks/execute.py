"""``lint --execute``: run the notebook top to bottom in a fresh kernel and compare outputs.

nbclient drives a real ipykernel with a per-cell timeout, in the kernel ``kernels`` builds from
the handoff's lock (or, when asked, in mlrelease's own environment). The run happens in a scratch copy of
the handoff (the repository the notebook lives in, else its folder), with the copy's notebook
folder as the working directory: whatever the notebook writes (a model file, a CSV it
overwrites) lands in the copy, and the handoff's own files are never written. The first failing
cell is reported with its traceback (NB801); each stored text output that a fresh run does not
reproduce is reported (NB802), numbers compared within ``lint.rtol`` (numpy 2's
``np.float64(0.96)`` is the ``0.96`` numpy 1 printed).
"""

from __future__ import annotations

import math
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from mlrelease.config import LintConfig
from mlrelease.notebooks.kernels import CURRENT, Kernel, visible
from mlrelease.notebooks.rules import Hit
from mlrelease.notebooks.source import Notebook, reads

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")
_NUMBER = re.compile(
    r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?(?:[eE][-+]?\d+)?|[-+]?\.\d+(?:[eE][-+]?\d+)?"
)
# outputs that measure time or memory are not meant to reproduce
_TIMING_MAGICS = {"time", "timeit", "prun", "memit"}
# numpy 2 shows scalars as ``np.float64(0.96)`` where numpy 1 showed ``0.96``: the same value
_NUMPY_SCALAR = re.compile(r"\bnp\.(?:float|int|uint|complex|longdouble|bool)\w*\(([^()]*)\)")
_NUMPY_STR = re.compile(r"\bnp\.(?:str_|bytes_)\(([^()]*)\)")
_NUMPY_BOOL = re.compile(r"\bnp\.(True|False)_\b")
# never copied into the scratch handoff: version control, environments, caches
_NOT_COPIED = (".git", ".venv", "venv", "node_modules", "__pycache__", ".ipynb_checkpoints", ".mypy_cache")


def run_fresh(
    nb: Notebook, timeout_s: float, root: Path | None = None, kernel: Kernel = CURRENT
) -> tuple[Any, int | None, str | None]:
    """Execute the notebook in ``kernel``, in a scratch copy of ``root`` (default: the notebook's
    folder); return (executed notebook, failing cell index, failure text). Nothing under ``root``
    is written."""
    folder = nb.path.parent.resolve()
    base = (root or folder).resolve()
    if not folder.is_relative_to(base):
        base = folder
    with tempfile.TemporaryDirectory(prefix="mlrelease-execute-") as tmp:
        scratch = Path(tmp) / (base.name or "handoff")
        shutil.copytree(base, scratch, symlinks=True, ignore=shutil.ignore_patterns(*_NOT_COPIED))
        with visible(kernel):
            return _run_in(nb, timeout_s, scratch / folder.relative_to(base), kernel.name)


def _run_in(
    nb: Notebook, timeout_s: float, workdir: Path, kernel_name: str
) -> tuple[Any, int | None, str | None]:
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    fresh = reads(nb.raw_text)
    current: dict[str, int] = {}

    def on_start(cell: Any, cell_index: int) -> None:
        current["index"] = cell_index

    client = NotebookClient(
        fresh,
        timeout=math.ceil(timeout_s),
        kernel_name=kernel_name,
        resources={"metadata": {"path": str(workdir)}},
        on_cell_execute=on_start,
    )
    try:
        client.execute()
    except CellTimeoutError:
        return fresh, current.get("index"), f"timed out after {timeout_s:g} s (lint.cell_timeout_s)"
    except CellExecutionError:
        index = current.get("index")
        for i, cell in enumerate(fresh.cells):
            if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
                index = i
                break
        return fresh, index, _traceback(fresh.cells[index]) if index is not None else "failed"
    except DeadKernelError as exc:
        return fresh, current.get("index"), f"the kernel died: {exc}"
    return fresh, None, None


def _traceback(cell: Any) -> str:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            lines = [_ANSI.sub("", line) for line in out.get("traceback", [])]
            text = "\n".join(lines).strip()
            tail = "\n".join(text.splitlines()[-25:])
            return f"{out.get('ename')}: {out.get('evalue')}\n{tail}"
    return "failed"


def text_outputs(outputs: list[dict[str, Any]]) -> str:
    parts = []
    for out in outputs:
        kind = out.get("output_type")
        if kind == "stream" and out.get("name") == "stdout":
            text = out.get("text", "")
            parts.append(text if isinstance(text, str) else "".join(text))
        elif kind in {"execute_result"}:
            text = (out.get("data") or {}).get("text/plain", "")
            parts.append(text if isinstance(text, str) else "".join(text))
    return "".join(parts)


def _normal(line: str) -> str:
    """A line of output without what differs between equal results: addresses, numpy's scalar repr."""
    line = _ADDRESS.sub("0x…", line.rstrip())
    line = _NUMPY_SCALAR.sub(r"\1", line)
    line = _NUMPY_STR.sub(r"\1", line)
    return _NUMPY_BOOL.sub(r"\1", line)


def same_text(stored: str, fresh: str, rtol: float) -> tuple[bool, str]:
    """Whether two outputs agree: text equal, numbers equal within ``rtol``; else the first difference."""
    a_lines = [_normal(line) for line in stored.strip().splitlines()]
    b_lines = [_normal(line) for line in fresh.strip().splitlines()]
    if len(a_lines) != len(b_lines):
        return False, f"{len(a_lines)} stored line(s), {len(b_lines)} now"
    for a, b in zip(a_lines, b_lines, strict=True):
        if _NUMBER.split(a) != _NUMBER.split(b):
            return False, f"stored {a.strip()[:80]!r}, now {b.strip()[:80]!r}"
        for x, y in zip(_NUMBER.findall(a), _NUMBER.findall(b), strict=True):
            fx, fy = float(x.replace(",", "")), float(y.replace(",", ""))
            if not math.isclose(fx, fy, rel_tol=rtol, abs_tol=0.0) and x != y:
                return False, f"stored {a.strip()[:80]!r}, now {b.strip()[:80]!r} ({x} vs {y})"
    return True, ""


def execution_hits(
    nb: Notebook, cfg: LintConfig, root: Path | None = None, kernel: Kernel = CURRENT
) -> list[Hit]:
    fresh, failed, why = run_fresh(nb, cfg.cell_timeout_s, root, kernel)
    hits: list[Hit] = []
    if failed is not None:
        hits.append(Hit("NB801", failed, None, f"cell {failed + 1} fails in a fresh kernel: {why}"))
    for cell in nb.code:
        if failed is not None and cell.index >= failed:
            break
        if cell.execution_count is None or any(m.name in _TIMING_MAGICS for m in cell.magics):
            continue
        stored = text_outputs(cell.outputs)
        if not stored.strip():
            continue
        now = text_outputs(fresh.cells[cell.index].get("outputs", []))
        ok, diff = same_text(stored, now, cfg.rtol)
        if not ok:
            hits.append(Hit("NB802", cell.index, None, f"stored output not reproduced: {diff}"))
    return hits
