"""The model's input signature: the columns it takes, their types, categories and nullability,
and robust statistics of the reference data for outlier checks.

Inferred at evaluate time from the reference (or validation) data and written as
``signature.json`` beside ``metrics.json``; the server validates every request against it and
generates ``/openapi.json`` from it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from mlrelease.artifacts import malformed, read_document, write_json
from mlrelease.errors import ArtifactError, DataError

if TYPE_CHECKING:  # only inference reads a DataFrame: the server imports this module without pandas
    import pandas as pd

SCHEMA_VERSION = 1
HINT = "run `mlrelease evaluate` (with this version of mlrelease) to write it again"
Kind = Literal["number", "integer", "boolean", "string"]
MAX_CATEGORIES = 50


@dataclass(frozen=True)
class FieldSpec:
    """One input column."""

    name: str
    kind: Kind
    nullable: bool = False
    categories: tuple[str, ...] | None = None  # for string columns with few distinct values
    min: float | None = None  # observed in the reference data
    max: float | None = None
    median: float | None = None
    mad: float | None = None  # median absolute deviation, scaled to a standard deviation

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema of one value of this column (for OpenAPI)."""
        base: dict[str, Any] = {"type": self.kind}
        if self.categories:
            base["enum"] = list(self.categories)
        if self.kind == "boolean":
            base = {"type": ["boolean", "integer"]}
        if self.nullable:
            types = base["type"] if isinstance(base["type"], list) else [base["type"]]
            base["type"] = [*types, "null"]
            if "enum" in base:
                base["enum"] = [*base["enum"], None]
        return base


@dataclass(frozen=True)
class PredictionStats:
    """The spread of predictions on the validation data: where learned bounds come from."""

    min: float
    max: float
    p01: float
    p99: float


@dataclass(frozen=True)
class Signature:
    fields: tuple[FieldSpec, ...]
    target: str | None = None
    task: Literal["regression", "classification"] | None = None
    classes: tuple[Any, ...] | None = None
    prediction: PredictionStats | None = None
    schema_version: int = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["fields"] = [_clean(asdict(f)) for f in self.fields]
        return _clean(data)

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema of one input record."""
        return {
            "type": "object",
            "properties": {f.name: f.json_schema() for f in self.fields},
            "required": [f.name for f in self.fields if not f.nullable],
        }

    def write(self, path: Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "signature") -> Signature:
        try:
            version = data.get("schema_version")
            if version != SCHEMA_VERSION:
                raise ArtifactError(
                    f"{source}: schema_version {version!r} is not {SCHEMA_VERSION}", hint=HINT
                )
            fields = tuple(
                FieldSpec(**{**f, "categories": tuple(f["categories"]) if f.get("categories") else None})
                for f in data["fields"]
            )
            pred = data.get("prediction")
            return cls(
                fields=fields,
                target=data.get("target"),
                task=data.get("task"),
                classes=tuple(data["classes"]) if data.get("classes") is not None else None,
                prediction=PredictionStats(**pred) if pred else None,
                extra=dict(data.get("extra") or {}),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise malformed(source, "signature.json", exc, HINT) from None

    @classmethod
    def read(cls, path: Path) -> Signature:
        data = read_document(path, kind="signature.json", version=SCHEMA_VERSION, hint=HINT)
        return cls.from_dict(data, source=str(path))


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def _num(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def infer_field(name: str, series: pd.Series) -> FieldSpec:
    import pandas as pd

    nullable = bool(series.isna().any())
    values = series.dropna()
    if pd.api.types.is_bool_dtype(series):
        return FieldSpec(name, "boolean", nullable)
    if pd.api.types.is_numeric_dtype(series):
        kind: Kind = "integer" if pd.api.types.is_integer_dtype(series) else "number"
        if values.empty:
            return FieldSpec(name, kind, nullable)
        arr = values.to_numpy(dtype=float)
        median = float(np.median(arr))
        mad = float(np.median(np.abs(arr - median)) * 1.4826)
        if mad == 0.0:  # a column with one dominant value: fall back to the standard deviation
            mad = float(np.std(arr))
        return FieldSpec(
            name, kind, nullable, min=_num(arr.min()), max=_num(arr.max()), median=_num(median), mad=_num(mad)
        )
    distinct = values.astype(str).unique()
    categories = tuple(sorted(distinct)) if len(distinct) <= MAX_CATEGORIES else None
    return FieldSpec(name, "string", nullable, categories=categories)


def infer_signature(
    frame: pd.DataFrame,
    features: list[str],
    *,
    target: str | None = None,
    task: Literal["regression", "classification"] | None = None,
) -> Signature:
    """Infer the signature of ``features`` from ``frame`` (the reference data)."""
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise DataError(f"the data lacks the model's input columns: {', '.join(missing)}")
    classes = None
    if task == "classification" and target and target in frame.columns:
        classes = tuple(sorted(frame[target].dropna().unique().tolist(), key=str))
    return Signature(
        fields=tuple(infer_field(c, frame[c]) for c in features), target=target, task=task, classes=classes
    )


def with_predictions(signature: Signature, predictions: np.ndarray) -> Signature:
    """The signature with the spread of numeric predictions recorded (for learned bounds)."""
    arr = np.asarray(predictions, dtype=float)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return signature
    stats = PredictionStats(
        min=float(arr.min()),
        max=float(arr.max()),
        p01=float(np.quantile(arr, 0.01)),
        p99=float(np.quantile(arr, 0.99)),
    )
    return Signature(
        fields=signature.fields,
        target=signature.target,
        task=signature.task,
        classes=signature.classes,
        prediction=stats,
        extra=signature.extra,
    )
