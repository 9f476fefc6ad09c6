"""Turning a resolver's failure into a short human explanation: which packages want what.

uv speaks PubGrub ("Because pandas==2.2.3 depends on numpy>=1.23.2 and you require numpy<1.22,
..."), pip-compile speaks pip ("The user requested numpy<1.22 / pandas 2.2.3 depends on
numpy>=1.23.2"). Both are read into one table per package: the input lines that declare it (with
file and line, so Actions can annotate them) and the packages that depend on it. The raw resolver
output follows, because an explanation is a summary, not a replacement.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mlrelease.deps.requirements import InputLine, canonical
from mlrelease.errors import EnvironmentUnavailable, MlreleaseError, Problem, UsageError

if TYPE_CHECKING:
    from mlrelease.deps.lock import LockRequest

_REQ = r"[A-Za-z0-9][A-Za-z0-9._-]*(?:\[[^\]]*\])?(?:\{[^}]*\})?(?:[=<>!~]=?[^\s,]+(?:,[=<>!~]=?[^\s,]+)*)?"
_UV_DEPENDS = re.compile(rf"({_REQ}) depends on ({_REQ})")
_UV_REQUIRE = re.compile(rf"you require ({_REQ})")
_UV_NOT_FOUND = re.compile(rf"({_REQ}) was not found in the package registry")
_PIP_USER = re.compile(rf"The user requested ({_REQ})")
_PIP_DEPENDS = re.compile(rf"^\s*({_REQ}) (\S+) depends on ({_REQ})", re.M)
_NETWORK = re.compile(
    r"(?i)(failed to fetch|connection (?:refused|reset)|timed out|name resolution|dns error)"
)


class ResolutionConflict(UsageError):
    """The inputs cannot all be satisfied at once (exit 2: the requirements must change)."""

    title = "requirements conflict"

    def __init__(self, message: str, *, problems: list[Problem], hint: str | None, raw: str):
        super().__init__(message, problems=problems, hint=hint)
        self.raw = raw

    def render(self) -> str:
        raw = "\n".join(f"    {line}" for line in self.raw.splitlines())
        return f"{super().render()}\n  resolver output:\n{raw}"


def _name(req: str) -> str:
    return canonical(re.split(r"[\[{=<>!~]", req, maxsplit=1)[0])


def _clean(req: str) -> str:
    """``numpy{python_full_version < '3.12'}>=1.23.2`` -> ``numpy>=1.23.2``."""
    return re.sub(r"\{[^}]*\}", "", req)


def explain(output: str, *, request: LockRequest, inputs: Sequence[InputLine]) -> MlreleaseError:
    """The error to raise for a failed resolve, explained when the output says why."""
    text = output.strip()
    edges: list[tuple[str, str]] = []  # (who, wants)
    mentioned: list[str] = []
    for who, what in _UV_DEPENDS.findall(text):
        edges.append((_clean(who), _clean(what)))
    for what in _UV_REQUIRE.findall(text):
        mentioned.append(_name(what))
    for what in _PIP_USER.findall(text):
        mentioned.append(_name(what))
    for who, version, what in _PIP_DEPENDS.findall(text):
        edges.append((f"{_clean(who)}=={version}", _clean(what)))
    missing = [_clean(x) for x in _UV_NOT_FOUND.findall(text)]
    missing += re.findall(r"No matching distribution found for (\S+)", text)
    mentioned += [_name(what) for _, what in edges]
    mentioned += [_name(x) for x in missing]

    if missing:
        problems = [
            _declared_problem(line, f"{line.text}: no such package on the index")
            for line in inputs
            if line.name in {_name(m) for m in missing}
        ]
        return ResolutionConflict(
            f"cannot lock: {', '.join(sorted(set(missing)))} not found on {_indexes(request, inputs)}",
            problems=problems,
            hint="check the spelling (the name on PyPI, not the import name), or add the index that has it",
            raw=text,
        )
    if not mentioned:
        if _NETWORK.search(text):
            hosts = _failed_hosts(text)
            where = ", ".join(hosts) if hosts else _indexes(request, inputs)
            return EnvironmentUnavailable(
                f"cannot lock: the resolver could not reach {where}\n{text}",
                hint=f"check the network or the index URLs (indexes used: {_indexes(request, inputs)})",
            )
        return UsageError(f"cannot lock: the resolver failed\n{text}")

    problems = []
    for package in dict.fromkeys(mentioned):
        wants = [line for line in inputs if line.name == package]
        for line in wants:
            problems.append(_declared_problem(line, f"{package}: wanted as {line.text}"))
        for who, what in edges:
            if _name(what) == package:
                problems.append(Problem(f"{package}: {who} depends on {what}"))
    server = any(line.file.name.endswith("mlrelease-server.in") for line in inputs)
    hint = "relax or remove one of the pins above"
    if server:
        hint += "; the mlrelease server's own requirements are part of the lock (--no-server leaves them out)"
    return ResolutionConflict(
        "cannot lock: no set of versions satisfies every requirement",
        problems=problems,
        hint=hint,
        raw=text,
    )


def _declared_problem(line: InputLine, message: str) -> Problem:
    if line.file.name.endswith("mlrelease-server.in"):
        return Problem(f"{message} (by the mlrelease model server)", file=None)
    return Problem(message, file=str(line.file), line=line.line)


_FETCH_URL = re.compile(r"(?i)(?:failed to fetch|url)[:\s(`'\"]+((?:https?|file)://[^\s`'\")]+)")
_ANY_URL = re.compile(r"(?:https?|file)://[^\s`'\")]+")
_POOL_HOST = re.compile(r"host='([^']+)'")


def _failed_hosts(text: str) -> list[str]:
    """The hosts a resolver's network error names, in order: ``127.0.0.1:9`` from
    ``Failed to fetch: http://127.0.0.1:9/simple/six/`` (uv), or ``host='x'`` (pip)."""
    from urllib.parse import urlsplit

    urls = _FETCH_URL.findall(text) or _ANY_URL.findall(text)
    hosts = [urlsplit(u).netloc or u for u in urls] + _POOL_HOST.findall(text)
    return list(dict.fromkeys(hosts))


def _indexes(request: LockRequest, inputs: Sequence[InputLine] = ()) -> str:
    """Every index the resolve used: the command line's and those requirements.in gave."""
    from mlrelease.deps.requirements import option_name, option_value

    from_file = [
        option_value(line.text)
        for line in inputs
        if line.kind == "option" and option_name(line.text) in ("-i", "--index-url", "--extra-index-url")
    ]
    return " + ".join(dict.fromkeys([request.index_url, *request.indexes, *from_file]))
