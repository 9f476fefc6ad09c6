"""From a handoff to a build plan (what goes into the image, its labels) and a build context folder."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from mlrelease import __version__, process
from mlrelease.artifacts import sha256_file, write_text
from mlrelease.config import Config
from mlrelease.errors import MlreleaseError, UsageError
from mlrelease.image import wheelhouse
from mlrelease.image.dockerfile import APP, BaseImage, ImageSpec, render, resolve_base
from mlrelease.image.lockfile import Lock, read_lock
from mlrelease.image.runtime import BUILD_ONLY_LABEL, REASON_LABEL, RUNTIME_LABEL, RuntimeChoice, choose

LABEL_PREFIX = "io.mlrelease"
# Keys of mlrelease.yaml the server reads; the rest (validation, gate, notebooks, ...) stays out.
SERVING_KEYS = ("version", "model", "serving", "monitoring", "image")
NOT_CHOSEN = RuntimeChoice("full", "not chosen")
_TAG = re.compile(r"[^\w.-]")


@dataclass(frozen=True)
class Source:
    """Where the handoff comes from: for OCI labels and SOURCE_DATE_EPOCH."""

    url: str | None
    revision: str | None
    epoch: int  # commit time; SOURCE_DATE_EPOCH

    @property
    def created(self) -> str:
        return datetime.fromtimestamp(self.epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class BuildPlan:
    cfg: Config
    lock: Lock
    spec: ImageSpec
    source: Source
    tag: str
    signature: Path | None
    metrics: dict[str, float]
    runtime: RuntimeChoice = NOT_CHOSEN

    def dockerfile(self) -> str:
        return render(self.spec)

    def with_build_only(self, names: tuple[str, ...]) -> BuildPlan:
        """The plan of a compiled-only image whose builder keeps ``names`` (and its label says so)."""
        labels = {**self.spec.labels, BUILD_ONLY_LABEL: ",".join(names)}
        return replace(self, spec=replace(self.spec, build_only=names, labels=labels))


def _strip_credentials(url: str) -> str:
    """https://user:token@host/x -> https://host/x: a remote URL may carry a token."""
    return re.sub(r"^(\w+://)[^/@]+@", r"\1", url.strip())


def source_info(root: Path, env: dict[str, str] | None = None) -> Source:
    environ = os.environ if env is None else env
    url = None
    if environ.get("GITHUB_REPOSITORY"):
        server = environ.get("GITHUB_SERVER_URL", "https://github.com")
        url = f"{server}/{environ['GITHUB_REPOSITORY']}"
    revision = None
    epoch = None
    try:
        out = process.run(["git", "-C", str(root), "log", "-1", "--format=%H %ct"], what="git log")
        revision, stamp = out.stdout.split()
        epoch = int(stamp)
        if url is None:
            remote = process.run(
                ["git", "-C", str(root), "config", "--get", "remote.origin.url"], what="git config"
            )
            url = _strip_credentials(remote.stdout) or None
    except (MlreleaseError, ValueError):
        pass  # no git, not a git checkout (or no remote): fall back below
    if environ.get("SOURCE_DATE_EPOCH", "").isdigit():
        epoch = int(environ["SOURCE_DATE_EPOCH"])
    if epoch is None:
        epoch = 315532800  # 1980-01-01, the earliest time a zip (wheel) can hold
    return Source(url=url, revision=revision, epoch=epoch)


def read_metrics(path: Path) -> dict[str, float]:
    """Headline metrics of ``metrics.json``: the numeric top-level entries of its ``metrics``."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: cannot read metrics: {exc}") from None
    block = data.get("metrics", data) if isinstance(data, dict) else {}
    out: dict[str, float] = {}
    for name, value in block.items() if isinstance(block, dict) else ():
        if isinstance(value, dict):
            value = value.get("value")
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            out[str(name)] = float(value)
    return out


def lock_for(cfg: Config, gpu: bool) -> Path:
    """The lock the image installs: ``requirements-gpu.txt`` beside the lock for a GPU image when
    ``mlrelease lock --variant gpu`` wrote one (PyTorch's CUDA wheels), else the default lock."""
    if gpu:
        variant = cfg.lock.with_name(f"{cfg.lock.stem}-gpu{cfg.lock.suffix}")
        if variant.is_file():
            return cfg.confine(variant, "lock")  # a symlink out of the handoff is refused
    return cfg.lock


def image_tag(cfg: Config, source: Source) -> str:
    version = cfg.model.version or (source.revision[:12] if source.revision else "dev")
    return f"{cfg.model.name}:{_TAG.sub('-', version)[:128]}"


def plan(
    cfg: Config,
    *,
    base_image: str | None = None,
    gpu: bool | None = None,
    evaluation: Path | None = None,
    tag: str | None = None,
    env: dict[str, str] | None = None,
) -> BuildPlan:
    """Everything a build needs, checked up front (bad input fails before any work is done)."""
    if cfg.model.artifact is None and not cfg.model.entrypoint:
        raise UsageError("model has neither artifact nor entrypoint")
    use_gpu = cfg.image.gpu if gpu is None else gpu
    lock = read_lock(lock_for(cfg, use_gpu))
    base: BaseImage = resolve_base(
        base_image or cfg.image.base, python=cfg.image.python, gpu=use_gpu, cuda=cfg.image.cuda
    )
    signature = metrics_path = None
    if evaluation is not None:
        if not evaluation.is_dir():
            raise UsageError(f"{evaluation}: no such folder", hint="run `mlrelease evaluate -o DIR` first")
        signature = evaluation / "signature.json"
        if not signature.is_file():
            raise UsageError(
                f"{evaluation}: has no signature.json", hint="run `mlrelease evaluate -o DIR` first"
            )
        metrics_path = evaluation / "metrics.json"
    metrics = read_metrics(metrics_path) if metrics_path and metrics_path.is_file() else {}
    source = source_info(cfg.root, env)
    ref = tag or image_tag(cfg, source)
    version = ref.rsplit(":", 1)[-1] if ":" in ref.rsplit("/", 1)[-1] else "latest"
    labels = {
        "org.opencontainers.image.title": cfg.model.name,
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.created": source.created,
        "org.opencontainers.image.base.name": base.reference,
        f"{LABEL_PREFIX}.model.name": cfg.model.name,
        f"{LABEL_PREFIX}.model.version": version,
        f"{LABEL_PREFIX}.lock.sha256": lock.sha256,
        f"{LABEL_PREFIX}.python": cfg.image.python,
        f"{LABEL_PREFIX}.gpu": "true" if use_gpu else "false",
        f"{LABEL_PREFIX}.version": __version__,
    }
    if source.url:
        labels["org.opencontainers.image.source"] = source.url
    if source.revision:
        labels["org.opencontainers.image.revision"] = source.revision
    if cfg.model.artifact is not None:
        labels[f"{LABEL_PREFIX}.model.sha256"] = sha256_file(cfg.model.artifact)
    runtime = choose(cfg, gpu=use_gpu, signature=signature)
    labels[RUNTIME_LABEL] = runtime.kind
    labels[REASON_LABEL] = runtime.reason
    for name, value in sorted(metrics.items()):
        labels[f"{LABEL_PREFIX}.metrics.{name}"] = f"{value:.6g}"
    spec = ImageSpec(
        model_name=cfg.model.name,
        model_version=version,
        python=cfg.image.python,
        base=base,
        gpu=use_gpu,
        port=cfg.serving.port,
        lock_packages=frozenset(p.name for p in lock.pins),
        signature=signature is not None,
        labels=labels,
        mlrelease_version=__version__,
        runtime=runtime.kind,
    )
    return BuildPlan(
        cfg=cfg,
        lock=lock,
        spec=spec,
        source=source,
        tag=ref,
        signature=signature,
        metrics=metrics,
        runtime=runtime,
    )


def _in_image(cfg: Config, path: Path, default_dir: str) -> str:
    """Where a handoff file goes under app/: its path relative to the config when inside it."""
    try:
        return path.resolve().relative_to(cfg.root).as_posix()
    except ValueError:
        return f"{default_dir}/{path.name}"


def serving_config(cfg: Config) -> tuple[str, dict[str, Path]]:
    """The image's mlrelease.yaml (only what the server reads) and the files it names."""
    raw = yaml.safe_load(cfg.path.read_text("utf-8"))
    trimmed: dict[str, Any] = {k: raw[k] for k in SERVING_KEYS if k in raw}
    model = dict(trimmed["model"])
    files: dict[str, Path] = {}
    if cfg.model.artifact is not None:
        rel = _in_image(cfg, cfg.model.artifact, "model")
        model["artifact"] = rel
        files[rel] = cfg.model.artifact
    if cfg.model.entrypoint and cfg.model.entrypoint.split(":", 1)[0].endswith(".py"):
        module, factory = cfg.model.entrypoint.split(":", 1)
        path = cfg.root / module
        rel = _in_image(cfg, path, "model")
        model["entrypoint"] = f"{rel}:{factory}"
        files[rel] = path
    trimmed["model"] = model
    serving = trimmed.get("serving")
    if isinstance(serving, dict) and isinstance(serving.get("logging"), dict):
        log = serving["logging"]
        if log.get("file"):  # the root file system is read-only; /tmp is the writable place
            serving["logging"] = {**log, "file": f"/tmp/{Path(str(log['file'])).name}"}
    header = f"# The serving part of {cfg.relative(cfg.path)}, as baked into the image by mlrelease build.\n"
    return header + yaml.safe_dump(trimmed, sort_keys=False, allow_unicode=True), files


def resolve_build_only(build: BuildPlan, wheels: tuple[Path, ...]) -> BuildPlan:
    """A compiled-only plan with its build-only packages named (from the locked wheels' own
    requirements); a full plan as it is."""
    if build.spec.runtime != "compiled":
        return build
    from mlrelease.image.runtime import build_only

    return build.with_build_only(build_only(build.lock, wheels, build.spec.python))


def assemble(
    build: BuildPlan,
    ctx: Path,
    *,
    wheel_cache: Path | None = None,
    mlrelease_wheel: Path | None = None,
) -> BuildPlan:
    """Write the build context into the empty folder ``ctx``; the plan as built (a compiled-only
    one with its build-only packages named)."""
    houses = wheelhouse.download(build.lock, python=build.spec.python, cache=wheel_cache)
    build = resolve_build_only(build, houses.files)
    houses.link_into(ctx / "wheels")
    shutil.copy2(build.lock.path, ctx / "requirements.txt")
    dist = ctx / "dist"
    if mlrelease_wheel is not None:
        if not mlrelease_wheel.is_file():
            raise UsageError(f"{mlrelease_wheel}: no such wheel")
        dist.mkdir()
        shutil.copy2(mlrelease_wheel, dist / mlrelease_wheel.name)
    else:
        # A fixed time, not the handoff's commit: the wheel's bytes then depend on mlrelease's
        # source alone, and a model-only commit leaves the dependency layers cached.
        wheelhouse.build_self_wheel(dist, source_date_epoch=0)
    text, files = serving_config(build.cfg)
    app = ctx / "app"
    write_text(app / "mlrelease.yaml", text)
    for rel, path in files.items():
        (app / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, app / rel)
    if build.spec.runtime == "compiled":
        # the builder compiles and proves the model there: the trees' library (built here, where a C
        # compiler is) and the inputs to check it on
        prebuild_trees(build.cfg, ctx / "compile")
        write_samples(build, ctx / "compile")
    elif build.cfg.model.artifact is not None:
        model_dir = (app / _in_image(build.cfg, build.cfg.model.artifact, "model")).parent
        prebuild_trees(build.cfg, model_dir)
    if build.signature is not None:
        shutil.copy2(build.signature, app / "signature.json")
    write_text(ctx / "Dockerfile", build.dockerfile())
    # Same content, same metadata: the classic builder's COPY cache and the image's files
    # must not depend on when or by whom the context was written.
    stamp = build.source.epoch
    for path in sorted(ctx.rglob("*")):
        os.utime(path, (stamp, stamp), follow_symlinks=False)
        if path.is_dir():
            path.chmod(0o755)
        elif path.is_file():
            path.chmod(0o644)
    os.utime(ctx, (stamp, stamp))
    return build


def write_samples(build: BuildPlan, folder: Path) -> None:
    """The inputs the builder checks the compiled model on, as request columns: the validation
    rows, the same with values missing, and random rows past the reference range."""
    from mlrelease.dataset import read_table
    from mlrelease.serve.freeze import SAMPLES
    from mlrelease.serve.freeze import write_samples as write
    from mlrelease.serve.service import check_samples
    from mlrelease.signature import Signature

    if build.signature is None:
        raise UsageError("a compiled-only image needs signature.json", hint="pass --evaluation DIR")
    cfg = build.cfg
    validation = read_table(cfg.validation.data) if cfg.validation is not None else None
    write(check_samples(Signature.read(build.signature), validation), folder / SAMPLES)


def prebuild_trees(cfg: Config, folder: Path) -> Path | None:
    """The model's trees compiled to a library in ``folder`` (beside the model in app/), so that a
    server in an image without a C compiler walks them natively too; None when the model is not
    a tree ensemble mlrelease compiles or no compiler is here. The library depends on nothing
    (not even libc; a LightGBM or XGBoost classifier's transforms go in a second library, linked
    with libm) and serves only after the start-up check proves it bit-identical to the
    model; one that cannot load there leaves the numpy walk serving."""
    if not cfg.serving.compile:
        return None
    from mlrelease.errors import MlreleaseError
    from mlrelease.model import load_model
    from mlrelease.serve.compiled import NotCompilable, substitute
    from mlrelease.serve.native import NoNativeCode
    from mlrelease.serve.native import build as build_library

    try:
        _, compiled = substitute(load_model(cfg.model).estimator)
        library = build_library(compiled.forest, folder)
        if compiled.family.links:  # LightGBM's and XGBoost's sigmoid and softmax, beside the trees
            from mlrelease.serve.links import build as build_links

            build_links(folder)
        return library
    except (NotCompilable, NoNativeCode, MlreleaseError):
        return None


__all__ = [
    "APP",
    "BuildPlan",
    "Source",
    "assemble",
    "plan",
    "prebuild_trees",
    "read_metrics",
    "serving_config",
]
