"""The files that pass between steps: written atomically, read back typed and versioned.

Every artifact (``lint.json``, ``metrics.json``, ``gate.json``, ``image.json``, ...) goes through
``write_text``/``write_json``/``write_bytes``: a temporary file in the same folder, then a rename.
Each JSON artifact is read through ``read_document``, which refuses a file that is unreadable,
not a JSON object, or of another ``schema_version`` with one error, ``errors.ArtifactError``
(exit 2). The typed readers live beside it (``artifacts.metrics``); ``artifacts.catalogue`` lists
every artifact with its JSON Schema (published in ``schemas/``, described in docs/artifacts.md).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from mlrelease.errors import ArtifactError, UsageError

T = TypeVar("T")


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically; a path that cannot be written is bad input (exit 2)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise unwritable(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; artifacts are read by other users (CI, images)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise unwritable(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_writable(path: Path, *, folder: bool = False) -> None:
    """Refuse, before any work, an output ``path`` (a file, or a ``folder``) that cannot be
    written: a folder where a file belongs or the reverse, a file among its parents, or no write
    permission on the nearest existing parent. Run it for every output of a command first, so
    that one bad path leaves none of the others written."""
    path = Path(path)
    if path.exists() and path.is_dir() != folder:
        what = "a folder" if path.is_dir() else "a file"
        raise UsageError(
            f"{path}: is {what}, expected {'a folder' if folder else 'a file'} to write into",
            hint="choose another output path",
        )
    parent = path if folder else path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(
            f"{path}: cannot write here: {parent} is a file, not a folder",
            hint="choose an output path in a folder you can write to",
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(
            f"{path}: cannot write here: no permission to write in {parent}",
            hint="choose an output path in a folder you can write to",
        )


def unwritable(path: Path, exc: OSError) -> UsageError:
    """The error for an output path that cannot be written: the path, the reason, the fix."""
    return UsageError(
        f"{path}: cannot write here: {exc.strerror or exc}",
        hint="choose an output path in a folder you can write to",
    )


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


def read_document(path: Path, *, kind: str, version: int, hint: str) -> dict[str, Any]:
    """Read the JSON artifact ``kind`` (e.g. "metrics.json") at ``path`` and check its
    ``schema_version`` is ``version``. ``hint`` says how to write the file again. Every problem,
    including a file written by a newer mlrelease, is one ``ArtifactError`` naming the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path}: no such file", hint=hint) from None
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read: {exc.strerror or exc}", hint=hint) from None
    except RecursionError:
        raise ArtifactError(
            f"{path}: nested deeper than the JSON reader allows; not a {kind}", hint=hint
        ) from None
    except ValueError as exc:
        raise ArtifactError(f"{path}: not valid JSON: {exc}", hint=hint) from None
    if not isinstance(data, dict):
        raise ArtifactError(f"{path}: expected a JSON object, the content of a {kind}", hint=hint)
    found = data.get("schema_version")
    if found != version:
        newer = isinstance(found, int) and not isinstance(found, bool) and found > version
        raise ArtifactError(
            f"{path}: {kind} schema_version {found!r} is not {version}"
            + (": it was written by a newer mlrelease" if newer else ""),
            hint=("upgrade mlrelease, or " if newer else "") + hint,
        )
    return data


def malformed(path: Path | str, kind: str, exc: Exception, hint: str) -> ArtifactError:
    """The error for a document whose fields do not match its schema."""
    return ArtifactError(f"{path}: not a valid {kind}: {type(exc).__name__}: {exc}", hint=hint)


def read_typed(path: Path, *, kind: str, version: int, hint: str, build: Callable[[dict[str, Any]], T]) -> T:
    """``read_document``, check it against the artifact's published JSON Schema, then ``build``
    the typed record from it; a missing, mistyped or unknown value is the same ``ArtifactError``,
    naming the field (``checks[0].metric: 3 is not of type 'string'``)."""
    data = read_document(path, kind=kind, version=version, hint=hint)
    check_schema(path, data, kind=kind, hint=hint)
    try:
        return build(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise malformed(path, kind, exc, hint) from None


@functools.cache
def _validator(kind: str) -> Any:
    from jsonschema import Draft202012Validator

    from mlrelease.artifacts.catalogue import BY_NAME

    artifact = BY_NAME.get(kind)
    return None if artifact is None else Draft202012Validator(artifact.json_schema())


def check_schema(path: Path, data: dict[str, Any], *, kind: str, hint: str) -> None:
    """Refuse ``data`` (the document ``kind`` read from ``path``) when it does not match the
    artifact's JSON Schema in the catalogue: one ``ArtifactError`` naming the field."""
    from jsonschema.exceptions import best_match

    validator = _validator(kind)
    if validator is None:
        return
    error = best_match(validator.iter_errors(data))
    if error is None:
        return
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
    message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
    raise ArtifactError(f"{path}: not a valid {kind}: {where or '(top level)'}: {message}", hint=hint)


def json_safe(value: Any) -> Any:
    """``value`` with every float that is not finite (NaN, infinity) as None, tuples as lists."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
