"""``metrics.json``: what ``mlrelease evaluate`` measured, read by the gate and the registry.

The gate imports this reader, not the evaluate engine. Quality metrics by task, per slice, cost
metrics with their run-to-run noise, the model's and the data's sha256 (schema version 1).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mlrelease.artifacts import json_safe, malformed, read_document, write_json

SCHEMA_VERSION = 1
METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.parquet"
GOLDEN_FILE = "golden.parquet"
SIGNATURE_FILE = "signature.json"
PROBA_PREFIX = "proba:"
SLICE_PREFIX = "slice:"
HINT = "re-run `mlrelease evaluate` with this version of mlrelease"


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str | None
    sha256: str | None
    format: str
    path: str | None


@dataclass(frozen=True)
class DataInfo:
    path: str
    sha256: str
    rows: int


@dataclass(frozen=True)
class SliceMetrics:
    rows: int
    metrics: dict[str, float | None]


@dataclass(frozen=True)
class MetricsReport:
    """The typed content of ``metrics.json``. A metric that is NaN or infinite is stored as null."""

    model: ModelInfo
    data: DataInfo
    task: Literal["regression", "classification"]
    target: str | None
    metrics: dict[str, float | None]
    cost: dict[str, float | None]
    slices: dict[str, SliceMetrics]
    noise: dict[str, float] = field(default_factory=dict)  # relative run-to-run spread of cost metrics
    # How the cost metrics were measured: latency_samples taken, the limits, what stopped it.
    measurement: dict[str, Any] = field(default_factory=dict)
    classes: list[Any] | None = None
    confusion_matrix: list[list[int]] | None = None  # rows: true class, columns: predicted (reported only)
    libraries: dict[str, str] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)
    timestamp: str = ""
    schema_version: int = SCHEMA_VERSION

    def value(self, name: str) -> float | None:
        """A quality or cost metric by name (None when absent or not finite)."""
        return self.metrics.get(name, self.cost.get(name))

    def has(self, name: str) -> bool:
        return name in self.metrics or name in self.cost

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str) -> MetricsReport:
        """The report in ``data``, a document whose schema_version was checked."""
        try:
            return cls(
                model=ModelInfo(**data["model"]),
                data=DataInfo(**data["data"]),
                task=data["task"],
                target=data.get("target"),
                metrics={k: _finite(v) for k, v in data["metrics"].items()},
                cost={k: _finite(v) for k, v in data.get("cost", {}).items()},
                slices={
                    k: SliceMetrics(int(v["rows"]), {m: _finite(x) for m, x in v["metrics"].items()})
                    for k, v in data.get("slices", {}).items()
                },
                noise={k: float(v) for k, v in data.get("noise", {}).items()},
                measurement=dict(data.get("measurement", {})),
                classes=data.get("classes"),
                confusion_matrix=data.get("confusion_matrix"),
                libraries=dict(data.get("libraries", {})),
                machine=dict(data.get("machine", {})),
                timestamp=data.get("timestamp", ""),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise malformed(source, METRICS_FILE, exc, HINT) from None

    @classmethod
    def read(cls, path: Path) -> MetricsReport:
        data = read_document(path, kind=METRICS_FILE, version=SCHEMA_VERSION, hint=HINT)
        return cls.from_dict(data, source=str(path))

    def write(self, path: Path) -> None:
        write_json(path, json_safe(self.to_dict()))
