"""Judge a running release by its ``/metrics``: error rate, p99 latency and outlier rate.

Figures are the change between the first read and the latest, so traffic before the watch
started does not count. Only prediction routes count as requests (not /metrics, health, docs).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from mlrelease.config import WatchConfig

NOT_PREDICTIONS = frozenset(
    {
        "/metrics",
        "/healthz",
        "/readyz",
        "/version",
        "/docs",
        "/openapi.json",
        "/ping",
        "/health",
        "/v2/health/live",
        "/v2/health/ready",
        "/v1/models",
        "/v2",
        "unknown",
    }
)


@dataclass(frozen=True)
class Sample:
    requests: float
    errors: float  # 5xx
    buckets: dict[float, float]  # le -> cumulative count, prediction routes together
    rows: float
    outlier_rows: float


def parse(text: str) -> Sample:
    requests = errors = rows = outliers = 0.0
    buckets: dict[float, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            route = s.labels.get("route", "")
            if s.name == "mlrelease_requests_total" and route not in NOT_PREDICTIONS:
                requests += s.value
                if s.labels.get("code", "").startswith("5"):
                    errors += s.value
            elif s.name == "mlrelease_request_duration_seconds_bucket" and route not in NOT_PREDICTIONS:
                buckets[float(s.labels["le"])] += s.value
            elif s.name == "mlrelease_predicted_rows_total":
                rows += s.value
            elif s.name == "mlrelease_outlier_rows_total":
                outliers += s.value
    return Sample(requests, errors, dict(buckets), rows, outliers)


@dataclass(frozen=True)
class Figures:
    requests: int
    error_rate: float
    p99_ms: float | None  # the upper edge of the histogram bucket that holds the 99th percentile
    outlier_rate: float
    rows: int


def figures(first: Sample, last: Sample) -> Figures:
    n = last.requests - first.requests
    rows = last.rows - first.rows
    p99 = None
    counts = sorted((le, last.buckets.get(le, 0.0) - first.buckets.get(le, 0.0)) for le in last.buckets)
    total = counts[-1][1] if counts else 0.0
    if total > 0:
        for le, cum in counts:
            if cum >= 0.99 * total:
                p99 = math.inf if math.isinf(le) else le * 1000
                break
    outlier_rate = min(1.0, (last.outlier_rows - first.outlier_rows) / rows) if rows > 0 else 0.0
    return Figures(int(n), (last.errors - first.errors) / n if n > 0 else 0.0, p99, outlier_rate, int(rows))


@dataclass(frozen=True)
class Breach:
    limit: str
    figure: float
    threshold: float

    def __str__(self) -> str:
        if self.limit == "max_p99_ms":
            return f"p99 latency {self.figure:g} ms > watch.max_p99_ms {self.threshold:g} ms"
        what = "error rate" if self.limit == "max_error_rate" else "outlier rate"
        return f"{what} {self.figure:.1%} > watch.{self.limit} {self.threshold:.1%}"


def judge(f: Figures, limits: WatchConfig) -> list[Breach]:
    if f.requests < limits.min_requests:
        return []
    out = []
    if f.error_rate > limits.max_error_rate:
        out.append(Breach("max_error_rate", f.error_rate, limits.max_error_rate))
    if f.p99_ms is not None and f.p99_ms > limits.max_p99_ms:
        out.append(Breach("max_p99_ms", f.p99_ms, limits.max_p99_ms))
    if f.outlier_rate > limits.max_outlier_rate:
        out.append(Breach("max_outlier_rate", f.outlier_rate, limits.max_outlier_rate))
    return out
