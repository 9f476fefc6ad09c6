"""Writing the files that pass between steps: atomically, so nothing is ever half-written.

Every artifact (``lint.json``, ``metrics.json``, ``gate.json``, ``image.json``, ...) goes through
``write_text``/``write_json``/``write_bytes``: a temporary file in the same folder, then a rename.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; artifacts are read by other users (CI, images)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def create_text(path: Path, text: str) -> None:
    """Write a file that must not exist yet, atomically: FileExistsError if it does (or appears).

    The content goes to a temporary file first and is then hard-linked into place, which fails
    rather than replaces when ``path`` exists, so a file the user wrote is never overwritten.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8"))
        os.chmod(tmp, 0o644)
        os.link(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_json(path: Path, data: Any) -> None:
    """Write JSON with sorted keys and a trailing newline, so equal content gives equal bytes."""
    write_text(path, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n")


def sha256_file(path: Path) -> str:
    """The sha256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
