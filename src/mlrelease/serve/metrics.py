"""Prometheus metrics of the server (``GET /metrics``), in a registry of its own.

- ``mlrelease_requests_total{route, code}``
- ``mlrelease_request_duration_seconds{route}`` (histogram, from first byte to answer)
- ``mlrelease_prediction_value`` (histogram of numeric predictions; buckets from the
  validation predictions' spread when the signature has it)
- ``mlrelease_predicted_rows_total``
- ``mlrelease_outlier_rows_total{kind}`` (kind: prediction | input) and
  ``mlrelease_outlier_flags_total{flag}``
- ``mlrelease_rejected_requests_total{reason}`` (reason: validation | too_large | malformed |
  outlier | model_error | not_ready)
- ``mlrelease_batch_rows`` / ``mlrelease_batch_requests`` (histograms of the gathered predicts)
- ``mlrelease_model_info{model, version}`` (1) and ``mlrelease_ready`` (0/1)
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

from mlrelease.signature import Signature

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.02,
    0.03,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
)
CONTENT_TYPE = CONTENT_TYPE_LATEST


def prediction_buckets(signature: Signature) -> tuple[float, ...]:
    stats = signature.prediction
    if stats is None or not stats.max > stats.min:
        return (-1e9, -1e6, -1e3, -1, 0, 1, 1e3, 1e6, 1e9)
    lo, hi = stats.min, stats.max
    span = hi - lo
    edges = np.linspace(lo - 0.5 * span, hi + 0.5 * span, 13)
    return tuple(float(f"{x:.6g}") for x in edges)


class Series:
    """One series of a histogram: counts per bucket (not cumulative), their sum, when it began."""

    def __init__(self, bounds: list[float]):
        self.bounds = bounds
        self.edges = np.array(bounds)
        self.counts = [0] * len(bounds)
        self.sum = 0.0
        self.created = time.time()
        self.lock = threading.Lock()

    def observe(self, value: float) -> None:
        i = bisect.bisect_left(self.bounds, value)  # the first bucket whose bound is >= value
        with self.lock:
            self.counts[i] += 1
            self.sum += value

    def observe_many(self, values: np.ndarray) -> None:
        """All of a request's values at once: one ``searchsorted``, not one call per value."""
        if len(values) == 0:
            return
        counts = np.bincount(np.searchsorted(self.edges, values), minlength=len(self.bounds)).tolist()
        total = float(values.sum())
        with self.lock:
            self.counts = [a + b for a, b in zip(self.counts, counts, strict=True)]
            self.sum += total


class FastHistogram:
    """A histogram whose observation is a bisect and a short lock (prometheus_client's takes a
    lock per bucket and per sum, and checks itself on every call), and that takes a whole array
    in one observation. Exposed as prometheus_client's Histogram exposes one: per series the
    cumulative ``_bucket``, ``_count``, ``_sum`` (when no bucket is negative), ``_created``."""

    def __init__(
        self,
        name: str,
        documentation: str,
        buckets: Iterable[float],
        registry: CollectorRegistry,
        labelnames: tuple[str, ...] = (),
    ):
        self.name = name
        self.documentation = documentation
        self.labelnames = labelnames
        self.bounds = [float(b) for b in buckets]
        if self.bounds[-1] != math.inf:
            self.bounds.append(math.inf)
        go: Callable[[float], str] = floatToGoString  # the "le" label as prometheus_client writes it
        self.les = [go(b) for b in self.bounds]
        self.series: dict[tuple[str, ...], Series] = {}
        if not labelnames:  # as prometheus_client: an unlabelled histogram is exposed from the start
            self.series[()] = Series(self.bounds)
        self._lock = threading.Lock()
        registry.register(self)

    def labels(self, *values: str) -> Series:
        series = self.series.get(values)
        if series is None:
            with self._lock:
                series = self.series.setdefault(values, Series(self.bounds))
        return series

    def observe(self, value: float) -> None:
        self.series[()].observe(value)

    def observe_many(self, values: np.ndarray) -> None:
        self.series[()].observe_many(values)

    def collect(self) -> list[Metric]:
        metric = Metric(self.name, self.documentation, "histogram")
        with self._lock:
            all_series = list(self.series.items())
        for values, series in all_series:
            labels = dict(zip(self.labelnames, values, strict=True))
            with series.lock:
                counts, total = list(series.counts), series.sum
            acc = 0.0
            for le, count in zip(self.les, counts, strict=True):
                acc += count
                metric.add_sample(f"{self.name}_bucket", {**labels, "le": le}, acc)
            metric.add_sample(f"{self.name}_count", labels, acc)
            if self.bounds[0] >= 0:  # as prometheus_client: no _sum when a bucket is negative
                metric.add_sample(f"{self.name}_sum", labels, total)
            metric.add_sample(f"{self.name}_created", labels, series.created)
        return [metric]


_NUMBERS = frozenset({float, int})


class Metrics:
    def __init__(self, model: str, version: str, signature: Signature):
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.requests = Counter("mlrelease_requests", "HTTP requests answered", ["route", "code"], registry=r)
        self.latency = FastHistogram(
            "mlrelease_request_duration_seconds", "Time to answer a request", LATENCY_BUCKETS, r, ("route",)
        )
        self.predictions = FastHistogram(
            "mlrelease_prediction_value", "Numeric predictions", prediction_buckets(signature), r
        )
        self.rows = Counter("mlrelease_predicted_rows", "Rows predicted", registry=r)
        self.outlier_rows = Counter(
            "mlrelease_outlier_rows", "Rows flagged as outliers", ["kind"], registry=r
        )
        self.outlier_flags = Counter("mlrelease_outlier_flags", "Outlier flags raised", ["flag"], registry=r)
        self.rejected = Counter("mlrelease_rejected_requests", "Requests refused", ["reason"], registry=r)
        self.closed = Counter(
            "mlrelease_closed_connections",
            "Connections closed on a limit (header_timeout, body_timeout, max_connections)",
            ["reason"],
            registry=r,
        )
        self.batch_rows = FastHistogram(
            "mlrelease_batch_rows", "Rows per model call", (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024), r
        )
        self.batch_requests = FastHistogram(
            "mlrelease_batch_requests", "Requests per model call", (1, 2, 4, 8, 16, 32, 64), r
        )
        self.info = Gauge("mlrelease_model_info", "The model served", ["model", "version"], registry=r)
        self.info.labels(model, version).set(1)
        self.ready = Gauge("mlrelease_ready", "1 when the model is loaded and warmed up", registry=r)
        self._children: dict[tuple[str, int], Any] = {}
        self._latency: dict[str, Series] = {}

    def request(self, route: str, code: int, seconds: float) -> None:
        child = self._children.get((route, code))
        if child is None:
            child = self._children[(route, code)] = self.requests.labels(route, str(code))
        child.inc()
        lat = self._latency.get(route)
        if lat is None:
            lat = self._latency[route] = self.latency.labels(route)
        lat.observe(seconds)

    def answered(self, predictions: list[Any], flags: list[list[str]]) -> None:
        """Count a request's rows, its numeric predictions and its flags."""
        self.rows.inc(len(predictions))
        if len(predictions) == 1:
            p = predictions[0]
            if (type(p) is float and math.isfinite(p)) or type(p) is int:
                self.predictions.observe(p)
        elif set(map(type, predictions)) <= _NUMBERS:
            values = np.array(predictions, dtype=float)
            self.predictions.observe_many(values[np.isfinite(values)])
        else:  # labels of mixed types: only the numbers count
            numbers = [p for p in predictions if (type(p) is float and math.isfinite(p)) or type(p) is int]
            self.predictions.observe_many(np.array(numbers, dtype=float))
        if not any(flags):
            return
        for row in flags:
            if row:
                kind = "prediction" if any(f.startswith("prediction_") for f in row) else "input"
                self.outlier_rows.labels(kind).inc()
                for f in row:
                    self.outlier_flags.labels(f).inc()

    def batch(self, requests: int, rows: int, _seconds: float) -> None:
        self.batch_rows.observe(rows)
        self.batch_requests.observe(requests)

    def render(self) -> bytes:
        return generate_latest(self.registry)
