"""``mlrelease lock``: pin ``requirements.in`` into a hash-locked ``requirements.txt`` for the image.

The lock is for the image, not for this machine: it is resolved for the image's Python and a
Linux x86_64 platform, and it compiles the handoff's ``requirements.in`` together with the model
server's own requirements (packaged as ``mlrelease/serve/requirements.in``), so the image gets one
consistent environment (``server=False`` leaves them out).

uv resolves by default; pip-tools is selectable. pip-compile cannot target another platform or
Python: it resolves for the interpreter it runs in, so it is refused when that interpreter's
version differs from the image's, and the platform it records is the host's.

The header records the command to re-run, the resolver, Python, platform, variant, indexes, the
input lines, a sha256 of the inputs and one of the pinned body. ``check`` compares those with the
current inputs without resolving: a stale lock (inputs changed) or a hand-edited one (body changed)
is reported with a readable diff of what changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from mlrelease.deps.requirements import (
    SOURCE_OPTIONS,
    InputLine,
    Policy,
    option_name,
    option_value,
    parse_lock,
    parse_text_inputs,
    read_inputs,
)
from mlrelease.errors import Problem, UsageError

# Resolving (tempfile, the process runner, the conflict explainer), writing (artifacts) and the
# diff of a stale lock are imported where they are used: `lock --check` on a fresh lock needs
# none of them, and it runs on every pull request.

LOCK_FORMAT = 1
PYPI = "https://pypi.org/simple"
DEFAULT_PLATFORM = "x86_64-manylinux_2_28"
DEFAULT_CUDA = "12.6"
SERVER_LABEL = "mlrelease-server.in"
PYTORCH_INDEX = "https://download.pytorch.org/whl/{tag}"

Resolver = Literal["uv", "pip-tools"]
Status = Literal["fresh", "stale", "edited", "missing", "foreign"]


# ----------------------------------------------------------------------------- variants


@dataclass(frozen=True)
class Variant:
    """A flavour of the lock: ``default`` (no extra index), ``cpu``/``gpu`` (PyTorch's indexes),
    or any name with an explicit index (``gpu=https://...``)."""

    name: str
    index: str | None = None

    @classmethod
    def parse(cls, spec: str, *, cuda: str | None = None) -> Variant:
        name, _, index = spec.partition("=")
        name = name.strip().lower()
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
            raise UsageError(
                f"--variant {spec!r}: expected NAME or NAME=INDEX_URL, "
                "NAME in lowercase letters, digits and '-'"
            )
        if index:
            return cls(name, index.strip())
        if name == "default":
            return cls(name)
        if name == "cpu":
            return cls(name, PYTORCH_INDEX.format(tag="cpu"))
        if name == "gpu":
            tag = "cu" + (cuda or DEFAULT_CUDA).replace(".", "")
            return cls(name, PYTORCH_INDEX.format(tag=tag))
        raise UsageError(
            f"--variant {name}: no index known for this variant",
            hint=f"give one: --variant {name}=https://my-index/simple (or use default, cpu, gpu)",
        )

    def lock_path(self, base: Path) -> Path:
        """``requirements.txt`` for the default variant, ``requirements-gpu.txt`` for ``gpu``."""
        if self.name == "default":
            return base
        return base.with_name(f"{base.stem}-{self.name}{base.suffix}")


# ----------------------------------------------------------------------------- request and inputs


@dataclass(frozen=True)
class LockRequest:
    requirements: Path
    lock: Path  # the default variant's lock; a variant writes beside it
    python: str
    platform: str = DEFAULT_PLATFORM
    variant: Variant = field(default_factory=lambda: Variant("default"))
    index_url: str = PYPI
    extra_index_urls: tuple[str, ...] = ()
    server: bool = True
    resolver: Resolver = "uv"
    policy: Policy | None = None  # what requirements.in may do; None: plain requirements only

    @property
    def output(self) -> Path:
        return self.variant.lock_path(self.lock)

    @property
    def indexes(self) -> tuple[str, ...]:
        extra = list(self.extra_index_urls)
        if self.variant.index and self.variant.index not in extra:
            extra.insert(0, self.variant.index)
        return tuple(extra)

    def command(self) -> str:
        """The command that re-creates this lock, run in the handoff's folder."""
        parts = ["mlrelease lock"]
        if self.variant != Variant("default"):  # `--variant default=URL` keeps its URL
            default_index = None
            with contextlib.suppress(UsageError):
                default_index = Variant.parse(self.variant.name).index
            spec = self.variant.name
            if self.variant.index != default_index:
                spec += f"={self.variant.index}"
            parts.append(f"--variant {spec}")
        if self.platform != DEFAULT_PLATFORM:
            parts.append(f"--platform {self.platform}")
        if self.index_url != PYPI:
            parts.append(f"--index-url {self.index_url}")
        parts += [f"--extra-index-url {u}" for u in self.extra_index_urls]
        if not self.server:
            parts.append("--no-server")
        if self.resolver != "uv":
            parts.append(f"--resolver {self.resolver}")
        return " ".join(parts)


def server_requirements() -> str:
    """The model server's own runtime requirements, shipped inside the package."""
    # Beside the package's modules, as config.schema() reads its schema (no importlib.resources).
    return (Path(__file__).parent.parent / "serve" / "requirements.in").read_text("utf-8")


@dataclass(frozen=True)
class Inputs:
    """Everything a lock is a function of, in a canonical form that hashes the same everywhere."""

    requirements: tuple[str, ...]
    server: tuple[str, ...] | None
    python: str
    platform: str
    variant: str
    index_url: str
    extra_index_urls: tuple[str, ...]
    # Where packages come from according to requirements.in itself (allowed by
    # trust.requirements_options): 'extra-index-url: URL (from requirements.in:3)'.
    sources: tuple[str, ...] = ()

    @classmethod
    def of(cls, request: LockRequest, *, parse: bool = True) -> Inputs:
        """The inputs of ``request``; ``parse=False`` screens requirements.in without parsing
        each requirement (see ``read_inputs``)."""
        lines = read_inputs(request.requirements, policy=request.policy, parse=parse)
        server = parse_text_inputs(server_requirements(), SERVER_LABEL) if request.server else None
        index_url, sources = _sources(request, lines)
        return cls(
            requirements=tuple(_render(line, request.requirements) for line in lines),
            server=tuple(line.text for line in server) if server is not None else None,
            python=request.python,
            platform=request.platform,
            variant=request.variant.name,
            index_url=index_url,
            extra_index_urls=request.indexes,
            sources=sources,
        )

    def digest(self) -> str:
        data = {
            "format": LOCK_FORMAT,
            "requirements": list(self.requirements),
            "server": list(self.server) if self.server is not None else None,
            "python": self.python,
            "platform": self.platform,
            "variant": self.variant,
            "index_url": self.index_url,
            "extra_index_urls": list(self.extra_index_urls),
        }
        if self.sources:  # absent when empty, so locks made before sources were recorded still match
            data["sources"] = list(self.sources)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()

    def describe(self) -> list[str]:
        """The inputs as readable lines, the form recorded in the header and diffed by ``check``."""
        out = [
            f"python: {self.python}",
            f"platform: {self.platform}",
            f"variant: {self.variant}",
        ]
        from_file = [s for s in self.sources if s.startswith("index-url: ")]
        out += from_file or [f"index-url: {self.index_url}"]
        out += [f"extra-index-url: {u}" for u in self.extra_index_urls]
        out += [s for s in self.sources if not s.startswith("index-url: ")]
        out += [f"in: {line}" for line in self.requirements]
        if self.server is None:
            out.append("server: left out (--no-server)")
        else:
            out += [f"server: {line}" for line in self.server]
        return out


def _sources(request: LockRequest, lines: list[InputLine]) -> tuple[str, tuple[str, ...]]:
    """The index the resolver uses, and the source options requirements.in gives, each as a
    header line that says where it came from."""
    index_url = request.index_url
    sources: list[str] = []
    for line in lines:
        if line.kind != "option":
            continue
        name = SOURCE_OPTIONS.get(option_name(line.text))
        if name is None or name == "--editable":
            continue
        value = option_value(line.text) or "yes"
        origin = f"(from {_origin(line, request.requirements)}:{line.line})"
        if name == "--index-url":
            if request.index_url not in (PYPI, value):
                raise UsageError(
                    f"{line.file}:{line.line}: --index-url {value} differs from --index-url "
                    f"{request.index_url} given to mlrelease lock",
                    hint="give the main index in one place",
                )
            index_url = value
        sources.append(f"{name.removeprefix('--')}: {value} {origin}")
    return index_url, tuple(sources)


def _origin(line: InputLine, main: Path) -> str:
    try:
        return str(line.file.resolve().relative_to(main.parent.resolve()))
    except ValueError:
        return str(line.file)


def _render(line: InputLine, main: Path) -> str:
    """An input line; one from an included file says which (``[constraints.txt] numpy<3``)."""
    prefix = "constraint " if line.kind == "constraint" else ""
    if line.file.resolve() == main.resolve():
        return prefix + line.text
    return f"{prefix}[{_origin(line, main)}] {line.text}"


# ----------------------------------------------------------------------------- header


HEADER_LEAD = "# Locked by mlrelease: do not edit by hand (`mlrelease lock --check` finds edits)."


def render_header(request: LockRequest, inputs: Inputs, resolver_version: str, body: str) -> str:
    lines = [
        HEADER_LEAD,
        f"# Re-create it in the handoff's folder with: {request.command()}",
        f"# mlrelease-lock-format: {LOCK_FORMAT}",
        f"# resolver: {resolver_version}",
    ]
    lines += [f"# {d}" for d in inputs.describe()]
    lines += [
        f"# inputs-sha256: {inputs.digest()}",
        f"# body-sha256: {body_digest(body)}",
        "#",
    ]
    if inputs.index_url != PYPI:
        lines.append(f"--index-url {inputs.index_url}")
    lines += [f"--extra-index-url {u}" for u in inputs.extra_index_urls]
    lines += [f"--extra-index-url {u}" for u in _from_file(inputs.sources, "extra-index-url")]
    return "\n".join(lines) + "\n"


def _from_file(sources: tuple[str, ...], key: str) -> list[str]:
    """The values of ``key`` among the source lines: 'extra-index-url: URL (from f:3)' -> URL (the
    second word: a URL holds no space, the file's name may)."""
    return [s.split()[1] for s in sources if s.startswith(f"{key}: ")]


def body_digest(body: str) -> str:
    return hashlib.sha256(body.strip().encode()).hexdigest()


@dataclass(frozen=True)
class Header:
    fields: dict[str, str]
    described: tuple[str, ...]  # the recorded input lines, as Inputs.describe gives them
    body: str


_DESCRIBED = (
    "python",
    "platform",
    "variant",
    "index-url",
    "extra-index-url",
    "find-links",
    "trusted-host",
    "no-index",
    "in",
    "server",
)


def parse_header(text: str) -> Header | None:
    """The recorded header of an mlrelease lock, or None when the file is not one."""
    if not text.startswith(HEADER_LEAD):
        return None
    fields: dict[str, str] = {}
    described: list[str] = []
    body_start = 0
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.strip() == "#":
            body_start = i + 1
            break
        m = re.match(r"^# ([a-z0-9-]+): (.*)$", line)  # "$" matches before the line's "\n"
        if not m:
            continue
        key, value = m.groups()
        if key in _DESCRIBED:
            described.append(f"{key}: {value}")
        else:
            fields[key] = value
    rest = lines[body_start:]
    while rest and rest[0].startswith(("--index-url ", "--extra-index-url ")):
        rest = rest[1:]
    return Header(fields, tuple(described), "".join(rest))


# ----------------------------------------------------------------------------- lock


@dataclass(frozen=True)
class PinChange:
    name: str
    old: str | None
    new: str | None


@dataclass(frozen=True)
class LockResult:
    path: Path
    resolver: str
    seconds: float
    pins: int
    changes: tuple[PinChange, ...]
    written: bool


def lock(request: LockRequest, *, timeout: float = 900) -> LockResult:
    """Resolve, write the lock atomically (only when its content changes), report what moved."""
    inputs = Inputs.of(request)
    refuse_to_overwrite(request)
    t0 = time.perf_counter()
    body, version = _resolve(replace(request, index_url=inputs.index_url), timeout=timeout)
    seconds = time.perf_counter() - t0
    text = render_header(request, inputs, version, body) + body
    old_pins: dict[str, str] = {}
    previous = request.output.read_text("utf-8") if request.output.is_file() else None
    if previous is not None:
        old_pins = {p.name: p.version or p.text for p in parse_lock(previous, request.output).pins}
    new_pins = {p.name: p.version or p.text for p in parse_lock(text, request.output).pins}
    changes = tuple(
        PinChange(n, old_pins.get(n), new_pins.get(n))
        for n in sorted(set(old_pins) | set(new_pins))
        if old_pins.get(n) != new_pins.get(n)
    )
    written = previous != text
    if written:
        from mlrelease import artifacts

        artifacts.write_text(request.output, text)
    return LockResult(request.output, version, seconds, len(new_pins), changes, written)


def refuse_to_overwrite(request: LockRequest) -> None:
    """A lock goes only to a file that is only ever a lock: never an input, never a file the user wrote.

    Refused (exit 2) when the output is the requirements input or a file it includes, or an
    existing file without the header ``lock`` writes (a hand-written list, a config, another
    tool's lock). Checked before resolving, so nothing runs for a write that cannot happen.
    """
    out = request.output
    fix = (
        "set 'lock:' in mlrelease.yaml (or pass -o) to a file only `mlrelease lock` writes, "
        "e.g. requirements-lock.txt"
    )
    resolved = out.resolve()
    inputs = {request.requirements.resolve()} | {
        line.file.resolve() for line in read_inputs(request.requirements, policy=request.policy)
    }
    if resolved in inputs:
        raise UsageError(
            f"{out}: this is the requirements input, and the lock would overwrite it",
            hint=fix,
        )
    if out.is_dir():
        raise UsageError(f"{out}: is a folder, not a lock file", hint=fix)
    if not out.exists():
        return
    try:
        ours = parse_header(out.read_text("utf-8")) is not None
    except (OSError, UnicodeDecodeError):
        ours = False
    if not ours:
        raise UsageError(
            f"{out}: exists and was not written by `mlrelease lock` (no header): "
            "refusing to overwrite a file it did not write",
            hint=f"move it away if it is an old lock, or {fix}",
        )


def _resolve(request: LockRequest, *, timeout: float) -> tuple[str, str]:
    """Run the resolver; return the pinned body (no header) and the resolver's version."""
    import tempfile

    from mlrelease.deps import process
    from mlrelease.deps.conflicts import explain
    from mlrelease.process import run as run_process

    cwd = request.requirements.parent
    with tempfile.TemporaryDirectory(prefix="mlrelease-lock-") as tmp:
        tmpdir = Path(tmp)
        sources = [request.requirements.name]
        if request.server:
            server_file = tmpdir / SERVER_LABEL
            server_file.write_text(server_requirements(), "utf-8")
            sources.append(str(server_file))
        out = tmpdir / "requirements.txt"
        if request.resolver == "uv":
            base = process.uv_argv()
            argv = [
                *base,
                "pip",
                "compile",
                "--no-config",
                "--quiet",
                "--no-header",
                "--generate-hashes",
                "--python-version",
                request.python,
                "--python-platform",
                request.platform,
                "--index-url",
                request.index_url,
            ]
            for url in request.indexes:
                argv += ["--extra-index-url", url]
            argv += ["-o", str(out), *sources]
        else:
            _require_host_python(request.python)
            base = process.pip_compile_argv()
            argv = [
                *base,
                "--quiet",
                "--no-header",
                "--generate-hashes",
                "--allow-unsafe",
                "--strip-extras",
                "--no-emit-index-url",
                "--no-emit-trusted-host",
                "--no-emit-find-links",
                "--index-url",
                request.index_url,
            ]
            for url in request.indexes:
                argv += ["--extra-index-url", url]
            argv += ["--output-file", str(out), *sources]
        env = process.isolated_env()
        done = run_process(argv, cwd=cwd, env=env, timeout=timeout, ok=None)
        if done.returncode != 0:
            raise explain(done.output, request=request, inputs=_declared(request))
        body = out.read_text("utf-8").replace(str(tmpdir) + "/", "")
        body = _normalise_body(body)
        return body, process.tool_version(base)


def _normalise_body(body: str) -> str:
    return body.strip() + "\n"


def _require_host_python(python: str) -> None:
    """pip-compile can lock only for the host it runs on: refused unless that is the image's."""
    import platform as _platform

    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    host = f"Python {version} on {sys.platform} {_platform.machine().lower()}"
    image = f"Python {python} on linux x86_64"
    if host != image:
        raise UsageError(
            f"pip-compile resolves for the interpreter it runs in ({host}), not for the image's {image}",
            hint="use the default resolver (uv), which targets the image's platform, "
            f"or run mlrelease under {image}",
        )


def _declared(request: LockRequest) -> list[InputLine]:
    lines = read_inputs(request.requirements, policy=request.policy)
    if request.server:
        lines += parse_text_inputs(server_requirements(), SERVER_LABEL)
    return lines


# ----------------------------------------------------------------------------- check


@dataclass(frozen=True)
class CheckResult:
    path: Path
    status: Status
    message: str
    diff: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == "fresh"

    def problem(self) -> Problem:
        return Problem(self.message, file=str(self.path))

    def to_json(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "status": self.status,
            "message": self.message,
            "diff": list(self.diff),
        }


LOCK_CHECK_VERSION = 1


@dataclass(frozen=True)
class LockCheckReport:
    """What ``mlrelease lock --check --json`` prints (the PR check keeps it as lock.json): one
    entry per lock file checked."""

    locks: list[CheckResult]
    schema_version: int = LOCK_CHECK_VERSION

    def to_json(self) -> dict[str, object]:
        return {"schema_version": self.schema_version, "locks": [r.to_json() for r in self.locks]}

    def write(self, path: Path) -> None:
        from mlrelease import artifacts

        artifacts.write_json(path, self.to_json())

    @classmethod
    def read(cls, path: Path) -> LockCheckReport:
        """The report back (ArtifactError, exit 2, when it is not one)."""
        from mlrelease import artifacts

        hint = "write it again with `mlrelease lock --check --json`"
        return artifacts.read_typed(
            path, kind="lock-check.json", version=LOCK_CHECK_VERSION, hint=hint, build=cls._from_json
        )

    @classmethod
    def _from_json(cls, data: dict[str, Any]) -> LockCheckReport:
        return cls(
            [
                CheckResult(
                    Path(e["path"]), e["status"], str(e["message"]), tuple(str(x) for x in e.get("diff", []))
                )
                for e in data["locks"]
            ]
        )

    @staticmethod
    def json_schema() -> dict[str, object]:
        """One report's JSON Schema (the catalogue adds ``schema_version``)."""
        entry = {
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "status": {"enum": ["fresh", "stale", "edited", "missing", "foreign"]},
                "message": {"type": "string"},
                "diff": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["path", "status", "message"],
        }
        return {
            "type": "object",
            "properties": {"locks": {"type": "array", "items": entry}},
            "required": ["locks"],
        }


def recorded_request(request: LockRequest, given: set[str]) -> LockRequest:
    """``request`` with options not ``given`` on the command line taken from the lock's header.

    So ``mlrelease lock --check`` needs no flags repeated: the lock says how it was made, and the
    check asks whether the current ``requirements.in`` and config would still give it.
    """
    path = request.output
    if not path.is_file():
        return request
    header = parse_header(path.read_text("utf-8"))
    if header is None:
        return request
    rec = [d.split(": ", 1) for d in header.described]
    if "platform" not in given:
        request = replace(request, platform=next((v for k, v in rec if k == "platform"), request.platform))
    # Indexes that requirements.in gave are recorded with "(from file:line)": they come from the
    # file again, not from the command line.
    rec = [[k, v] for k, v in rec if " (from " not in v]
    if "index_url" not in given:
        request = replace(request, index_url=next((v for k, v in rec if k == "index-url"), request.index_url))
    if "extra_index_urls" not in given:
        extra = tuple(v for k, v in rec if k == "extra-index-url" and v != request.variant.index)
        request = replace(request, extra_index_urls=extra)
    if "server" not in given:
        request = replace(request, server=not any(k == "server" and v.startswith("left out") for k, v in rec))
    return request


def check(request: LockRequest) -> CheckResult:
    """Is the lock at ``request.output`` what ``lock(request)`` would be built from? No resolving."""
    path = request.output
    if not path.is_file():
        return CheckResult(path, "missing", f"{path.name} does not exist; run `{request.command()}`")
    text = path.read_text("utf-8")
    header = parse_header(text)
    if header is None:
        return CheckResult(
            path,
            "foreign",
            f"{path.name} was not written by `mlrelease lock` (no header), so it cannot be checked",
        )
    inputs = _current_inputs(request, header.fields.get("inputs-sha256"))
    recorded_body = header.fields.get("body-sha256")
    if header.fields.get("inputs-sha256") != inputs.digest():
        import difflib

        diff = tuple(
            difflib.unified_diff(
                list(header.described),
                inputs.describe(),
                "recorded in the lock",
                "current inputs",
                lineterm="",
                n=0,
            )
        )
        reason = "its inputs changed since it was locked"
        # "-index-url: ..." and "+index-url: ...": the diff's "---", "+++" and "@@" lines name no key
        moved = sorted(
            {line[1:].split(" (from ", 1)[0] for line in diff if line[1:].startswith(_SOURCE_KEYS)}
        )
        if moved:
            reason = f"the package indexes it was resolved from changed ({'; '.join(moved)})"
        return CheckResult(path, "stale", f"{path.name} is stale: {reason}", _trim(diff))
    if recorded_body != body_digest(header.body):
        changed = _edited_lines(header.body, path)
        return CheckResult(path, "edited", f"{path.name} was edited by hand after it was locked", changed)
    return CheckResult(path, "fresh", f"{path.name} is up to date with its inputs")


def _current_inputs(request: LockRequest, recorded: str | None) -> Inputs:
    """The inputs of ``request`` now, each requirement parsed unless ``lock`` parsed it already.

    ``lock`` parses every line before it resolves, and records the digest of the lines it locked.
    Current lines with that digest are those lines: parsing them again finds nothing new. Any
    other outcome (a changed line, a refused one) parses all, so an unreadable requirement is
    reported (exit 2) as it always was.
    """
    with contextlib.suppress(UsageError):
        screened = Inputs.of(request, parse=False)
        if recorded is not None and screened.digest() == recorded:
            return screened
    return Inputs.of(request)


_SOURCE_KEYS = ("index-url: ", "extra-index-url: ", "find-links: ", "trusted-host: ", "no-index: ")


def _trim(diff: tuple[str, ...]) -> tuple[str, ...]:
    """A unified diff without the ``@@`` hunk lines, which say nothing to a reader here."""
    return tuple(line for line in diff if not line.startswith("@@"))


def _edited_lines(body: str, path: Path) -> tuple[str, ...]:
    """What a hand edit most likely did: pins that lost their hashes or their ``==``."""
    lock_file = parse_lock(body, path)
    out = [
        f"{p.text}: no longer pinned with == and hashes" for p in lock_file.pins if not (p.exact and p.hashes)
    ]
    return tuple(out) or ("pins or hashes differ from what the resolver wrote; re-run `mlrelease lock`",)
