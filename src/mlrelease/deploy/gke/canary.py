"""``mlrelease deploy --target gke --canary 10%``: the new release beside the stable one, judged
on both versions' own ``/metrics``, then promoted or removed.

The canary is a Deployment of its own (track ``canary``) behind the same Service, with replicas
that give it about the asked share of the traffic next to the stable pods. After its rollout both
tracks' pods are scraped through the API server's pod proxy at the start and the end of the
judging window; the differences are what each version served in that window. The canary passes
when, against the stable version in the same window:

- its error rate (5xx answers of prediction routes) is at most the stable one's + ``ERROR_SLACK``;
- its p99 latency is at most the stable one's x (1 + the gate's latency tolerance), or one
  histogram bucket above it (the histogram cannot say more);
- its outlier rate (rows flagged / rows predicted) is at most the stable one's + ``OUTLIER_SLACK``;
- the distribution of its predictions has a PSI against the stable one's below
  ``monitoring.drift.alert``, the statistic and threshold the monitor uses for drift.

Then it is promoted (the stable Deployment rolls to the new release by digest, watched as any
deploy, and the canary Deployment is deleted) or removed; either way the outcome names the
events the registry records (``deployed``/``superseded`` or ``marked_bad``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from prometheus_client.parser import text_string_to_metric_families

from mlrelease.config import Config
from mlrelease.deploy.gke import manifests as gke
from mlrelease.deploy.gke import rollout
from mlrelease.deploy.release import DeployRelease
from mlrelease.errors import UsageError

ERROR_SLACK = 0.01  # one percentage point of error rate
OUTLIER_SLACK = 0.01  # one percentage point of flagged rows
DEFAULT_LATENCY_TOLERANCE = 0.10
PSI_FLOOR = 1e-4  # an empty bucket counts as this share, so PSI stays finite
# Routes that are not predictions: probes and scrapes (serve/app.py answers them unlogged).
NOT_PREDICTIONS = frozenset(
    {"/healthz", "/readyz", "/metrics", "/v2/health/live", "/v2/health/ready", "/ping", "/health", "unknown"}
)


def parse_share(text: str) -> float:
    """'10%' or '0.1' -> 0.1; a share must be above 0 and below 1."""
    raw = text.strip()
    try:
        share = float(raw.rstrip("%")) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        share = math.nan
    if not 0 < share < 1:
        raise UsageError(
            f"--canary {text!r} is not a share of the traffic", hint="write it as 10% (between 0 and 100)"
        )
    return share


def canary_replicas(stable: int, share: float) -> int:
    """Replicas giving the canary about ``share`` of the pods: c / (stable + c) ~ share."""
    return max(1, round(stable * share / (1 - share)))


@dataclass(frozen=True)
class Sample:
    """What one track's pods had served, summed over its pods, at one moment."""

    requests: float = 0
    errors: float = 0
    latency: dict[float, float] = field(default_factory=dict)  # le -> cumulative count
    rows: float = 0
    outlier_rows: float = 0
    predictions: dict[float, float] = field(default_factory=dict)  # le -> cumulative count

    def __sub__(self, other: Sample) -> Sample:
        return Sample(
            self.requests - other.requests,
            self.errors - other.errors,
            {k: v - other.latency.get(k, 0) for k, v in self.latency.items()},
            self.rows - other.rows,
            self.outlier_rows - other.outlier_rows,
            {k: v - other.predictions.get(k, 0) for k, v in self.predictions.items()},
        )

    def __add__(self, other: Sample) -> Sample:
        keys = set(self.latency) | set(other.latency)
        pkeys = set(self.predictions) | set(other.predictions)
        return Sample(
            self.requests + other.requests,
            self.errors + other.errors,
            {k: self.latency.get(k, 0) + other.latency.get(k, 0) for k in keys},
            self.rows + other.rows,
            self.outlier_rows + other.outlier_rows,
            {k: self.predictions.get(k, 0) + other.predictions.get(k, 0) for k in pkeys},
        )

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def outlier_rate(self) -> float:
        return self.outlier_rows / self.rows if self.rows else 0.0

    def p99_ms(self) -> float | None:
        """The upper edge of the latency bucket that holds the 99th percentile, in ms."""
        edges = sorted(self.latency)
        if not edges or self.latency[edges[-1]] <= 0:
            return None
        total = self.latency[edges[-1]]
        for le in edges:
            if self.latency[le] >= 0.99 * total:
                return le * 1000
        return None

    def next_edge_ms(self, ms: float) -> float:
        above = [le * 1000 for le in sorted(self.latency) if le * 1000 > ms]
        return above[0] if above else math.inf


def parse_metrics(text: str) -> Sample:
    """The figures a canary is judged on, from one pod's Prometheus text."""
    requests = errors = rows = outliers = 0.0
    latency: dict[float, float] = {}
    predictions: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            route = s.labels.get("route", "")
            if s.name == "mlrelease_requests_total" and route not in NOT_PREDICTIONS:
                requests += s.value
                errors += s.value if s.labels.get("code", "").startswith("5") else 0
            elif s.name == "mlrelease_request_duration_seconds_bucket" and route not in NOT_PREDICTIONS:
                le = float(s.labels["le"])
                latency[le] = latency.get(le, 0) + s.value
            elif s.name == "mlrelease_predicted_rows_total":
                rows += s.value
            elif s.name == "mlrelease_outlier_rows_total":
                outliers += s.value
            elif s.name == "mlrelease_prediction_value_bucket":
                le = float(s.labels["le"])
                predictions[le] = predictions.get(le, 0) + s.value
    return Sample(requests, errors, latency, rows, outliers, predictions)


def psi(expected: dict[float, float], actual: dict[float, float]) -> float:
    """Population stability index between two cumulative histograms with the same edges."""
    edges = sorted(set(expected) | set(actual))

    def shares(cum: dict[float, float]) -> list[float]:
        counts, prev = [], 0.0
        for le in edges:
            c = cum.get(le, prev)
            counts.append(max(c - prev, 0.0))
            prev = c
        total = sum(counts)
        return [max(c / total, PSI_FLOOR) if total else PSI_FLOOR for c in counts]

    e, a = shares(expected), shares(actual)
    return sum((ai - ei) * math.log(ai / ei) for ei, ai in zip(e, a, strict=True))


@dataclass(frozen=True)
class Check:
    name: str
    stable: float | None
    canary: float | None
    limit: float | None
    ok: bool

    def render(self) -> str:
        def f(x: float | None) -> str:
            return "n/a" if x is None else f"{x:.4g}"

        mark = "ok  " if self.ok else "FAIL"
        return f"{mark} {self.name}: canary {f(self.canary)}, stable {f(self.stable)}, limit {f(self.limit)}"


def latency_tolerance(cfg: Config) -> float:
    """The gate's own tolerance for latency, when it has one; else 10%."""
    for name in ("p99_latency_ms", "p95_latency_ms"):
        rule = cfg.gate.metrics.get(name)
        if rule is not None and rule.max_regression is not None and rule.max_regression.relative:
            return rule.max_regression.value
    return DEFAULT_LATENCY_TOLERANCE


def judge(cfg: Config, stable: Sample, canary: Sample, min_requests: int) -> list[Check]:
    checks = [
        Check(
            "requests",
            float(min_requests),
            canary.requests,
            float(min_requests),
            canary.requests >= min_requests,
        ),
        Check(
            "error_rate",
            stable.error_rate,
            canary.error_rate,
            stable.error_rate + ERROR_SLACK,
            canary.error_rate <= stable.error_rate + ERROR_SLACK,
        ),
    ]
    s99, c99 = stable.p99_ms(), canary.p99_ms()
    if s99 is not None and c99 is not None:
        limit = max(s99 * (1 + latency_tolerance(cfg)), stable.next_edge_ms(s99))
        checks.append(Check("p99_latency_ms", s99, c99, limit, c99 <= limit))
    checks.append(
        Check(
            "outlier_rate",
            stable.outlier_rate,
            canary.outlier_rate,
            stable.outlier_rate + OUTLIER_SLACK,
            canary.outlier_rate <= stable.outlier_rate + OUTLIER_SLACK,
        )
    )
    if stable.predictions and canary.predictions:
        value = psi(stable.predictions, canary.predictions)
        alert = cfg.monitoring.drift.alert
        checks.append(Check("prediction_psi", 0.0, value, alert, value < alert))
    return checks


@dataclass(frozen=True)
class CanaryOutcome:
    status: Literal["promoted", "aborted"]
    release: DeployRelease
    stable: DeployRelease
    replicas: tuple[int, int]  # stable, canary
    checks: tuple[Check, ...]
    reason: str
    events: tuple[dict[str, Any], ...]  # what the registry records
    promotion: rollout.DeployOutcome | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "release": self.release.to_json(),
            "stable": self.stable.to_json(),
            "replicas": {"stable": self.replicas[0], "canary": self.replicas[1]},
            "checks": [c.__dict__ for c in self.checks],
            "reason": self.reason,
            "events": list(self.events),
            "promotion": self.promotion.to_json() if self.promotion else None,
        }


def _scrape(cluster: rollout.Cluster, ns: str, release: DeployRelease, track: str, port: int) -> Sample:
    selector = ",".join(f"{k}={v}" for k, v in gke.selector(release, track).items())
    total = Sample()
    for pod in cluster.pods(ns, selector):
        if (pod.get("status") or {}).get("phase") == "Running":
            total = total + parse_metrics(cluster.metrics(ns, pod["metadata"]["name"], port))
    return total


def run(
    cluster: rollout.Cluster,
    cfg: Config,
    release: DeployRelease,
    share: float,
    *,
    judge_s: float = 300,
    min_requests: int = 100,
    timeout_s: float | None = None,
    poll_s: float = 2.0,
    progress: rollout.Progress = lambda _: None,
    sleep: Callable[[float], None] = time.sleep,
) -> CanaryOutcome:
    """Run ``release`` as a canary beside the stable release, judge it, promote or remove it."""
    gk = gke.gke_config(cfg)
    ns = gk.namespace
    stable = rollout.current_release(cluster, ns, release.model)
    if stable is None:
        raise UsageError(
            f"no stable release of {release.model} runs in {ns}: a canary needs one to be compared with",
            hint="deploy the first release without --canary",
        )
    dep = cluster.deployment(ns, release.model) or {}
    n = int(
        (dep.get("status") or {}).get("replicas")
        or (dep.get("spec") or {}).get("replicas")
        or gk.min_replicas
    )
    k = canary_replicas(n, share)
    wait = timeout_s if timeout_s is not None else gk.progress_deadline_s + 60
    progress(
        f"canary {release.version} beside {stable.version}: {k} of {n + k} pods,"
        f" about {100 * k / (n + k):.0f}% of the traffic (asked {100 * share:g}%)"
    )
    manifest = gke.canary_deployment(cfg, release, k)
    got = cluster.apply(manifest.body)
    generation = int((got.get("metadata") or {}).get("generation") or 0)
    started = rollout.watch(
        cluster, release, ns, generation, timeout_s=wait, poll_s=poll_s, progress=progress, track="canary"
    )

    def remove(reason: str, checks: list[Check]) -> CanaryOutcome:
        cluster.delete_deployment(ns, gke.deployment_name(release, "canary"))
        progress(f"canary removed: {reason}")
        event = {"kind": "marked_bad", "model": release.model, "version": release.version, "reason": reason}
        return CanaryOutcome("aborted", release, stable, (n, k), tuple(checks), reason, (event,))

    if not started.ok:
        for line in started.diagnostics:
            progress(f"  {line}")
        return remove(f"the canary did not roll out: {started.reason}: {started.message}", [])
    port = release.port
    before = (_scrape(cluster, ns, stable, "stable", port), _scrape(cluster, ns, release, "canary", port))
    progress(f"judging for {judge_s:g} s")
    sleep(judge_s)
    after = (_scrape(cluster, ns, stable, "stable", port), _scrape(cluster, ns, release, "canary", port))
    checks = judge(cfg, after[0] - before[0], after[1] - before[1], min_requests)
    for c in checks:
        progress(c.render())
    failed = [c for c in checks if not c.ok]
    if failed:
        return remove("; ".join(f"{c.name} {c.canary:.4g} over {c.limit:.4g}" for c in failed), checks)
    progress(f"promoting {release.version}")
    promotion = rollout.deploy(
        cluster, cfg, release, previous=stable, timeout_s=wait, poll_s=poll_s, progress=progress
    )
    cluster.delete_deployment(ns, gke.deployment_name(release, "canary"))
    if promotion.status != "deployed":
        reason = f"the promotion's rollout failed: {promotion.rollout.reason}"
        event = {"kind": "marked_bad", "model": release.model, "version": release.version, "reason": reason}
        return CanaryOutcome("aborted", release, stable, (n, k), tuple(checks), reason, (event,), promotion)
    events = (
        {"kind": "deployed", "model": release.model, "version": release.version, "reason": "canary promoted"},
        {
            "kind": "superseded",
            "model": stable.model,
            "version": stable.version,
            "reason": f"by {release.version}",
        },
    )
    return CanaryOutcome(
        "promoted", release, stable, (n, k), tuple(checks), "every check passed", events, promotion
    )
