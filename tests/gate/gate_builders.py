"""Builders for hand-made metrics reports."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlrelease.artifacts.metrics import DataInfo, MetricsReport, ModelInfo, SliceMetrics
from mlrelease.gate import Side


def report(
    metrics: dict[str, float | None],
    *,
    cost: dict[str, float | None] | None = None,
    slices: dict[str, dict[str, float | None]] | None = None,
    noise: dict[str, float] | None = None,
    task: str = "regression",
    sha: str = "a" * 64,
) -> MetricsReport:
    return MetricsReport(
        model=ModelInfo(name="m", version=None, sha256=sha, format="skops", path=None),
        data=DataInfo(path="v.csv", sha256="d" * 64, rows=100),
        task=task,  # type: ignore[arg-type]
        target="y",
        metrics=metrics,
        cost=cost or {},
        slices={k: SliceMetrics(rows=10, metrics=v) for k, v in (slices or {}).items()},
        noise=noise or {},
    )


def side(rep: MetricsReport, predictions: pd.DataFrame | None = None) -> Side:
    return Side(path=Path("metrics.json"), report=rep, predictions=predictions)
