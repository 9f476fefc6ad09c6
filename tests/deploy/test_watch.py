"""watch's figures from real Prometheus text (the server's own Metrics class), and its verdicts."""

from __future__ import annotations

from prometheus_client import generate_latest

from mlrelease.config import WatchConfig
from mlrelease.deploy.watch import figures, judge, parse
from mlrelease.serve.metrics import Metrics
from mlrelease.signature import Signature


def _metrics() -> Metrics:
    return Metrics("m", "v1", Signature(fields=(), target=None, task="regression", prediction=None))


def test_error_rate_p99_and_outlier_rate_count_only_what_happened_during_the_watch():
    m = _metrics()
    for _ in range(50):  # before the watch: not counted
        m.requests.labels("/predict", "500").inc()
    first = parse(generate_latest(m.registry).decode())
    for i in range(100):
        code = "503" if i < 3 else "200"
        m.requests.labels("/predict", code).inc()
        m.latency.labels("/predict").observe(0.004 if i < 98 else 0.4)
    for _ in range(40):
        m.requests.labels("/metrics", "500").inc()  # not a prediction route
    m.rows.inc(200)
    m.outlier_rows.labels("prediction").inc(30)
    f = figures(first, parse(generate_latest(m.registry).decode()))
    assert f.requests == 100 and abs(f.error_rate - 0.03) < 1e-9
    assert f.p99_ms == 500  # the bucket edge that holds the 99th of 100: two slow ones at 400 ms
    assert abs(f.outlier_rate - 0.15) < 1e-9

    limits = WatchConfig(max_error_rate=0.01, max_p99_ms=250, max_outlier_rate=0.2, min_requests=20)
    assert [b.limit for b in judge(f, limits)] == ["max_error_rate", "max_p99_ms"]
    assert str(judge(f, limits)[0]) == "error rate 3.0% > watch.max_error_rate 1.0%"
    assert judge(f, WatchConfig(min_requests=101)) == []  # too little traffic for a verdict
