"""`mlrelease deploy --target gke` over real HTTP against kmock's KubernetesEmulator.

The test plays the Deployment controller (kube.Controller writes status through the API) and
asserts the exact objects the cluster ends with. The kubernetes client is the real one, pointed
at the emulator through a Configuration or a kubeconfig file; nothing of it is patched.
"""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from pathlib import Path

import kubernetes
import pytest
import yaml
from kube import Controller, api_server, client, raw

from mlrelease import config as cfgmod
from mlrelease.cli import main
from mlrelease.deploy.gke import manifests as gke
from mlrelease.deploy.gke import rollout
from mlrelease.deploy.release import ANNOTATION, DeployRelease

CPU = Path(__file__).resolve().parent.parent / "fixtures" / "deploy-gke-cpu"
NS, NAME = "models", "brno-house-prices"
REPO = "europe-west3-docker.pkg.dev/acme/models/brno-house-prices"
A, B = "sha256:" + "a1" * 32, "sha256:" + "b2" * 32


@pytest.fixture()
def cfg() -> cfgmod.Config:
    return cfgmod.load(CPU, check_files=False)


@pytest.fixture()
def server():
    with api_server() as (emulator, url):
        yield emulator, url


def rel(cfg: cfgmod.Config, digest: str, version: str) -> DeployRelease:
    return replace(DeployRelease.from_config(cfg), digest=digest, version=version)


def ref(digest: str) -> str:
    return f"{REPO}@{digest}"


def behaviour(bad: set[str], how: str = "crash"):
    return lambda image: how if image in bad else "ready"


def cluster_objects(url: str) -> dict[str, dict]:
    """Every object of the deploy as the API server holds it, by kind."""
    api = client(url)
    core, apps = kubernetes.client.CoreV1Api(api), kubernetes.client.AppsV1Api(api)
    hpa, pdb = kubernetes.client.AutoscalingV2Api(api), kubernetes.client.PolicyV1Api(api)
    return {
        "ServiceAccount": raw(core.read_namespaced_service_account, NAME, NS),
        "Service": raw(core.read_namespaced_service, NAME, NS),
        "Deployment": raw(apps.read_namespaced_deployment, NAME, NS),
        "HorizontalPodAutoscaler": raw(hpa.read_namespaced_horizontal_pod_autoscaler, NAME, NS),
        "PodDisruptionBudget": raw(pdb.read_namespaced_pod_disruption_budget, NAME, NS),
    }


def assert_cluster_runs(url: str, cfg: cfgmod.Config, release: DeployRelease, generation: int, **extra_meta):
    """The cluster holds exactly the rendered objects of ``release`` (+ what others own)."""
    held = cluster_objects(url)
    for manifest in gke.render(cfg, release):
        obj = dict(held[manifest.kind])
        obj.pop("status", None)
        meta = dict(obj["metadata"])
        if manifest.kind == "Deployment":
            assert meta.pop("generation") == generation
        else:
            meta.pop("generation", None)
        want = json.loads(json.dumps(manifest.body))
        if manifest.kind == "Deployment" and extra_meta:
            want["metadata"]["annotations"] = {**want["metadata"]["annotations"], **extra_meta}
        assert {**obj, "metadata": meta} == want, manifest.kind


def run_deploy(cfg, url, release, **kw):
    lines: list[str] = []
    outcome = rollout.deploy(
        rollout.Cluster(client(url)), cfg, release, timeout_s=10, poll_s=0.02, progress=lines.append, **kw
    )
    return outcome, lines


def test_first_deploy_applies_every_object_and_waits_for_the_rollout(server, cfg):
    emulator, url = server
    with Controller(url, NS, NAME, behaviour(set())) as ctl:
        outcome, lines = run_deploy(cfg, url, rel(cfg, A, "v1"))
    assert outcome.status == "deployed" and outcome.previous is None
    assert outcome.rollout.reason == "NewReplicaSetAvailable"
    assert outcome.applied == (
        f"ServiceAccount/{NAME}",
        f"Service/{NAME}",
        f"Deployment/{NAME}",
        f"HorizontalPodAutoscaler/{NAME}",
        f"PodDisruptionBudget/{NAME}",
    )
    assert ctl.seen == [(1, ref(A))]
    assert_cluster_runs(url, cfg, rel(cfg, A, "v1"), generation=1)
    # progress told the rollout's steps, in order
    assert lines[0] == f"deploying {NAME} v1 ({ref(A)}) to models/{NS}"
    assert lines[1:6] == [f"applied {x}" for x in outcome.applied]
    assert lines[-1] == f"Deployment/{NAME}: NewReplicaSetAvailable: 2 replicas available"
    # every write was a server-side apply by field manager mlrelease
    applies = [r for r in list(emulator) if r.method == "PATCH" and r.resource and r.subresource is None]
    assert len(applies) == 5
    for r in applies:
        assert r.headers["Content-Type"].startswith("application/apply-patch+yaml")
        assert r.params["fieldManager"] == "mlrelease" and r.params["force"] == "true"


def test_a_crash_looping_release_is_rolled_back_to_the_previous_digest(server, cfg):
    emulator, url = server
    pod = f"{NAME}-{B.rsplit(':', 1)[-1][:12]}-x1"
    (
        emulator[f"get /api/v1/namespaces/{NS}/pods/{pod}/log"]
        << b"loading model\nModelLoadError: untrusted type\n"
    )
    with Controller(url, NS, NAME, behaviour({ref(B)})) as ctl:
        first, _ = run_deploy(cfg, url, rel(cfg, A, "v1"))
        outcome, lines = run_deploy(cfg, url, rel(cfg, B, "v2"))
    assert first.status == "deployed"
    assert outcome.status == "rolled_back"
    assert outcome.previous == rel(cfg, A, "v1")  # read back from the Deployment's annotation
    assert outcome.rollout.reason == "CrashLoopBackOff" and pod in outcome.rollout.message
    assert (
        f"event pod/{pod}: Warning BackOff: Back-off restarting failed container model"
        in outcome.rollout.diagnostics
    )
    assert f"log pod/{pod}: ModelLoadError: untrusted type" in outcome.rollout.diagnostics
    assert outcome.rollback is not None and outcome.rollback.ok
    assert ctl.seen == [(1, ref(A)), (2, ref(B)), (3, ref(A))]
    assert_cluster_runs(url, cfg, rel(cfg, A, "v1"), generation=3)
    assert any(line == f"rolling back to v1 ({ref(A)})" for line in lines)
    assert any("ModelLoadError" in line for line in lines)  # printed, not only returned


def test_a_rollout_past_its_progress_deadline_is_rolled_back(server, cfg):
    _, url = server
    with Controller(url, NS, NAME, behaviour({ref(B)}, "stuck")):
        run_deploy(cfg, url, rel(cfg, A, "v1"))
        outcome, _ = run_deploy(cfg, url, rel(cfg, B, "v2"))
    assert outcome.status == "rolled_back"
    assert outcome.rollout.reason == "ProgressDeadlineExceeded"
    assert_cluster_runs(url, cfg, rel(cfg, A, "v1"), generation=3)


def test_a_failed_first_release_has_nothing_to_roll_back_to(server, cfg):
    _, url = server
    with Controller(url, NS, NAME, behaviour({ref(B)}, "stuck")):
        outcome, _ = run_deploy(cfg, url, rel(cfg, B, "v2"))
    assert outcome.status == "failed" and outcome.previous is None and outcome.rollback is None
    assert_cluster_runs(url, cfg, rel(cfg, B, "v2"), generation=1)  # left as it is, for a look


def test_a_hand_edited_deployment_gets_our_fields_back_and_keeps_theirs(server, cfg):
    """Server-side apply with force takes back the fields mlrelease owns (the image, the
    resources); a field only the other writer set (their annotation) stays theirs."""
    _, url = server
    apps = kubernetes.client.AppsV1Api(client(url))
    with Controller(url, NS, NAME, behaviour(set())) as ctl:
        run_deploy(cfg, url, rel(cfg, A, "v1"))
        edited = raw(apps.read_namespaced_deployment, NAME, NS)
        container = edited["spec"]["template"]["spec"]["containers"][0]
        container["image"] = ref("sha256:" + "ee" * 32)
        container["resources"]["limits"]["memory"] = "8Gi"
        apps.patch_namespaced_deployment(  # what `kubectl edit` sends
            NAME,
            NS,
            {"metadata": {"annotations": {"team": "bob"}}, "spec": {"template": edited["spec"]["template"]}},
            _content_type="application/merge-patch+json",
            _preload_content=False,
        )
        ctl.wait_for(2)  # the edit rolled out, as it would have
        outcome, _ = run_deploy(cfg, url, rel(cfg, A, "v1"))
    assert outcome.status == "deployed"
    assert outcome.previous is None  # the cluster already said v1: nothing else to go back to
    assert [image for _, image in ctl.seen] == [ref(A), ref("sha256:" + "ee" * 32), ref(A)]
    assert_cluster_runs(url, cfg, rel(cfg, A, "v1"), generation=3, team="bob")


def test_a_rollback_past_the_revision_history_limit_reapplies_the_named_release(server, cfg):
    """Seven releases with revisionHistoryLimit 5: v1's ReplicaSet would be pruned; the rollback
    re-renders v1 from its record and never asks the cluster for its history."""
    emulator, url = server
    digests = [f"sha256:{n:02d}" + "c" * 62 for n in range(1, 8)]
    with Controller(url, NS, NAME, behaviour(set())) as ctl:
        for n, digest in enumerate(digests, 1):
            assert run_deploy(cfg, url, rel(cfg, digest, f"v{n}"))[0].status == "deployed"
        lines: list[str] = []
        outcome = rollout.rollback(
            rollout.Cluster(client(url)),
            cfg,
            rel(cfg, digests[0], "v1"),
            timeout_s=10,
            poll_s=0.02,
            progress=lines.append,
        )
    assert len(digests) > gke.REVISION_HISTORY
    assert outcome.status == "rolled_back" and outcome.rollout.ok
    assert outcome.previous == rel(cfg, digests[-1], "v7")  # what ran before the rollback
    assert ctl.seen[-1] == (8, ref(digests[0]))
    assert_cluster_runs(url, cfg, rel(cfg, digests[0], "v1"), generation=8)
    assert not [r for r in list(emulator) if r.resource and r.resource.plural == "replicasets"]
    assert lines[0] == f"rolling back {NAME} to v1 ({ref(digests[0])})"


# ----------------------------------------------------------------------------- the command


def kubeconfig(path: Path, url: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "emu", "cluster": {"server": url}}],
                "users": [{"name": "ci", "user": {"token": "t0ken"}}],
                "contexts": [{"name": "emu", "context": {"cluster": "emu", "user": "ci"}}],
                "current-context": "emu",
            }
        )
    )
    return path


def image_json(path: Path, digest: str) -> Path:
    from mlrelease.image.record import ImageRecord

    ImageRecord(
        reference=f"{NAME}:x",
        image_id="sha256:" + "cd" * 32,
        size_bytes=1,
        gpu=False,
        base_image="python:3.11-slim",
        labels={},
        port=8080,
    ).with_push(f"{REPO}:x", digest).write(path)
    return path


def deploy_cli(capsys, tmp_path, url, digest, version, *more):
    args = [
        "deploy",
        "--target",
        "gke",
        "-c",
        str(CPU),
        "--kubeconfig",
        str(kubeconfig(tmp_path / "kc", url)),
    ]
    args += ["--image-json", str(image_json(tmp_path / f"{version}.json", digest)), "--version", version]
    args += ["--poll-interval", "0.02", "--timeout", "10", *more]
    with pytest.raises(SystemExit) as exit_:
        main(args)
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def test_cli_deploys_then_rolls_back_and_exits_1(server, cfg, capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    _, url = server
    with Controller(url, NS, NAME, behaviour({ref(B)})):
        code, out, err = deploy_cli(capsys, tmp_path, url, A, "v1")
        assert code == 0, err
        assert out == f"deployed {NAME} v1 ({ref(A)})\n"
        assert "applied Deployment/brno-house-prices" in err
        code, out, err = deploy_cli(capsys, tmp_path, url, B, "v2", "--json")
    assert code == 1
    assert json.loads(out)["status"] == "rolled_back"
    assert "the rollout of v2 failed (CrashLoopBackOff" in err and f"rolled back to v1 ({ref(A)})" in err
    assert "Traceback" not in err
    held = cluster_objects(url)["Deployment"]
    assert DeployRelease.from_annotation(held["metadata"]["annotations"][ANNOTATION], source="t").digest == A


def test_cli_without_a_reachable_api_server_exits_3(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    code, out, err = deploy_cli(capsys, tmp_path, f"http://127.0.0.1:{port}", A, "v1")
    assert code == 3 and out == ""
    assert "cannot reach the API server" in err and "Traceback" not in err


def test_cli_refuses_a_placeholder_digest(capsys, tmp_path, server):
    _, url = server
    args = [
        "deploy",
        "--target",
        "gke",
        "-c",
        str(CPU),
        "--kubeconfig",
        str(kubeconfig(tmp_path / "kc", url)),
    ]
    with pytest.raises(SystemExit) as exit_:
        main(args)
    _, err = capsys.readouterr()
    assert exit_.value.code == 2 and "placeholder" in err


def test_cli_without_credentials_exits_3_naming_the_fix(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    args = ["deploy", "--target", "gke", "-c", str(CPU), "--kubeconfig", str(tmp_path / "missing")]
    args += ["--image-json", str(image_json(tmp_path / "i.json", A))]
    with pytest.raises(SystemExit) as exit_:
        main(args)
    out, err = capsys.readouterr()
    assert exit_.value.code == 3 and out == ""
    assert "no Kubernetes credentials" in err and "get-credentials" in err and "Traceback" not in err
