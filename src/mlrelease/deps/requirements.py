"""Reading pip requirements files: the loose ``requirements.in`` and the locked ``requirements.txt``.

Only the subset pip-compile and uv write or read is understood: one requirement per logical line
(backslash continuations joined), ``#`` comments, ``-r``/``-c`` includes, index options, and
``--hash=`` options. Anything else is kept as an option line, so nothing is silently dropped.

``requirements.in`` comes with an untrusted handoff, and its options reach the resolver: an index
or a find-links folder decides which code gets pinned. So a ``Policy`` screens the input first:
options that change where packages come from (and direct URL or path requirements) are refused
unless ``trust.requirements_options`` in mlrelease.yaml names them, ``-r``/``-c`` includes must
stay inside the handoff's folder, and a line that is neither an option nor a requirement is an
error naming its file and line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from mlrelease.errors import Problem, UsageError

if TYPE_CHECKING:
    from mlrelease.config import Config

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_INCLUDE = re.compile(r"^(-r|--requirement|-c|--constraint)(?:\s+|=)(\S+)$")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://|^file:")

# Options that change where packages come from, by the name trust.requirements_options uses.
SOURCE_OPTIONS = {
    "-i": "--index-url",
    "--index-url": "--index-url",
    "--extra-index-url": "--extra-index-url",
    "-f": "--find-links",
    "--find-links": "--find-links",
    "--trusted-host": "--trusted-host",
    "--no-index": "--no-index",
    "-e": "--editable",
    "--editable": "--editable",
}
# Options that choose among the builds of a package an index serves, never where it comes from.
BUILD_OPTIONS = frozenset({"--pre", "--prefer-binary", "--only-binary", "--no-binary", "--require-hashes"})
ALLOW_HINT = "remove it, or allow it by name in mlrelease.yaml: trust: {{requirements_options: [{name}]}}"


def canonical(name: str) -> str:
    """PEP 503 normalized distribution name: ``Scikit_Learn`` -> ``scikit-learn``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, content) per logical line: continuations joined, comments removed."""
    start, parts = 0, list[str]()
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
class Policy:
    """What a requirements input may do. ``root``: includes and local paths must resolve inside it
    (None: anywhere). ``options``: the source options (and ``url``) allowed by name."""

    root: Path | None
    options: frozenset[str] = frozenset()

    @classmethod
    def of(cls, cfg: Config) -> Policy:
        outside = "requirements" in cfg.trust.outside_paths
        return cls(None if outside else cfg.root, cfg.trust.requirements_options)

    def inside(self, path: Path) -> bool:
        return self.root is None or path.resolve().is_relative_to(self.root.resolve())


def option_name(text: str) -> str:
    """``--find-links=/x`` -> ``--find-links``; ``-f/x`` -> ``-f``."""
    token = text.split(None, 1)[0].split("=", 1)[0]
    if not token.startswith("--") and len(token) > 2:
        token = token[:2]
    return token


def option_value(text: str) -> str:
    """``--find-links=/x`` or ``--find-links /x`` or ``-f/x`` -> ``/x``."""
    name = option_name(text)
    return text[len(name) :].lstrip(" =").strip()


def _direct_name(text: str) -> str | None:
    """The distribution a URL or path requirement names: ``name @ url``, ``#egg=name``, or the
    wheel or sdist file name (``six-1.17.0-py2.py3-none-any.whl`` -> ``six``)."""
    if "@" in text.split("://", 1)[0] or re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[^\]]*\])?\s*@", text):
        m = _NAME.match(text)
        return canonical(m.group(1)) if m else None
    egg = re.search(r"[#&]egg=([A-Za-z0-9][A-Za-z0-9._-]*)", text)
    if egg:
        return canonical(egg.group(1))
    file = re.split(r"[/\\]", text.split("#", 1)[0].split("?", 1)[0].rstrip("/"))[-1]
    m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._]*?)-[0-9]", file)
    return canonical(m.group(1)) if m else None


def is_direct(text: str) -> bool:
    """A URL or a local path instead of a name from an index."""
    head = text.split(";", 1)[0].strip()
    if _URL.search(head) or re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[^\]]*\])?\s*@", head):
        return True
    return head.startswith((".", "/", "~")) or head.endswith((".whl", ".tar.gz", ".zip"))


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
        if is_direct(self.text):
            return _direct_name(self.text)
        m = _NAME.match(self.text)
        return canonical(m.group(1)) if m else None


def read_inputs(
    path: Path,
    *,
    policy: Policy | None = None,
    parse: bool = True,
    _seen: frozenset[Path] = frozenset(),
    _kind: str = "requirement",
) -> list[InputLine]:
    """The lines of ``requirements.in`` with ``-r``/``-c`` files expanded in place.

    ``policy`` screens them (default: nothing beyond plain requirements, includes only inside
    the file's own folder); every line it refuses is reported at once, with file and line.
    ``parse=False`` leaves out parsing each requirement (PEP 508, by packaging): for a caller
    that knows these exact lines were parsed before, as ``lock --check`` does from the lock's
    inputs digest.
    """
    path = Path(path)
    policy = policy or Policy(path.parent)
    lines, problems = _read(path, policy, _seen, _kind, parse)
    if problems:
        count = len(problems)
        raise UsageError(
            f"{path}: {count} line{'s' if count != 1 else ''} cannot be used",
            problems=problems,
        )
    return lines


def _read(
    path: Path, policy: Policy, seen: frozenset[Path], kind: str, parse: bool = True
) -> tuple[list[InputLine], list[Problem]]:
    if path.resolve() in seen:
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
    problems: list[Problem] = []

    def refuse(message: str, number: int, hint: str) -> None:
        problems.append(Problem(message, file=str(path), line=number, hint=hint))

    for number, line in logical_lines(text):
        shown = line if len(line) <= 120 else f"{line[:120]}... ({len(line):,} characters)"
        m = _INCLUDE.match(line)
        if m:
            target = path.parent / m.group(2)
            if not policy.inside(target):
                refuse(
                    f"'{shown}' includes {target.resolve()}, outside the handoff's folder {policy.root}",
                    number,
                    "keep included files inside the folder, or list 'requirements' in trust.outside_paths",
                )
                continue
            sub_kind = "constraint" if m.group(1) in ("-c", "--constraint") else kind
            sub, sub_problems = _read(target.resolve(), policy, seen | {path.resolve()}, sub_kind, parse)
            out += sub
            problems += sub_problems
        elif line.startswith("-"):
            name = option_name(line)
            allowed_as = SOURCE_OPTIONS.get(name)
            if allowed_as is None and name not in BUILD_OPTIONS:
                refuse(
                    f"'{shown}': unknown option {name}",
                    number,
                    "requirements.in takes requirements, -r/-c includes and "
                    + ", ".join(sorted(BUILD_OPTIONS | set(SOURCE_OPTIONS.values()))),
                )
            elif allowed_as is not None and allowed_as not in policy.options:
                refuse(
                    f"'{shown}': {allowed_as} changes where packages come from",
                    number,
                    ALLOW_HINT.format(name=allowed_as),
                )
            elif allowed_as == "--find-links" and not _URL.search(option_value(line)):
                links = path.parent / option_value(line)
                if not policy.inside(links):
                    refuse(
                        f"'{shown}' points to {links.resolve()}, outside the handoff's folder {policy.root}",
                        number,
                        "keep the folder inside the handoff, or list 'requirements' in trust.outside_paths",
                    )
                    continue
                out.append(InputLine(line, path, number, "option"))
            else:
                out.append(InputLine(line, path, number, "option"))
        elif is_direct(line):
            if "url" not in policy.options:
                refuse(
                    f"'{shown}' is a direct URL or path requirement: it bypasses the package index",
                    number,
                    ALLOW_HINT.format(name="url"),
                )
            else:
                out.append(InputLine(line, path, number, kind))  # type: ignore[arg-type]
        elif parse:
            # Imported on the first requirement parsed: packaging's imports take 15-20 ms, and
            # `lock --check` of a fresh lock parses none.
            from packaging.requirements import InvalidRequirement, Requirement

            try:
                Requirement(line)
            except InvalidRequirement as exc:
                first = str(exc).splitlines()[0] if str(exc) else "not a requirement"
                refuse(
                    f"cannot parse '{shown}': {first[:200]}",
                    number,
                    "one requirement a line, like 'scikit-learn>=1.5' (PEP 508)",
                )
                continue
            out.append(InputLine(line, path, number, kind))  # type: ignore[arg-type]
        else:
            out.append(InputLine(line, path, number, kind))  # type: ignore[arg-type]
    return out, problems


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
