"""The hash-locked ``requirements.txt`` an image installs, parsed once into typed pins."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from mlrelease.errors import Problem, UsageError

_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;\\]+)")
_HASH = re.compile(r"--hash=sha256:(?P<hex>[0-9a-f]{64})")


def normalize(name: str) -> str:
    """PEP 503 name: lower case, runs of ``-_.`` become one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Pin:
    name: str  # normalized
    version: str
    hashes: frozenset[str]


@dataclass(frozen=True)
class Lock:
    path: Path
    pins: tuple[Pin, ...]
    sha256: str

    def versions(self) -> dict[str, str]:
        return {p.name: p.version for p in self.pins}

    def all_hashes(self) -> frozenset[str]:
        return frozenset(h for p in self.pins for h in p.hashes)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Join backslash continuations; drop comments. Yields (first line number, text)."""
    out: list[tuple[int, str]] = []
    buf, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0] if not raw.lstrip().startswith("#") else ""
        if not buf:
            start = number
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        buf += line
        if buf.strip():
            out.append((start, buf.strip()))
        buf = ""
    if buf.strip():
        out.append((start, buf.strip()))
    return out


def read_lock(path: Path) -> Lock:
    """Parse ``path``; every requirement must be pinned with ``==`` and carry sha256 hashes."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(
            f"{path}: cannot read the lock file: {exc.strerror or exc}",
            hint="run `mlrelease lock` to write it",
        ) from None
    text = data.decode("utf-8", errors="replace")
    pins: list[Pin] = []
    problems: list[Problem] = []
    for number, line in _logical_lines(text):
        if line.startswith("-"):  # --index-url and friends apply on the host only
            continue
        match = _PIN.match(line)
        if not match:
            what = f"'{line.split()[0]}' is not pinned with =="
            problems.append(Problem(what, file=str(path), line=number))
            continue
        hashes = frozenset(m.group("hex") for m in _HASH.finditer(line))
        if not hashes:
            problems.append(
                Problem(f"{match.group('name')} has no --hash=sha256:...", file=str(path), line=number)
            )
            continue
        pins.append(Pin(normalize(match.group("name")), match.group("version"), hashes))
    if problems:
        raise UsageError(
            f"{path}: not a hash-locked requirements file",
            problems=problems,
            hint="run `mlrelease lock`, which pins every package with its hashes",
        )
    if not pins:
        raise UsageError(f"{path}: the lock file lists no packages", hint="run `mlrelease lock`")
    return Lock(path=Path(path), pins=tuple(pins), sha256=hashlib.sha256(data).hexdigest())
