"""The registry's domain operations, called by the CLI: record a build, list, show, mark bad, resolve.

``draft_release`` turns a build's outputs (evaluate's folder, ``gate.json``, ``image.json``, the
config, the lock and the model file) into a release draft, refusing, with every reason at once,
a build whose gate did not pass or whose image was not pushed, unless forced with a reason
(which the record keeps).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mlrelease.config import Config
from mlrelease.errors import CheckFailed, UsageError
from mlrelease.registry.base import MEDIA_TYPES, Backend, Index
from mlrelease.registry.record import (
    Artifact,
    Event,
    GateVerdict,
    Image,
    RegistryError,
    Release,
    actor_from_env,
    now,
    parse_version,
)

PRODUCTION = "production"


class ReleaseRefused(CheckFailed):
    """The build is not releasable (gate failed, image not pushed, outputs that do not match)."""

    title = "release refused"


@dataclass(frozen=True)
class BuildOutputs:
    evaluate_dir: Path
    gate_json: Path
    image_json: Path


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _git_commit(root: Path) -> str | None:
    from mlrelease import process
    from mlrelease.errors import MlreleaseError

    try:
        done = process.run(["git", "rev-parse", "HEAD"], cwd=root, ok=None, timeout=10)
    except MlreleaseError:  # no git here: the record says None
        return None
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def draft_release(
    cfg: Config,
    outputs: BuildOutputs,
    *,
    force_reason: str | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[Release, dict[str, Path]]:
    """The release draft (version assigned by the backend) and the files it carries."""
    from mlrelease.artifacts.metrics import (
        GOLDEN_FILE,
        METRICS_FILE,
        PREDICTIONS_FILE,
        SIGNATURE_FILE,
        MetricsReport,
    )
    from mlrelease.gate import GateResult
    from mlrelease.image.record import ImageRecord

    ev = Path(outputs.evaluate_dir)
    report = MetricsReport.read(ev / METRICS_FILE)
    gate_path = Path(outputs.gate_json)
    if gate_path.is_dir():
        gate_path = gate_path / "gate.json"
    gate = GateResult.read(gate_path)  # gate.json's one reader
    against = gate.baseline or {}
    baseline_release = against.get("release")  # "v3" when the gate's baseline came from the registry
    image = ImageRecord.read(outputs.image_json)
    model_path = cfg.model.artifact
    if model_path is None or not model_path.is_file():
        raise UsageError(f"{cfg.path}: model.artifact: a release needs the model file")
    golden = ev / GOLDEN_FILE
    if not golden.is_file():
        raise UsageError(
            f"{golden}: no such file", hint="run `mlrelease evaluate -o DIR` and pass --evaluate DIR"
        )
    if not cfg.lock.is_file():
        raise UsageError(f"{cfg.lock}: no such file", hint="run `mlrelease lock` first")

    reasons: list[str] = []
    if gate.verdict != "pass":
        reasons.append(f"the gate did not pass ({gate_path}): {gate.headline}")
    if not image.digest or not image.repo_digest:
        reasons.append(f"the image {image.reference} was not pushed ({outputs.image_json} has no digest)")
    model_sha = _sha256(model_path)
    if report.model.sha256 and report.model.sha256 != model_sha:
        reasons.append(
            f"{ev / METRICS_FILE} measured a model with sha256 {report.model.sha256[:12]}, "
            f"but {cfg.relative(model_path)} is {model_sha[:12]}"
        )
    if reasons and not force_reason:
        raise ReleaseRefused(
            f"not releasing {cfg.model.name}: " + "; ".join(reasons),
            hint="fix the cause and rebuild, or pass --force --reason TEXT (the reason is recorded)",
        )

    files: dict[str, Path] = {
        "model": model_path,
        "lock": cfg.lock,
        "golden": golden,
        "metrics": ev / METRICS_FILE,
        "gate": gate_path,
        "config": cfg.path,
    }
    for name, extra in (("signature", ev / SIGNATURE_FILE), ("predictions", ev / PREDICTIONS_FILE)):
        if extra.is_file():
            files[name] = extra
    artifacts = {
        name: Artifact(_sha256(path), path.stat().st_size, MEDIA_TYPES[name]) for name, path in files.items()
    }
    metrics = {**report.metrics, **report.cost}
    rules = [m for m in cfg.gate.metrics if m in metrics]
    headline = rules[0] if rules else (sorted(report.metrics)[0] if report.metrics else None)
    actor, run_url = actor_from_env(dict(env) if env is not None else None)
    baseline = f"release:{baseline_release}" if baseline_release else against.get("metrics")
    draft = Release(
        model=cfg.model.name,
        version=1,  # the backend numbers it
        created=now(),
        model_sha256=model_sha,
        lock_sha256=artifacts["lock"].sha256,
        golden_sha256=artifacts["golden"].sha256,
        image=Image(
            reference=image.repo_digest or image.reference,
            digest=image.digest,
            image_id=image.image_id,
            port=image.port,
        ),
        metrics=metrics,
        headline_metric=headline,
        gate=GateVerdict(gate.verdict, gate.headline, baseline),
        config=cfg.raw,
        artifacts=artifacts,
        git_commit=_git_commit(cfg.root),
        parent=parse_version(baseline_release) if baseline_release else None,
        forced=("; ".join(reasons) + f" -- forced: {force_reason}") if reasons and force_reason else None,
        actor=actor,
        run_url=run_url,
    )
    return draft, files


# ----------------------------------------------------------------------------- reading


def resolve(backend: Backend, model: str, ref: str, index: Index | None = None) -> int:
    """A version from ``v3``/``3``, ``latest``, ``production`` or a target's name (what runs there now)."""
    index = index or backend.index(model)
    text = ref.strip()
    if text == "latest":
        if not index.latest:
            raise RegistryError(f"{model} has no releases in {backend.location}")
        return index.latest
    if text and ((text[0] == "v" and text[1:].isdigit()) or text.isdigit()):
        version = parse_version(text)
        if version > index.latest:
            raise RegistryError(f"{model} v{version}: no such release (newest: v{index.latest})")
        return version
    if text in index.deployed:
        return index.deployed[text]
    if text == PRODUCTION and len(index.deployed) == 1:
        return next(iter(index.deployed.values()))
    where = ", ".join(f"{t}: v{v}" for t, v in sorted(index.deployed.items())) or "nothing is deployed"
    raise UsageError(
        f"{ref!r}: not a version of {model}, nor a target with a deployed release ({where})",
        hint="name a version (v3), latest, or a target (production, local, ...)",
    )


def baseline_folder(backend: Backend, model: str, ref: str, into: Path | None = None) -> tuple[Path, int]:
    """``release:REF`` as a folder the gate reads (metrics.json, and predictions.parquet when stored)."""
    version = resolve(backend, model, ref)
    release = backend.get(model, version)
    folder = Path(into or tempfile.mkdtemp(prefix=f"mlrelease-{model}-v{version}-"))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_bytes(backend.read_artifact(release, "metrics"))
    if "predictions" in release.artifacts:
        (folder / "predictions.parquet").write_bytes(backend.read_artifact(release, "predictions"))
    return folder, version


@dataclass(frozen=True)
class Row:
    version: int
    created: str
    headline_metric: str | None
    value: float | None
    change: float | None  # against the parent release
    deployed: tuple[str, ...]
    status: str
    forced: bool


def rows(backend: Backend, model: str, limit: int | None = None) -> list[Row]:
    """The newest ``limit`` releases (all when None), newest first."""
    index = backend.index(model)
    first = 1 if limit is None else max(1, index.latest - limit + 1)
    cache: dict[int, Release] = {}

    def get(v: int) -> Release:
        if v not in cache:
            cache[v] = backend.get(model, v)
        return cache[v]

    out = []
    for v in range(index.latest, first - 1, -1):
        r = get(v)
        value = r.metrics.get(r.headline_metric) if r.headline_metric else None
        change = None
        if r.parent and value is not None and r.headline_metric:
            before = get(r.parent).metrics.get(r.headline_metric)
            change = value - before if before is not None else None
        deployed = tuple(sorted(t for t, dv in index.deployed.items() if dv == v))
        out.append(
            Row(v, r.created, r.headline_metric, value, change, deployed, index.status(v), bool(r.forced))
        )
    return out


@dataclass(frozen=True)
class MetricChange:
    name: str
    before: float | None
    after: float | None


@dataclass(frozen=True)
class PackageChange:
    name: str
    before: str | None  # None: added
    after: str | None  # None: removed


@dataclass(frozen=True)
class Details:
    release: Release
    parent: Release | None
    status: str
    events: list[Event]
    metrics: list[MetricChange]
    packages: list[PackageChange]
    image_changed: bool


def _pins(backend: Backend, release: Release) -> dict[str, str]:
    from mlrelease.deps.requirements import parse_lock

    text = backend.read_artifact(release, "lock").decode("utf-8", "replace")
    return {p.name: p.version or p.text for p in parse_lock(text, Path("requirements.txt")).pins}


def describe(backend: Backend, model: str, version: int) -> Details:
    release = backend.get(model, version)
    parent = backend.get(model, release.parent) if release.parent else None
    events = [e for e in backend.events(model) if e.version == version or e.from_version == version]
    metric_changes: list[MetricChange] = []
    package_changes: list[PackageChange] = []
    if parent is not None:
        for name in sorted(set(release.metrics) | set(parent.metrics)):
            before, after = parent.metrics.get(name), release.metrics.get(name)
            if before != after:
                metric_changes.append(MetricChange(name, before, after))
        old, new = _pins(backend, parent), _pins(backend, release)
        for name in sorted(set(old) | set(new)):
            if old.get(name) != new.get(name):
                package_changes.append(PackageChange(name, old.get(name), new.get(name)))
    return Details(
        release=release,
        parent=parent,
        status=backend.index(model).status(version),
        events=events,
        metrics=metric_changes,
        packages=package_changes,
        image_changed=parent is not None and parent.image.reference != release.image.reference,
    )


def mark_bad(
    backend: Backend, model: str, version: int, reason: str, env: Mapping[str, str] | None = None
) -> Event:
    if not reason.strip():
        raise UsageError("--reason is empty", hint="say why the release is bad; it is recorded")
    backend.get(model, version)
    actor, run_url = actor_from_env(dict(env) if env is not None else None)
    event = Event("marked_bad", model, version, reason=reason.strip(), actor=actor, run_url=run_url)
    backend.append(event)
    return event
