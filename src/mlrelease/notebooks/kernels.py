"""The kernel ``lint --execute`` runs a notebook in.

By default, the handoff's own environment: a virtual environment built with uv from the handoff's
lock (``--require-hashes``), then the development requirements beside it (``requirements-dev.in``:
plots, the kernel) constrained by the lock, and ipykernel. It is cached under
``$MLRELEASE_CACHE`` (default ``~/.cache/mlrelease``) in ``kernels/<key>``, the key being the
sha256 of the lock and the development requirements, so it is built once per lock. A notebook then
passes or fails for the packages the handoff declares, not for what mlrelease happens to have
installed. ``--kernel current`` runs in mlrelease's own environment instead, and only when asked.

A half-built environment is never used: it is built in a temporary folder and renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mlrelease import process
from mlrelease.errors import EnvironmentUnavailable, UsageError

DEV_REQUIREMENTS = "requirements-dev.in"


@dataclass(frozen=True)
class Kernel:
    name: str  # the kernelspec's name
    spec_root: Path | None  # a folder with kernels/<name>/kernel.json (for JUPYTER_PATH); None: installed
    description: str  # what the report says the notebook ran in


CURRENT = Kernel("python3", None, "mlrelease's own environment (--kernel current)")


def cache_root() -> Path:
    base = os.environ.get("MLRELEASE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "mlrelease"
    )
    return Path(base)


def _uv() -> str:
    here = Path(sys.executable).parent / "uv"
    found = str(here) if here.exists() else shutil.which("uv")
    if not found:
        raise EnvironmentUnavailable(
            "uv is not installed: it builds the handoff's kernel",
            hint="pip install uv, or pass --kernel current",
        )
    return found


def lock_kernel(lock: Path, display: str) -> Kernel:
    """The kernel of the environment ``lock`` describes (built on first use, then cached)."""
    if not lock.is_file():
        raise UsageError(
            f"{display}: no lock to build the notebook's kernel from",
            hint="run `mlrelease lock`, or pass --kernel current to run in mlrelease's own environment",
        )
    dev = lock.parent / DEV_REQUIREMENTS
    digest = hashlib.sha256(lock.read_bytes())
    if dev.is_file():
        digest.update(b"\0" + dev.read_bytes())
    key = digest.hexdigest()[:16]
    name = f"mlrelease-{key}"
    root = cache_root() / "kernels"
    venv = root / key
    described = f"the handoff's lock {display}" + (f" + {DEV_REQUIREMENTS}" if dev.is_file() else "")
    kernel = Kernel(name, venv / "share" / "jupyter", f"{described} (venv {venv})")
    if (venv / "ready").is_file():
        return kernel
    root.mkdir(parents=True, exist_ok=True)
    building = root / f".{key}-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    try:
        _build(building, venv, name, lock, dev if dev.is_file() else None, display)
        try:
            building.rename(venv)
        except OSError:  # another run built it meanwhile
            if not (venv / "ready").is_file():
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return kernel


def _build(folder: Path, final: Path, name: str, lock: Path, dev: Path | None, display: str) -> None:
    uv = _uv()
    hint = "fix the lock (`mlrelease lock`), or pass --kernel current"
    process.run(
        [uv, "venv", "--quiet", "--python", sys.executable, str(folder)], error=EnvironmentUnavailable
    )
    python = str(folder / "bin" / "python")
    has_packages = any(
        line.strip() and not line.lstrip().startswith(("#", "--"))
        for line in lock.read_text("utf-8").splitlines()
    )
    if has_packages:
        process.run(
            [uv, "pip", "install", "--quiet", "--python", python, "--require-hashes", "-r", str(lock)],
            what=f"installing {display}",
            hint=hint,
        )
    extra = ["-r", str(dev), "-c", str(lock)] if dev is not None else []
    process.run(
        [uv, "pip", "install", "--quiet", "--python", python, "ipykernel", *extra],
        what="installing the kernel (ipykernel" + (f" and {dev.name})" if dev else ")"),
        hint=hint,
    )
    spec = folder / "share" / "jupyter" / "kernels" / name
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [
                    str(final / "bin" / "python"),
                    "-m",
                    "ipykernel_launcher",
                    "-f",
                    "{connection_file}",
                ],
                "display_name": f"mlrelease {name}",
                "language": "python",
            }
        ),
        encoding="utf-8",
    )
    (folder / "ready").write_text("")


@contextmanager
def visible(kernel: Kernel) -> Iterator[None]:
    """Make the kernel's spec findable by jupyter_client for the duration of a run."""
    if kernel.spec_root is None:
        yield
        return
    before = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join([str(kernel.spec_root), *([before] if before else [])])
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = before
