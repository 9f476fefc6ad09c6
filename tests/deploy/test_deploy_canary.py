"""`mlrelease deploy --target gke --canary 10%` against kmock's KubernetesEmulator: the canary
runs beside the stable release, both are judged from their pods' real /metrics (the server's own
Metrics, served through the API server's pod proxy), and the canary is promoted or removed."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from pathlib import Path

import pytest
from kube import Controller, api_server, client
from test_deploy_gke import NAME, NS, REPO, assert_cluster_runs, cluster_objects

from mlrelease import config as cfgmod
from mlrelease.deploy.gke import canary, rollout
from mlrelease.deploy.release import DeployRelease
from mlrelease.errors import UsageError
from mlrelease.serve.metrics import Metrics
from mlrelease.signature import FieldSpec, PredictionStats, Signature

CPU = Path(__file__).resolve().parent.parent / "fixtures" / "deploy-gke-cpu"
A, B = "sha256:" + "a1" * 32, "sha256:" + "b2" * 32
SIGNATURE = Signature(
    fields=(FieldSpec("area_m2", "float"),),
    prediction=PredictionStats(min=2e6, max=2e7, p01=2.5e6, p99=1.8e7),
)


@pytest.fixture()
def cfg() -> cfgmod.Config:
    return cfgmod.load(CPU, check_files=False)


def rel(cfg, digest, version) -> DeployRelease:
    return replace(DeployRelease.from_config(cfg), digest=digest, version=version)


class Pod:
    """One pod's server metrics: the real Metrics class, fed traffic between two scrapes."""

    def __init__(self, version: str, *, error_rate=0.0, shift=1.0, seed=0):
        self.metrics = Metrics(NAME, version, SIGNATURE)
        self.error_rate, self.shift = error_rate, shift
        self.rng = random.Random(seed)

    def traffic(self, requests: int) -> None:
        for _ in range(requests):
            code = 500 if self.rng.random() < self.error_rate else 200
            self.metrics.request("/predict", code, self.rng.uniform(0.002, 0.004))
            self.metrics.request("/readyz", 200, 0.0001)  # probes do not count
            if code == 200:
                price = self.rng.gauss(6e6, 1.5e6) * self.shift
                self.metrics.answered([price], [["prediction_above_max"]] if price > 3e7 else [[]])

    def __call__(self) -> bytes:
        self.traffic(200)  # what the pod served since the last scrape
        return self.metrics.render()


def serve_metrics(emulator, deployment: str, digest: str, replicas: int, **kw) -> None:
    """Each pod's /metrics behind the API server's pod proxy (one reaction routes them all)."""
    pods = emulator.__dict__.setdefault("metric_pods", {})
    if not pods:

        def answer(request):
            return pods[request.url.path]()

        emulator["get", re.compile(r"^/api/v1/namespaces/[^/]+/pods/[^/]+/proxy/metrics$")] << answer
    for i in range(replicas):
        pod = f"{deployment}-{digest.rsplit(':', 1)[-1][:12]}-{i}"
        pods[f"/api/v1/namespaces/{NS}/pods/{pod}:8080/proxy/metrics"] = Pod(pod, seed=i, **kw)


def run_canary(cfg, url, release, **kw):
    lines: list[str] = []
    outcome = canary.run(
        rollout.Cluster(client(url)),
        cfg,
        release,
        0.1,
        judge_s=0,
        min_requests=100,
        timeout_s=10,
        poll_s=0.02,
        progress=lines.append,
        **kw,
    )
    return outcome, lines


def start(cfg, url):
    outcome = rollout.deploy(rollout.Cluster(client(url)), cfg, rel(cfg, A, "v1"), timeout_s=10, poll_s=0.02)
    assert outcome.status == "deployed"


def test_a_healthy_canary_is_promoted_and_the_canary_deployment_removed(cfg):
    with api_server() as (emulator, url):
        serve_metrics(emulator, NAME, A, 2)
        serve_metrics(emulator, f"{NAME}-canary", B, 1)
        with (
            Controller(url, NS, NAME, lambda image: "ready"),
            Controller(url, NS, f"{NAME}-canary", lambda image: "ready", replicas=1) as can,
        ):
            start(cfg, url)
            outcome, lines = run_canary(cfg, url, rel(cfg, B, "v2"))
        assert outcome.status == "promoted", lines
        assert outcome.replicas == (2, 1)
        assert [c.name for c in outcome.checks] == [
            "requests",
            "error_rate",
            "p99_latency_ms",
            "outlier_rate",
            "prediction_psi",
        ]
        assert all(c.ok for c in outcome.checks)
        assert [e["kind"] for e in outcome.events] == ["deployed", "superseded"]
        assert can.seen == [(1, f"{REPO}@{B}")]
        # the stable Deployment now runs v2; the canary Deployment is gone
        assert_cluster_runs(url, cfg, rel(cfg, B, "v2"), generation=2)
        assert f"{NAME}-canary" not in {d["metadata"]["name"] for d in _deployments(url)}
        assert lines[0] == "canary v2 beside v1: 1 of 3 pods, about 33% of the traffic (asked 10%)"


@pytest.mark.parametrize(
    "bad,check",
    [({"shift": 1.6}, "prediction_psi"), ({"error_rate": 0.2}, "error_rate")],
    ids=["predictions-drift", "errors"],
)
def test_a_bad_canary_is_removed_and_the_stable_release_left_alone(cfg, bad, check):
    with api_server() as (emulator, url):
        serve_metrics(emulator, NAME, A, 2)
        serve_metrics(emulator, f"{NAME}-canary", B, 1, **bad)
        with (
            Controller(url, NS, NAME, lambda image: "ready"),
            Controller(url, NS, f"{NAME}-canary", lambda image: "ready", replicas=1),
        ):
            start(cfg, url)
            outcome, lines = run_canary(cfg, url, rel(cfg, B, "v2"))
        assert outcome.status == "aborted", lines
        failed = [c.name for c in outcome.checks if not c.ok]
        assert failed == [check], lines
        assert outcome.reason.startswith(check)
        assert outcome.events == (
            {"kind": "marked_bad", "model": NAME, "version": "v2", "reason": outcome.reason},
        )
        assert_cluster_runs(url, cfg, rel(cfg, A, "v1"), generation=1)  # untouched
        assert f"{NAME}-canary" not in {d["metadata"]["name"] for d in _deployments(url)}
        assert cluster_objects(url)["Deployment"]["spec"]["template"]["spec"]["containers"][0][
            "image"
        ].endswith(A)


def test_a_canary_needs_a_stable_release(cfg):
    with api_server() as (_, url), pytest.raises(UsageError, match="no stable release"):
        run_canary(cfg, url, rel(cfg, B, "v2"))


def test_share_and_replicas():
    assert canary.parse_share("10%") == pytest.approx(0.1)
    assert canary.parse_share("0.25") == 0.25
    for bad in ("0%", "100%", "ten", "-5%"):
        with pytest.raises(UsageError):
            canary.parse_share(bad)
    assert canary.canary_replicas(18, 0.1) == 2  # 2 of 20 pods
    assert canary.canary_replicas(2, 0.1) == 1  # never none


def test_psi_is_zero_for_the_same_distribution_and_grows_with_a_shift():
    same = Pod("a", seed=1)
    other = Pod("b", seed=2)
    moved = Pod("c", seed=3, shift=1.6)
    for p in (same, other, moved):
        p.traffic(2000)
    s = canary.parse_metrics(same.metrics.render().decode())
    o = canary.parse_metrics(other.metrics.render().decode())
    m = canary.parse_metrics(moved.metrics.render().decode())
    assert canary.psi(s.predictions, s.predictions) == 0
    assert canary.psi(s.predictions, o.predictions) < 0.05
    assert canary.psi(s.predictions, m.predictions) > 0.2
    assert s.requests == 2000  # probes are not counted


def _deployments(url):
    import json

    import kubernetes

    apps = kubernetes.client.AppsV1Api(client(url))
    return json.loads(apps.list_namespaced_deployment(NS, _preload_content=False).data)["items"]


def test_cli_canary_removed_exits_1_with_the_reason(cfg, capsys, tmp_path, monkeypatch):
    from test_deploy_gke import deploy_cli

    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    with api_server() as (emulator, url):
        serve_metrics(emulator, NAME, A, 2)
        serve_metrics(emulator, f"{NAME}-canary", B, 1, error_rate=0.3)
        with (
            Controller(url, NS, NAME, lambda image: "ready"),
            Controller(url, NS, f"{NAME}-canary", lambda image: "ready", replicas=1),
        ):
            code, _, err = deploy_cli(capsys, tmp_path, url, A, "v1")
            assert code == 0, err
            code, out, err = deploy_cli(
                capsys, tmp_path, url, B, "v2", "--canary", "10%", "--judge-seconds", "0"
            )
    assert code == 1 and out == ""
    assert "error: the canary v2 was removed: error_rate" in err
    assert "FAIL error_rate" in err and "canary removed" in err


def test_cli_canary_share_must_be_a_share(capsys, tmp_path):
    from test_deploy_gke import deploy_cli

    code, _, err = deploy_cli(capsys, tmp_path, "http://127.0.0.1:9", A, "v1", "--canary", "150%")
    assert code == 2 and "--canary '150%'" in err
