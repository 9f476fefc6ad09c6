"""release.yml and rollback.yml with target gke through act, against a Kubernetes API server on
this host (kmock's KubernetesEmulator, with the test playing the Deployment controller).

act runs the jobs on this host (``-P ubuntu-latest=-self-hosted``), so a kubeconfig naming
127.0.0.1:PORT reaches the emulator. ``gcp-auth: false`` turns the Google Cloud actions off; act
still loads every action of a job before its first step, so each is resolved to a stand-in that
fails if it ever runs.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "registry"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "deploy"))
from handoffs import Handoff
from kube import Controller, api_server, client
from test_deploy_gke import cluster_objects, kubeconfig

from mlrelease import config as cfgmod
from mlrelease.cli import main
from mlrelease.deploy.gke import releases, rollout
from mlrelease.deploy.release import ANNOTATION, DeployRelease
from mlrelease.image.record import ImageRecord
from mlrelease.registry import Backend, open_backend

pytestmark = [pytest.mark.act, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
NAME, NS, TARGET = "brno-house-prices", "models", "gke:models/models"
GOOGLE = re.compile(r"uses: (google-github-actions/[a-z-]+)@([0-9a-f]{40})")


@pytest.fixture(scope="module")
def google_stand_ins(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """act arguments resolving each pinned google-github-actions/* to a stand-in that fails if run."""
    root = tmp_path_factory.mktemp("google-actions")
    pins: set[tuple[str, str]] = set()
    for workflow in ("release.yml", "rollback.yml"):
        pins |= set(GOOGLE.findall((ROOT / ".github" / "workflows" / workflow).read_text()))
    args: list[str] = []
    for name, sha in sorted(pins):
        stub = root / name.replace("/", "-")
        stub.mkdir(exist_ok=True)
        (stub / "action.yml").write_text(
            f"name: stand-in for {name}\ndescription: never runs with gcp-auth false\n"
            "runs:\n  using: composite\n  steps:\n"
            f"    - run: echo 'STAND-IN {name} RAN' && exit 1\n      shell: bash\n"
        )
        args += ["--local-repository", f"{name}@{sha}={stub}"]
    assert {name for name, _ in pins} == {
        "google-github-actions/auth",
        "google-github-actions/get-gke-credentials",
    }
    return args


def pushed(handoff: Handoff, name: str, digest: str) -> Path:
    record = ImageRecord(
        reference=f"{NAME}:{name}",
        image_id=digest,
        size_bytes=1,
        gpu=False,
        base_image="debian",
        labels={},
        port=8080,
    ).with_push(f"127.0.0.1:5000/{NAME}:{name}", digest)
    path = handoff.root / f"{name}-image.json"
    record.write(path)
    return path


def release(handoff: Handoff, registry: Path, name: str, digest: str) -> None:
    build = handoff.build(name)
    args = ["release", "-c", str(handoff.root), "--registry", str(registry), *build.args()]
    args[args.index("--image-json") + 1] = str(pushed(handoff, name, digest))
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code in (0, None)


def running_digest(url: str) -> str:
    held = cluster_objects(url)["Deployment"]
    return DeployRelease.from_annotation(held["metadata"]["annotations"][ANNOTATION], source="test").digest


def later_events(backend: Backend) -> list[tuple[str, int, str | None, int | None]]:
    return [
        (e.kind, e.version, e.target, e.from_version) for e in backend.events(NAME) if e.kind != "released"
    ]


def test_rollback_workflow_with_target_gke_applies_the_previous_good_release_on_the_cluster(
    act, google_stand_ins: list[str], tmp_path: Path, monkeypatch
):
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    handoff = Handoff.copy(tmp_path / "brno")
    registry = tmp_path / "releases"
    one, two = "sha256:" + "1a" * 32, "sha256:" + "2b" * 32
    release(handoff, registry, "one", one)
    release(handoff, registry, "two", two)
    backend = open_backend(registry)
    cfg = cfgmod.load(handoff.root, check_files=False)
    with api_server() as (_, url), Controller(url, NS, NAME, lambda image: "ready") as ctl:
        for version in (1, 2):
            done = releases.deploy(
                backend, rollout.Cluster(client(url)), cfg, version, timeout_s=10, poll_s=0.05
            )
            assert done.outcome.status == "deployed"
        run = act(
            "tests/fixtures/workflows/rollback-gke.yml",
            event="workflow_dispatch",
            workspace=handoff.root,
            inputs={"release-registry": str(registry), "kubeconfig": str(kubeconfig(tmp_path / "kc", url))},
            args=google_stand_ins,
            timeout=900,
        )
        assert run.returncode == 0, "the workflow failed; act's output is printed above"
        assert "rollback-gke report serving=v1" in run.stdout
        assert "STAND-IN" not in run.stdout
        assert running_digest(url) == one
        assert ctl.seen[-1] == (3, f"127.0.0.1:5000/{NAME}@{one}")
    assert later_events(backend) == [
        ("deployed", 1, TARGET, None),
        ("deployed", 2, TARGET, 1),
        ("superseded", 1, TARGET, None),
        ("rolled_back", 1, TARGET, 2),
        ("superseded", 2, TARGET, None),
    ]
    assert backend.events(NAME)[-2].reason == "dispatched by the test"


@pytest.mark.docker
def test_release_workflow_with_target_gke_deploys_the_release_then_rollback_goes_back(
    act, google_stand_ins: list[str], base_image: str, registry_auth, tmp_path: Path, monkeypatch
):
    """release.yml builds, pushes and records v2, and its gke job rolls it out on the cluster;
    rollback.yml then applies v1 again by digest."""
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    handoff = Handoff.copy(tmp_path / "brno")
    cfg_file = handoff.root / "mlrelease.yaml"  # a loaded shared runner measures seconds, not ms, at p95
    cfg_file.write_text(
        cfg_file.read_text().replace("p95_latency_ms: {max: 1000}", "p95_latency_ms: {max: 600000}")
    )
    registry = tmp_path / "releases"
    one = "sha256:" + "1a" * 32
    release(handoff, registry, "one", one)
    backend = open_backend(registry)
    cfg = cfgmod.load(handoff.root, check_files=False)
    with api_server() as (_, url), Controller(url, NS, NAME, lambda image: "ready") as ctl:
        done = releases.deploy(backend, rollout.Cluster(client(url)), cfg, 1, timeout_s=10, poll_s=0.05)
        assert done.outcome.status == "deployed"
        run = act(
            "tests/fixtures/workflows/release-rollback-gke.yml",
            event="workflow_dispatch",
            workspace=handoff.root,
            inputs={
                "release-registry": str(registry),
                "image-registry": registry_auth.host,
                "base-image": base_image,
                "kubeconfig": str(kubeconfig(tmp_path / "kc", url)),
                "to": "v1",
            },
            secrets={
                "REGISTRY_USERNAME": registry_auth.username,
                "REGISTRY_PASSWORD": registry_auth.password,
            },
            args=google_stand_ins,
            timeout=1500,
        )
        assert run.returncode == 0, "the workflow failed; act's output is printed above"
        assert "release-rollback-gke report released=v2 rollout=deployed serving=v1" in run.stdout
        assert "STAND-IN" not in run.stdout
        assert registry_auth.password not in run.stdout
        two = backend.get(NAME, 2).image.reference
        assert two.startswith(f"{registry_auth.host}/") and "@sha256:" in two
        assert [image for _, image in ctl.seen] == [
            f"127.0.0.1:5000/{NAME}@{one}",
            two,
            f"127.0.0.1:5000/{NAME}@{one}",
        ]
        assert running_digest(url) == one
    assert later_events(backend) == [
        ("deployed", 1, TARGET, None),
        ("deployed", 2, TARGET, 1),
        ("superseded", 1, TARGET, None),
        ("rolled_back", 1, TARGET, 2),
        ("superseded", 2, TARGET, None),
    ]
