"""``DeployRelease``: what a deploy runs. One small, typed input, whatever it was made from.

Made from the config alone (the config's image with a placeholder digest, so a user can look at
the objects before the first build), from ``image.json`` (+ ``metrics.json``), or from a release
record of the registry (``from_record``: ``mlrelease deploy VERSION --target gke``). The rendered
Deployment carries it as the ``mlrelease.dev/release`` annotation, so the cluster itself says what
it runs and a rollback can re-render the previous release from it.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, replace
from typing import Any

from mlrelease.artifacts.metrics import MetricsReport
from mlrelease.config import Config
from mlrelease.errors import UsageError
from mlrelease.image.record import ImageRecord
from mlrelease.registry.record import Release

PLACEHOLDER_DIGEST = "sha256:" + "0" * 64
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
# A label value: at most 63 characters, alphanumeric at both ends, '-', '_' or '.' inside.
LABEL_VALUE_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
ANNOTATION = "mlrelease.dev/release"


@dataclass(frozen=True)
class Figures:
    """The evaluate figures the pod's resources are sized from (``metrics.json`` ``cost``)."""

    peak_memory_bytes: float | None = None
    model_size_bytes: float | None = None
    p99_latency_ms: float | None = None

    @classmethod
    def from_metrics(cls, report: MetricsReport) -> Figures:
        return cls(
            peak_memory_bytes=report.cost.get("peak_memory_bytes"),
            model_size_bytes=report.cost.get("model_size_bytes"),
            p99_latency_ms=report.cost.get("p99_latency_ms"),
        )


@dataclass(frozen=True)
class DeployRelease:
    """One deployable release: the model, its version, and the image by digest."""

    model: str
    version: str  # a label value: "v3", or the config's model.version, or "unreleased"
    image: str  # the repository, without tag or digest
    digest: str  # sha256:<64 hex>; PLACEHOLDER_DIGEST before the first push
    gpu: bool
    port: int
    figures: Figures = Figures()

    def __post_init__(self) -> None:
        if not DIGEST_RE.match(self.digest):
            raise UsageError(f"image digest {self.digest!r} is not sha256:<64 hex digits>")
        if not LABEL_VALUE_RE.match(self.version):
            raise UsageError(
                f"version {self.version!r} cannot be a Kubernetes label value",
                hint="use at most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric",
            )

    @property
    def reference(self) -> str:
        """What the pod pulls: REPO@sha256:..., never a tag."""
        return f"{self.image}@{self.digest}"

    @property
    def placeholder(self) -> bool:
        return self.digest == PLACEHOLDER_DIGEST

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def annotation(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_annotation(cls, text: str, *, source: str) -> DeployRelease:
        try:
            data = json.loads(text)
            return cls(**{**data, "figures": Figures(**data.get("figures") or {})})
        except (ValueError, TypeError) as exc:
            raise UsageError(f"{source}: annotation {ANNOTATION} is not a release: {exc}") from None

    def with_image(self, reference: str) -> DeployRelease:
        """The same release with the image named as REPO@sha256:DIGEST."""
        repo, sep, digest = reference.partition("@")
        if not sep or not repo:
            raise UsageError(
                f"image {reference!r} is not REPO@sha256:DIGEST", hint="name the image by digest"
            )
        return replace(self, image=repo, digest=digest)

    @classmethod
    def from_config(
        cls,
        cfg: Config,
        image: ImageRecord | None = None,
        metrics: MetricsReport | None = None,
        version: str | None = None,
    ) -> DeployRelease:
        """From the config, and ``image.json`` once pushed; without one, a placeholder digest."""
        figures = Figures.from_metrics(metrics) if metrics else Figures()
        if image is not None:
            if not image.repo_digest:
                raise UsageError(
                    "the image has no registry digest: a cluster can only pull a pushed image",
                    hint="run `mlrelease push` first; it records the digest in image.json",
                )
            repo, digest = image.repo_digest.split("@", 1)
            return cls(
                model=cfg.model.name,
                version=version or cfg.model.version or "unreleased",
                image=repo,
                digest=digest,
                gpu=image.gpu,
                port=image.port,
                figures=figures,
            )
        repo = f"{cfg.image.registry.rstrip('/')}/{cfg.model.name}" if cfg.image.registry else cfg.model.name
        return cls(
            model=cfg.model.name,
            version=version or cfg.model.version or "unreleased",
            image=repo,
            digest=PLACEHOLDER_DIGEST,
            gpu=cfg.image.gpu,
            port=cfg.serving.port,
            figures=figures,
        )

    @classmethod
    def from_record(cls, record: Release) -> DeployRelease:
        """A release of the registry, as the cluster runs it: its image by digest, ``vN`` as the
        version label, GPU from the config it was released with, the figures from its metrics."""
        repo, sep, digest = record.image.reference.partition("@")
        if not sep or not DIGEST_RE.match(digest):
            raise UsageError(
                f"{record.model} {record.tag}: the image {record.image.reference} is not named by digest",
                hint="a cluster pulls a pushed image: release a build after `mlrelease push`",
            )
        image = record.config.get("image")
        gpu = bool(image.get("gpu", False)) if isinstance(image, dict) else False
        return cls(
            model=record.model,
            version=record.tag,
            image=repo,
            digest=digest,
            gpu=gpu,
            port=record.image.port,
            figures=Figures(
                peak_memory_bytes=record.metrics.get("peak_memory_bytes"),
                model_size_bytes=record.metrics.get("model_size_bytes"),
                p99_latency_ms=record.metrics.get("p99_latency_ms"),
            ),
        )
