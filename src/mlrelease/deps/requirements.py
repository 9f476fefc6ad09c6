"""Reading pip requirements files: the loose ``requirements.in`` and the locked ``requirements.txt``.

Only the subset pip-compile and uv write or read is understood: one requirement per logical line
(backslash continuations joined), ``#`` comments, ``-r``/``-c`` includes, index options, and
``--hash=`` options. Anything else is kept as an option line, so nothing is silently dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mlrelease.errors import Problem, UsageError

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_INCLUDE = re.compile(r"^(-r|--requirement|-c|--constraint)(?:\s+|=)(\S+)$")


def canonical(name: str) -> str:
    """PEP 503 normalized distribution name: ``Scikit_Learn`` -> ``scikit-learn``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, content) per logical line: continuations joined, comments removed."""
    start, parts = 0, []
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not parts:
            start = number
        if line.endswith("\\"):
            parts.append(line[:-1].strip())
            continue
        parts.append(line.strip())
        joined = " ".join(p for p in parts if p)
        parts = []
        if joined:
            yield start, joined


@dataclass(frozen=True)
class InputLine:
    """One meaningful line of a requirements input, after includes are expanded."""

    text: str
    file: Path
    line: int
    kind: Literal["requirement", "constraint", "option"]

    @property
    def name(self) -> str | None:
        if self.kind == "option" or self.text.startswith("-"):
            return None
        m = _NAME.match(self.text)
        return canonical(m.group(1)) if m else None


def read_inputs(
    path: Path, *, _seen: frozenset[Path] = frozenset(), _kind: str = "requirement"
) -> list[InputLine]:
    """The lines of ``requirements.in`` with ``-r``/``-c`` files expanded in place."""
    path = Path(path)
    if path.resolve() in _seen:
        raise UsageError(f"{path}: includes itself through -r/-c")
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise UsageError(
            f"requirements file {path} does not exist", hint="create it, or fix 'requirements'"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read requirements file {path}: {exc}") from None
    out: list[InputLine] = []
    for number, line in logical_lines(text):
        m = _INCLUDE.match(line)
        if m:
            target = (path.parent / m.group(2)).resolve()
            kind = "constraint" if m.group(1) in ("-c", "--constraint") else _kind
            out += read_inputs(target, _seen=_seen | {path.resolve()}, _kind=kind)
        elif line.startswith("-"):
            out.append(InputLine(line, path, number, "option"))
        else:
            out.append(InputLine(line, path, number, _kind))  # type: ignore[arg-type]
    return out


def parse_text_inputs(text: str, label: str) -> list[InputLine]:
    """Lines of an input given as text (the server's packaged requirements)."""
    return [
        InputLine(line, Path(label), n, "option" if line.startswith("-") else "requirement")
        for n, line in logical_lines(text)
    ]


@dataclass(frozen=True)
class Pin:
    """One entry of a lock file."""

    name: str  # canonical
    text: str  # the requirement without its options
    line: int
    version: str | None  # set only for an exact ``==`` pin
    hashes: tuple[str, ...] = field(default=())

    @property
    def exact(self) -> bool:
        return self.version is not None


@dataclass(frozen=True)
class LockFile:
    path: Path
    pins: tuple[Pin, ...]
    options: tuple[str, ...]
    unparsed: tuple[Problem, ...]

    def by_name(self) -> dict[str, Pin]:
        return {p.name: p for p in self.pins}


_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*===?\s*([^\s;]+)\s*(;.*)?$")


def read_lock(path: Path) -> LockFile:
    """Parse a (hash-)pinned requirements file, keeping line numbers for messages."""
    try:
        text = Path(path).read_text("utf-8")
    except FileNotFoundError:
        raise UsageError(f"lock file {path} does not exist", hint="run `mlrelease lock` first") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read lock file {path}: {exc}") from None
    return parse_lock(text, Path(path))


def parse_lock(text: str, path: Path) -> LockFile:
    pins: list[Pin] = []
    options: list[str] = []
    unparsed: list[Problem] = []
    for number, line in logical_lines(text):
        tokens = line.split()
        hashes = tuple(t.split("=", 1)[1] for t in tokens if t.startswith("--hash="))
        req = " ".join(t for t in tokens if not t.startswith("--hash="))
        if req.startswith("-"):
            options.append(req)
            continue
        m = _PIN.match(req)
        name_match = _NAME.match(req)
        if name_match is None:
            unparsed.append(Problem(f"cannot read this line: {req!r}", file=str(path), line=number))
            continue
        exact = m is not None and not any(c in m.group(3) for c in "*,")
        pins.append(
            Pin(
                name=canonical(name_match.group(1)),
                text=req,
                line=number,
                version=m.group(3) if exact and m else None,
                hashes=hashes,
            )
        )
    return LockFile(Path(path), tuple(pins), tuple(options), tuple(unparsed))
