"""Moves the build-only packages out of a compiled-only image's environment, in the builder stage.

Run as ``python -m mlrelease.image.prune VENV TARGET NAME...`` (standard library only). Each named
distribution's files, as its ``*.dist-info/RECORD`` lists them, move from the environment's
site-packages to the same relative place under ``TARGET``: the environment the runtime stage
copies no longer holds them, and the builder still imports them with ``PYTHONPATH=TARGET`` to
compile and prove the model (``mlrelease.serve.freeze``). A name that is not installed is an
error: the set comes from the lock, so it must all be there.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import sys
from pathlib import Path


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def distributions(site: Path) -> dict[str, Path]:
    """Normalized name -> its .dist-info folder."""
    out: dict[str, Path] = {}
    for info in sorted(site.glob("*.dist-info")):
        meta = info / "METADATA"
        name = next(
            (
                ln.split(":", 1)[1].strip()
                for ln in meta.read_text("utf-8").splitlines()
                if ln.startswith("Name:")
            ),
            info.name.split("-")[0],
        )
        out[_normalize(name)] = info
    return out


def move(site: Path, info: Path, target: Path) -> int:
    """Move every file ``info``'s RECORD lists (inside ``site``) under ``target``; the bytes moved."""
    moved = 0
    with (info / "RECORD").open(newline="", encoding="utf-8") as fh:
        paths = [row[0] for row in csv.reader(fh) if row]
    folders: set[Path] = set()
    for rel in paths:
        clean = os.path.normpath(rel)
        source = site / clean
        if clean.startswith("..") or not (source.exists() or source.is_symlink()):
            continue  # scripts in bin/ and files already gone stay where they are
        dest = target / clean
        dest.parent.mkdir(parents=True, exist_ok=True)
        moved += source.lstat().st_size
        shutil.move(str(source), dest)
        folders.add(source.parent)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        while folder != site and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
            folder = folder.parent
    return moved


def prune(venv: Path, target: Path, names: list[str]) -> int:
    sites = sorted(venv.glob("lib/python3*/site-packages"))
    if len(sites) != 1:
        raise SystemExit(f"{venv}: expected one site-packages, found {len(sites)}")
    site = sites[0]
    installed = distributions(site)
    missing = [n for n in names if _normalize(n) not in installed]
    if missing:
        raise SystemExit(f"build-only packages not installed: {', '.join(missing)}")
    return sum(move(site, installed[_normalize(n)], target) for n in names)


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m mlrelease.image.prune VENV TARGET [NAME...]", file=sys.stderr)
        return 2
    venv, target, names = Path(argv[0]), Path(argv[1]), argv[2:]
    target.mkdir(parents=True, exist_ok=True)
    moved = prune(venv, target, names)
    print(
        f"prune: {len(names)} build-only packages ({moved / 1e6:.1f} MB) moved to {target}: {' '.join(names)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
