"""``mlrelease deps check``: are the handoff's packages minimal, complete, in the right place and
pinned? And is the lock still what ``mlrelease lock`` would make of the current inputs?

Findings (rule: severity):
- ``stale-lock``/``edited-lock``/``no-lock``: error. The lock does not match its inputs, was edited
  by hand, or does not exist.
- ``loose-pin``: error. A lock entry that is not ``==`` with ``--hash``.
- ``missing``: error. Runtime code imports a package no requirements file declares.
- ``transitive``: warning. It is only in the lock as another package's dependency.
- ``dev-only``: error. A development tool (jupyter, pytest, black, ...) in runtime requirements.
- ``display-only``: error. A plotting package in runtime requirements that the code uses only in
  notebook cells whose results no other cell reads (belongs in the dev requirements).
- ``duplicate``: error. Two declared packages provide the same import (opencv-python and
  opencv-python-headless).
- ``unused``: warning. Declared, never imported by the code or referenced by the model file.
- ``unparsable``: warning. A notebook cell or module that could not be read.

Development requirements live in ``requirements-dev.in`` beside ``requirements.in``: imports
from display cells and tests may come from there.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlrelease import findings as fnd
from mlrelease.artifacts import read_typed, write_json
from mlrelease.config import Config
from mlrelease.deps import imports as imp
from mlrelease.deps import lock as lockmod
from mlrelease.deps import names
from mlrelease.deps.requirements import InputLine, LockFile, Policy, read_inputs, read_lock
from mlrelease.findings import Finding, Location, Severity

SCHEMA_VERSION = 1
SEVERITIES: tuple[Severity, ...] = ("error", "warning")  # the check reports no info findings
STDLIB = frozenset(sys.stdlib_module_names) | {"__future__", "__main__"}


def _finding(
    rule: str,
    severity: Severity,
    message: str,
    *,
    package: str | None = None,
    file: str | None = None,
    line: int | None = None,
    hint: str | None = None,
) -> Finding:
    """A deps finding: the package it is about travels in ``data``."""
    return Finding(rule, severity, message, Location(file=file, line=line), hint, data={"package": package})


@dataclass(frozen=True)
class Report:
    root: Path
    findings: tuple[Finding, ...]
    files_scanned: int
    declared: tuple[str, ...]
    dev_declared: tuple[str, ...]
    locks_checked: tuple[str, ...]

    def counts(self) -> dict[str, int]:
        return fnd.counts(self.findings, SEVERITIES)

    def to_json(self) -> dict[str, object]:
        return {
            "schema_version": SCHEMA_VERSION,
            "root": str(self.root),
            "files_scanned": self.files_scanned,
            "declared": list(self.declared),
            "dev_declared": list(self.dev_declared),
            "locks_checked": list(self.locks_checked),
            "counts": self.counts(),
            "findings": [f.to_json() for f in self.findings],
        }

    def write(self, path: Path) -> None:
        write_json(path, self.to_json())

    @classmethod
    def read(cls, path: Path) -> Report:
        """What `deps check --json` printed, back as a report (ArtifactError, exit 2, when not)."""
        hint = "run `mlrelease deps check --json` with this version of mlrelease to write it again"
        return read_typed(path, kind="deps.json", version=SCHEMA_VERSION, hint=hint, build=cls._from_json)

    @classmethod
    def _from_json(cls, data: dict[str, Any]) -> Report:
        return cls(
            root=Path(data["root"]),
            findings=tuple(Finding.from_json(f) for f in data["findings"]),
            files_scanned=int(data["files_scanned"]),
            declared=tuple(str(d) for d in data["declared"]),
            dev_declared=tuple(str(d) for d in data.get("dev_declared", ())),
            locks_checked=tuple(str(lock) for lock in data["locks_checked"]),
        )


@dataclass
class _Declared:
    lines: dict[str, InputLine] = field(default_factory=dict)  # canonical name -> first line

    @classmethod
    def read(cls, path: Path | None, policy: Policy) -> _Declared:
        out = cls()
        if path is None or not path.is_file():
            return out
        for line in read_inputs(path, policy=policy):
            if line.kind == "requirement" and line.name and line.name not in out.lines:
                out.lines[line.name] = line
        return out

    def provider(self, module: str) -> str | None:
        return next((d for d in self.lines if names.provides(d, module)), None)


@dataclass(frozen=True)
class _Scan:
    """What the handoff's code imports, and where."""

    third_party: list[imp.ImportUse]
    failures: list[imp.ParseFailure]
    notebooks: list[Path]
    py_files: list[Path]


def check(cfg: Config, *, dev_requirements: Path | None = None) -> Report:
    """Every rule family in turn: the lock(s), unreadable files, missing and transitive imports,
    misplaced and unused declarations, duplicate providers; worst findings first."""
    policy = Policy.of(cfg)
    runtime = _Declared.read(cfg.requirements, policy)
    if dev_requirements is not None:  # named on the command line, not by the handoff
        dev_path = dev_requirements
        dev = _Declared.read(dev_path, Policy(dev_path.parent, policy.options))
    else:
        dev_path = cfg.requirements.with_name(f"{cfg.requirements.stem}-dev{cfg.requirements.suffix}")
        dev = _Declared.read(cfg.confine(dev_path, "requirements") if dev_path.exists() else None, policy)

    findings: list[Finding] = []
    lock_file, locks_checked = _check_locks(cfg, findings)
    pinned = set(lock_file.by_name()) if lock_file else set()
    scan = _scan(cfg)
    findings += _unparsable(cfg, scan.failures)
    findings += _missing(cfg, scan, runtime, dev, dev_path, pinned)
    findings += _misplaced_or_unused(cfg, scan, runtime, dev_path)
    findings += _duplicates(cfg, runtime)
    return Report(
        root=cfg.root,
        findings=tuple(fnd.ranked(findings)),
        files_scanned=len(scan.notebooks) + len(scan.py_files),
        declared=tuple(runtime.lines),
        dev_declared=tuple(dev.lines),
        locks_checked=tuple(locks_checked),
    )


def _scan(cfg: Config) -> _Scan:
    """The third-party imports of the notebooks, the Python files and the model file."""
    root = cfg.root
    display_tops = {top: d for d in names.DISPLAY for top in names.import_names(d)}
    uses: list[imp.ImportUse] = []
    failures: list[imp.ParseFailure] = []
    notebooks = cfg.notebook_paths()
    for nb in notebooks:
        u, f = imp.notebook_imports(nb, display_tops)
        uses += u
        failures += f
    py_files = imp.handoff_files(root, "*.py")
    for py in py_files:
        u, f = imp.python_file_imports(py, "test" if imp.is_test_file(py.relative_to(root)) else "runtime")
        uses += u
        failures += f
    model_path = cfg.model.artifact
    if model_path is not None and model_path.is_file():
        uses += [imp.ImportUse(m, model_path, None, None, "model") for m in imp.model_modules(model_path)]
    local = imp.local_modules(root) | {nb.stem for nb in notebooks}
    third_party = [u for u in uses if u.module.split(".", 1)[0] not in STDLIB | local]
    return _Scan(third_party, failures, list(notebooks), list(py_files))


def _unparsable(cfg: Config, failures: list[imp.ParseFailure]) -> list[Finding]:
    out = []
    for failure in failures:
        where = f" (cell {failure.cell})" if failure.cell else ""
        out.append(
            _finding(
                "unparsable",
                "warning",
                f"cannot read{where}: {failure.message}; its imports were not checked",
                file=cfg.relative(failure.file),
            )
        )
    return out


def _missing(
    cfg: Config, scan: _Scan, runtime: _Declared, dev: _Declared, dev_path: Path, pinned: set[str]
) -> list[Finding]:
    """Imports no requirements file declares, declared only for development, or only pinned."""
    rel = cfg.relative
    third_party = scan.third_party
    out: list[Finding] = []
    reported: set[tuple[str, str]] = set()
    for use in third_party:
        if use.optional:
            continue
        dist_rt = runtime.provider(use.module)
        dist_dev = dev.provider(use.module)
        needs_runtime = use.context in ("runtime", "model")
        if dist_rt or (dist_dev and not needs_runtime):
            continue
        dist = names.distribution_for(use.module)
        key = (dist, rel(use.file))
        if key in reported:
            continue
        reported.add(key)
        where = f"{rel(use.file)} {use.where()}" if use.line else rel(use.file)
        source = "the model file" if use.context == "model" else where
        if dist_dev and needs_runtime:
            out.append(
                _finding(
                    "missing",
                    "error",
                    f"'{use.module}' is used at run time ({source}) but {dist_dev} is declared only in "
                    f"{rel(dev_path)}",
                    package=dist_dev,
                    file=rel(use.file),
                    line=use.line if use.cell is None else None,
                    hint=_runtime_hint(dist_dev, rel(cfg.requirements), f"move {dist_dev} to"),
                )
            )
        elif dist in pinned or any(names.provides(p, use.module) for p in pinned):
            out.append(
                _finding(
                    "transitive",
                    "warning",
                    f"'{use.module}' ({source}) comes only as another package's dependency",
                    package=dist,
                    file=rel(use.file),
                    line=use.line if use.cell is None else None,
                    hint=f"declare {dist} in {rel(cfg.requirements)}: a dependency may drop it",
                )
            )
        else:
            out.append(
                _finding(
                    "missing",
                    "error" if needs_runtime else "warning",
                    f"'{use.module}' is imported ({source}) but no requirements file declares it",
                    package=dist,
                    file=rel(use.file),
                    line=use.line if use.cell is None else None,
                    hint=_runtime_hint(dist, rel(cfg.requirements), "add {dist} to")
                    if needs_runtime
                    else f"add {dist} to {rel(dev_path)}",
                )
            )
    return out


def _dev_only(dist: str) -> bool:
    return dist in names.DEV_ONLY or dist.startswith("pytest-")


def _runtime_hint(dist: str, requirements: str, verb: str) -> str:
    """The fix for a run-time import: declare it, unless the runtime list may not hold it (a
    development tool is an error there), then the import has to leave the code that is served."""
    if _dev_only(dist):
        return (
            f"{dist} is a development tool, which {requirements} may not hold: take the import out of "
            "the code that runs when the model is served (or into a cell only people look at)"
        )
    return f"{verb.format(dist=dist)} {requirements}"


def _misplaced_or_unused(cfg: Config, scan: _Scan, runtime: _Declared, dev_path: Path) -> list[Finding]:
    """Runtime requirements that are development tools, display-only, or imported by nothing."""
    rel = cfg.relative
    third_party, notebooks, py_files = scan.third_party, scan.notebooks, scan.py_files
    out: list[Finding] = []
    used_tops = {u.module for u in third_party}
    for dist, line in runtime.lines.items():
        file, lineno = rel(line.file), line.line
        uses_of = [u for u in third_party if names.provides(dist, u.module)]
        if _dev_only(dist):
            out.append(
                _finding(
                    "dev-only",
                    "error",
                    f"{dist} is a development tool, not something the served model needs",
                    package=dist,
                    hint=f"move it to {rel(dev_path)}",
                    file=file,
                    line=lineno,
                )
            )
            continue
        if dist in names.DISPLAY and uses_of and all(u.context in ("display", "test") for u in uses_of):
            cells = sorted({f"{rel(u.file)} cell {u.cell}" for u in uses_of if u.cell})
            out.append(
                _finding(
                    "display-only",
                    "error",
                    f"{dist} is used only to look at data (imported in {', '.join(cells) or 'tests'}; "
                    "the cells that use it feed no other cell), not by the model at run time",
                    package=dist,
                    hint=f"move it to {rel(dev_path)}",
                    file=file,
                    line=lineno,
                )
            )
            continue
        if not uses_of:
            activators = names.IMPLICIT.get(dist, ())
            if any(names.provides(a, m) or m.split(".")[0] == a for a in activators for m in used_tops):
                continue
            out.append(
                _finding(
                    "unused",
                    "warning",
                    f"{dist} is declared but nothing in the handoff imports it "
                    f"({len(notebooks)} notebooks, {len(py_files)} Python files, the model file)",
                    package=dist,
                    hint="remove it, or say in a comment what loads it",
                    file=file,
                    line=lineno,
                )
            )
    return out


def _duplicates(cfg: Config, runtime: _Declared) -> list[Finding]:
    """Two runtime requirements that provide the same import."""
    rel = cfg.relative
    out: list[Finding] = []
    seen: dict[str, str] = {}
    for dist, line in runtime.lines.items():
        for name in names.import_names(dist):
            other = seen.get(name)
            if other and other != dist:
                out.append(
                    _finding(
                        "duplicate",
                        "error",
                        f"{other} and {dist} both provide '{name}': only one can be installed cleanly",
                        package=dist,
                        file=rel(line.file),
                        line=line.line,
                        hint=f"keep one of {other} and {dist}",
                    )
                )
            seen.setdefault(name, dist)
    return out


def _check_locks(cfg: Config, findings: list[Finding]) -> tuple[LockFile | None, list[str]]:
    """Freshness and loose pins of the lock and of its variants (``requirements-gpu.txt``)."""
    rel = cfg.relative
    policy = Policy.of(cfg)
    if not cfg.lock.is_file():
        findings.append(
            _finding(
                "no-lock",
                "error",
                f"{rel(cfg.lock)} does not exist, so the image's packages are not pinned",
                file=rel(cfg.requirements),
                hint="run `mlrelease lock` and commit the lock",
            )
        )
        return None, []
    # Each variant is read; one that is a symlink out of the handoff is refused, not followed.
    candidates = [cfg.confine(p, "lock") for p in cfg.lock.parent.glob(f"{cfg.lock.stem}-*{cfg.lock.suffix}")]
    variants = sorted(
        p for p in candidates if p.read_text("utf-8", errors="replace").startswith(lockmod.HEADER_LEAD)
    )
    paths = [cfg.lock, *variants]
    main: LockFile | None = None
    for path in paths:
        lock_file = read_lock(path)
        main = main or lock_file
        findings += _loose_pins(lock_file, rel(path))
        header = lockmod.parse_header(path.read_text("utf-8"))
        if header is None:
            continue  # a hand-written lock: pins are checked, freshness cannot be
        variant_name = dict(d.split(": ", 1) for d in header.described).get("variant", "default")
        request = lockmod.recorded_request(
            lockmod.LockRequest(
                requirements=cfg.requirements,
                lock=cfg.lock,
                python=cfg.image.python,
                variant=_recorded_variant(header, variant_name),
                policy=policy,
            ),
            set(),
        )
        result = lockmod.check(request)
        if not result.ok:
            rule = {"stale": "stale-lock", "edited": "edited-lock"}.get(result.status, "stale-lock")
            detail = "; ".join(line for line in result.diff if not line.startswith(("---", "+++")))
            findings.append(
                _finding(
                    rule,
                    "error",
                    result.message + (f": {detail}" if detail else ""),
                    file=rel(path),
                    hint=f"run `{request.command()}` and commit the lock",
                )
            )
    return main, [rel(p) for p in paths]


def _recorded_variant(header: lockmod.Header, name: str) -> lockmod.Variant:
    extra = [d.split(": ", 1)[1] for d in header.described if d.startswith("extra-index-url: ")]
    return lockmod.Variant(name, extra[0] if name != "default" and extra else None)


def _loose_pins(lock_file: LockFile, label: str) -> list[Finding]:
    out: list[Finding] = []
    for pin in lock_file.pins:
        if pin.exact and pin.hashes:
            continue
        why = "has no --hash" if pin.exact else "is not pinned with =="
        out.append(
            _finding(
                "loose-pin",
                "error",
                f"{pin.text} {why}: the image would install whatever the index serves that day",
                package=pin.name,
                file=label,
                line=pin.line,
                hint="re-create the lock with `mlrelease lock`",
            )
        )
    for problem in lock_file.unparsed:
        out.append(_finding("loose-pin", "error", problem.message, file=label, line=problem.line))
    return out
