"""`mlrelease deploy VERSION --target gke` and `rollback --target gke` read the release registry
and record what they did in it, over real HTTP against kmock's KubernetesEmulator.

The registry is a real directory backend holding releases whose images are named by digest; the
test plays the Deployment controller (kube.Controller) and asserts the exact objects the cluster
ends with and the exact events the registry holds.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import kubernetes
import pytest
from kube import Controller, api_server, client, raw
from test_deploy_canary import serve_metrics
from test_deploy_gke import CPU, NAME, NS, REPO, assert_cluster_runs, cluster_objects, kubeconfig, ref

from mlrelease import config as cfgmod
from mlrelease.cli import main
from mlrelease.deploy.gke import manifests as gke
from mlrelease.deploy.gke import releases, rollout
from mlrelease.deploy.release import DeployRelease
from mlrelease.errors import UsageError
from mlrelease.registry import Backend, open_backend
from mlrelease.registry.record import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "registry"))
from registry_builders import make_draft

TARGET = "gke:models/models"  # deploy.gke.cluster / namespace of the fixture


def digest(n: int) -> str:
    return f"sha256:{n:02d}" + "d" * 62


@pytest.fixture()
def cfg() -> cfgmod.Config:
    return cfgmod.load(CPU, check_files=False)


@pytest.fixture()
def server():
    with api_server() as (emulator, url):
        yield emulator, url


def publish(folder: Path, count: int) -> Backend:
    """A registry holding v1..v``count`` of the model, each image pushed and named by digest."""
    backend = open_backend(folder / "releases")
    for n in range(1, count + 1):
        draft, files = make_draft(folder / "files", model=NAME, salt=str(n))
        image = Image(reference=ref(digest(n)), digest=digest(n), image_id=digest(n), port=8080)
        draft = replace(draft, image=image, config={"model": {"name": NAME}, "image": {"gpu": False}})
        assert backend.publish(draft, files).version == n
    return backend


def rel(cfg: cfgmod.Config, n: int) -> DeployRelease:
    return replace(DeployRelease.from_config(cfg), digest=digest(n), version=f"v{n}")


def events(backend: Backend) -> list[tuple]:
    """Every event after the releases, as (kind, version, target, from_version, by)."""
    return [
        (e.kind, e.version, e.target, e.from_version, e.detail.get("by"))
        for e in backend.events(NAME)
        if e.kind != "released"
    ]


def cli(capsys, tmp_path: Path, url: str, backend: Backend, *args: str) -> tuple[int, str, str]:
    argv = [*args, "--target", "gke", "-c", str(CPU), "--registry", backend.location]
    argv += [
        "--kubeconfig",
        str(kubeconfig(tmp_path / "kc", url)),
        "--poll-interval",
        "0.02",
        "--timeout",
        "10",
    ]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def crash(*bad: int):
    images = {ref(digest(n)) for n in bad}
    return lambda image: "crash" if image in images else "ready"


@pytest.fixture(autouse=True)
def _outside_actions(monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)


def test_a_registry_release_is_deployed_by_digest_and_recorded(server, cfg, capsys, tmp_path):
    _, url = server
    backend = publish(tmp_path, 2)
    with Controller(url, NS, NAME, crash()) as ctl:
        code, out, err = cli(capsys, tmp_path, url, backend, "deploy", "v1")
        assert code == 0, err
        code, out, err = cli(capsys, tmp_path, url, backend, "deploy", "latest", "--json")
    assert code == 0, err
    assert ctl.seen == [(1, ref(digest(1))), (2, ref(digest(2)))]
    assert_cluster_runs(url, cfg, rel(cfg, 2), generation=2)
    assert events(backend) == [
        ("deployed", 1, TARGET, None, None),
        ("deployed", 2, TARGET, 1, None),
        ("superseded", 1, TARGET, None, 2),
    ]
    assert backend.deployed_on(NAME, TARGET) == 2
    shown = json.loads(out)
    assert shown["status"] == "deployed" and shown["target"] == TARGET
    assert [(e["kind"], e["version"]) for e in shown["events"]] == [("deployed", 2), ("superseded", 1)]


def test_a_failed_rollout_marks_the_release_bad_and_records_the_rollback(server, cfg, capsys, tmp_path):
    _, url = server
    backend = publish(tmp_path, 2)
    with Controller(url, NS, NAME, crash(2)) as ctl:
        assert cli(capsys, tmp_path, url, backend, "deploy", "v1")[0] == 0
        code, _, err = cli(capsys, tmp_path, url, backend, "deploy", "v2")
        assert code == 1
        assert f"rolled back to v1 ({ref(digest(1))})" in err
        # a second try refuses the release now marked bad, without touching the cluster
        again, _, refused = cli(capsys, tmp_path, url, backend, "deploy", "v2")
    assert again == 2 and "v2 is marked bad" in refused
    assert ctl.seen == [(1, ref(digest(1))), (2, ref(digest(2))), (3, ref(digest(1)))]
    assert_cluster_runs(url, cfg, rel(cfg, 1), generation=3)
    assert events(backend) == [
        ("deployed", 1, TARGET, None, None),
        ("marked_bad", 2, TARGET, None, None),
        ("rolled_back", 1, TARGET, 2, None),
    ]
    bad = backend.events(NAME)[-2]
    assert bad.reason is not None and bad.reason.startswith(
        f"the rollout on {TARGET} failed: CrashLoopBackOff"
    )
    assert backend.is_bad(NAME, 2) and backend.deployed_on(NAME, TARGET) == 1


def test_a_deploy_goes_back_to_what_the_registry_says_ran_not_to_the_clusters_annotation(
    server, cfg, capsys, tmp_path
):
    """v3 was applied by hand (the cluster's annotation says v3), the registry says v1 runs: a
    failed v2 goes back to v1."""
    _, url = server
    backend = publish(tmp_path, 3)
    with Controller(url, NS, NAME, crash(2)):
        assert cli(capsys, tmp_path, url, backend, "deploy", "v1")[0] == 0
        assert rollout.deploy(
            rollout.Cluster(client(url)), cfg, rel(cfg, 3), timeout_s=10, poll_s=0.02
        ).rollout.ok
        code, _, err = cli(capsys, tmp_path, url, backend, "deploy", "v2")
    assert code == 1 and "rolled back to v1" in err
    assert_cluster_runs(url, cfg, rel(cfg, 1), generation=4)
    assert events(backend)[-2:] == [
        ("marked_bad", 2, TARGET, None, None),
        ("rolled_back", 1, TARGET, 2, None),
    ]


def test_rollback_past_the_revision_history_limit_applies_the_release_from_the_registry(
    server, cfg, capsys, tmp_path
):
    """Seven releases with revisionHistoryLimit 5: v1's ReplicaSet would be gone; the rollback
    renders v1 from its registry record and never asks the cluster for ReplicaSets."""
    emulator, url = server
    backend = publish(tmp_path, 7)
    with Controller(url, NS, NAME, crash()) as ctl:
        for n in range(1, 8):
            done = releases.deploy(backend, rollout.Cluster(client(url)), cfg, n, timeout_s=10, poll_s=0.02)
            assert done.outcome.status == "deployed"
        code, out, err = cli(
            capsys, tmp_path, url, backend, "rollback", "--to", "v1", "--reason", "v7 is slow"
        )
    assert code == 0, err
    assert gke.REVISION_HISTORY < 7
    assert out == f"rolled back {NAME} on {TARGET} to v1 ({ref(digest(1))}) (was v7)\n"
    assert ctl.seen[-1] == (8, ref(digest(1)))
    assert_cluster_runs(url, cfg, rel(cfg, 1), generation=8)
    assert not [r for r in list(emulator) if r.resource and r.resource.plural == "replicasets"]
    assert events(backend)[-2:] == [("rolled_back", 1, TARGET, 7, None), ("superseded", 7, TARGET, None, 1)]
    assert backend.events(NAME)[-2].reason == "v7 is slow"
    assert backend.deployed_on(NAME, TARGET) == 1


def test_rollback_without_a_version_skips_releases_marked_bad(server, cfg, capsys, tmp_path):
    _, url = server
    backend = publish(tmp_path, 3)
    with Controller(url, NS, NAME, crash()):
        for n in (1, 3):
            releases.deploy(backend, rollout.Cluster(client(url)), cfg, n, timeout_s=10, poll_s=0.02)
        assert main_ok(["mark-bad", "v2", "--reason", "leaks", "-m", NAME, "--registry", backend.location])
        capsys.readouterr()
        code, out, err = cli(capsys, tmp_path, url, backend, "rollback", "--dry-run")
        assert code == 0, err
        assert out.splitlines()[0] == f"roll back {NAME} on {TARGET}: v3 -> v1"
        assert backend.deployed_on(NAME, TARGET) == 3  # a dry run changes nothing
        code, _, err = cli(capsys, tmp_path, url, backend, "rollback")
    assert code == 0, err
    assert_cluster_runs(url, cfg, rel(cfg, 1), generation=3)
    assert events(backend)[-2:] == [("rolled_back", 1, TARGET, 3, None), ("superseded", 3, TARGET, None, 1)]


def main_ok(argv: list[str]) -> bool:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    return exit_.value.code in (0, None)


def test_a_rollback_that_does_not_roll_out_exits_1_and_records_nothing(server, cfg, capsys, tmp_path):
    _, url = server
    backend = publish(tmp_path, 2)
    with Controller(url, NS, NAME, crash(1)):
        # v1 crash-loops now (say its image was deleted): v2 goes out first, then v1 is asked for
        releases.deploy(backend, rollout.Cluster(client(url)), cfg, 2, timeout_s=10, poll_s=0.02)
        before = events(backend)
        code, out, err = cli(capsys, tmp_path, url, backend, "rollback", "--to", "v1")
    assert code == 1 and out == ""
    assert "the rollback of brno-house-prices to v1 did not roll out (CrashLoopBackOff" in err
    assert "event pod/" in err  # the pods' events are printed
    assert events(backend) == before == [("deployed", 2, TARGET, None, None)]


def test_a_hand_edited_deployment_is_rolled_back_and_keeps_only_the_fields_mlrelease_does_not_set(
    server, cfg, capsys, tmp_path
):
    """Server-side apply, field manager mlrelease, with force: the image and the memory limit
    edited by hand are mlrelease's fields and become v1's again; the editor's annotation and
    spec.replicas (which mlrelease leaves to the HPA) are fields it does not set, and stay."""
    _, url = server
    backend = publish(tmp_path, 2)
    apps = kubernetes.client.AppsV1Api(client(url))
    with Controller(url, NS, NAME, crash(), replicas=6) as ctl:  # the count the editor asks for
        for n in (1, 2):
            releases.deploy(backend, rollout.Cluster(client(url)), cfg, n, timeout_s=10, poll_s=0.02)
        edited = raw(apps.read_namespaced_deployment, NAME, NS)
        container = edited["spec"]["template"]["spec"]["containers"][0]
        container["image"] = ref("sha256:" + "ee" * 32)
        container["resources"]["limits"]["memory"] = "8Gi"
        apps.patch_namespaced_deployment(  # what `kubectl edit` sends
            NAME,
            NS,
            {
                "metadata": {"annotations": {"team": "bob"}},
                "spec": {"replicas": 6, "template": edited["spec"]["template"]},
            },
            _content_type="application/merge-patch+json",
            _preload_content=False,
        )
        ctl.wait_for(3)
        code, _, err = cli(capsys, tmp_path, url, backend, "rollback", "--to", "v1")
    assert code == 0, err
    assert [image for _, image in ctl.seen] == [
        ref(digest(1)),
        ref(digest(2)),
        ref("sha256:" + "ee" * 32),
        ref(digest(1)),
    ]
    held = cluster_objects(url)["Deployment"]
    want = json.loads(
        json.dumps(next(m.body for m in gke.render(cfg, rel(cfg, 1)) if m.kind == "Deployment"))
    )
    want["metadata"]["annotations"]["team"] = "bob"
    want["spec"]["replicas"] = 6
    held.pop("status")
    assert held["metadata"].pop("generation") == 4
    assert held == want
    assert events(backend)[-2:] == [("rolled_back", 1, TARGET, 2, None), ("superseded", 2, TARGET, None, 1)]


def test_a_promoted_canary_is_recorded_as_deployed(cfg, capsys, tmp_path):
    backend = publish(tmp_path, 2)
    with api_server() as (emulator, url):
        serve_metrics(emulator, NAME, digest(1), 2)
        serve_metrics(emulator, f"{NAME}-canary", digest(2), 1)
        with (
            Controller(url, NS, NAME, crash()),
            Controller(url, NS, f"{NAME}-canary", crash(), replicas=1),
        ):
            assert cli(capsys, tmp_path, url, backend, "deploy", "v1")[0] == 0
            code, out, err = cli(
                capsys, tmp_path, url, backend, "deploy", "v2", "--canary", "10%", "--judge-seconds", "0"
            )
        assert code == 0, err
        assert out == f"promoted {NAME} v2 ({ref(digest(2))})\n"
        assert_cluster_runs(url, cfg, rel(cfg, 2), generation=2)
    assert events(backend) == [
        ("deployed", 1, TARGET, None, None),
        ("deployed", 2, TARGET, 1, None),
        ("superseded", 1, TARGET, None, 2),
    ]
    assert backend.events(NAME)[-2].reason == "canary promoted"


def test_a_removed_canary_is_marked_bad_and_the_stable_release_stays_deployed(cfg, capsys, tmp_path):
    backend = publish(tmp_path, 2)
    with api_server() as (emulator, url):
        serve_metrics(emulator, NAME, digest(1), 2)
        serve_metrics(emulator, f"{NAME}-canary", digest(2), 1, error_rate=0.3)
        with (
            Controller(url, NS, NAME, crash()),
            Controller(url, NS, f"{NAME}-canary", crash(), replicas=1),
        ):
            assert cli(capsys, tmp_path, url, backend, "deploy", "v1")[0] == 0
            code, out, err = cli(
                capsys,
                tmp_path,
                url,
                backend,
                "deploy",
                "v2",
                "--canary",
                "10%",
                "--judge-seconds",
                "0",
                "--json",
            )
        assert code == 1, err
        assert json.loads(out)["status"] == "aborted"
        assert_cluster_runs(url, cfg, rel(cfg, 1), generation=1)
    assert events(backend) == [("deployed", 1, TARGET, None, None), ("marked_bad", 2, TARGET, None, None)]
    reason = backend.events(NAME)[-1].reason
    assert reason is not None and reason.startswith(f"the canary on {TARGET} was removed: error_rate")
    assert backend.deployed_on(NAME, TARGET) == 1 and backend.is_bad(NAME, 2)


def test_version_and_image_json_together_are_bad_input(capsys, tmp_path):
    backend = publish(tmp_path, 1)
    code, out, err = cli(
        capsys, tmp_path, "http://127.0.0.1:9", backend, "deploy", "v1", "--image", f"{REPO}@{digest(1)}"
    )
    assert code == 2 and out == ""
    assert "VERSION names a release of the registry; --image describe" in err


def test_rollback_with_nothing_recorded_on_the_cluster_asks_for_a_version(server, capsys, tmp_path):
    _, url = server
    backend = publish(tmp_path, 2)
    code, _, err = cli(capsys, tmp_path, url, backend, "rollback")
    assert code == 2 and f"the registry knows no release of {NAME} on {TARGET}" in err and "--to" in err


def test_the_rollout_status_goes_to_the_job_summary_and_the_step_outputs(
    server, capsys, tmp_path, monkeypatch
):
    _, url = server
    backend = publish(tmp_path, 2)
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    with Controller(url, NS, NAME, crash(2)):
        assert cli(capsys, tmp_path, url, backend, "deploy", "v1")[0] == 0
        assert cli(capsys, tmp_path, url, backend, "deploy", "v2")[0] == 1
    text = summary.read_text()
    assert f"### {NAME} v1 on {TARGET}: deployed\n" in text
    assert "| rollout | NewReplicaSetAvailable: 2 replicas available |" in text
    failed = text[text.index(f"### {NAME} v2 on {TARGET}: rolled_back") :]
    assert f"| image | `{ref(digest(2))}` |" in failed
    assert "| rollout | CrashLoopBackOff: pod brno-house-prices-" in failed
    assert "| rollback to v1 | NewReplicaSetAvailable: 2 replicas available |" in failed
    assert "| registry | marked bad v2, rolled back v1 |" in failed
    assert "Warning BackOff: Back-off restarting failed container model" in failed  # the pods' events
    assert outputs.read_text().splitlines()[-2:] == ["status=rolled_back", "version="]


def test_a_release_record_becomes_what_the_cluster_runs(tmp_path):
    draft, _ = make_draft(tmp_path, model=NAME)
    image = Image(reference=ref(digest(3)), digest=digest(3), image_id=digest(3), port=9000)
    record = replace(
        draft,
        version=3,
        image=image,
        config={"model": {"name": NAME}, "image": {"gpu": True}},
        metrics={"peak_memory_bytes": 3e8, "p99_latency_ms": 12.5},
    )
    got = DeployRelease.from_record(record)
    assert (got.model, got.version, got.reference, got.gpu, got.port) == (
        NAME,
        "v3",
        ref(digest(3)),
        True,
        9000,
    )
    assert (got.figures.peak_memory_bytes, got.figures.p99_latency_ms) == (3e8, 12.5)
    never_pushed = replace(record, image=replace(image, reference=f"{NAME}:local", digest=None))
    with pytest.raises(UsageError, match="not named by digest"):
        DeployRelease.from_record(never_pushed)
