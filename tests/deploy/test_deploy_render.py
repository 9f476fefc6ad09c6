"""`mlrelease render --target gke`: the objects, validated against the Kubernetes schemas of every
minor GKE runs, snapshots of a CPU and a GPU release, and the HPA's arithmetic."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from mlrelease import config as cfgmod
from mlrelease.cli import cli, main
from mlrelease.deploy.gke import manifests as gke
from mlrelease.deploy.gke import sizing
from mlrelease.deploy.release import PLACEHOLDER_DIGEST, DeployRelease, Figures
from mlrelease.image.record import ImageRecord
from mlrelease.serve.app import ServerApp

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CPU = FIXTURES / "deploy-gke-cpu"
GPU = FIXTURES / "deploy-gke-gpu"
SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
DIGEST = "sha256:" + "ab" * 32
REPO = "europe-west3-docker.pkg.dev/acme/models/brno-house-prices"
UPDATE = os.environ.get("MLRELEASE_UPDATE_SNAPSHOTS") == "1"

# GKE's release channels and extended support cover the minors from 1.31 on (late 2026); every
# minor kubernetes-validate ships from there to its newest is checked.
SCHEMA_DIR = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
MINORS = sorted(
    {m.group(1) for p in SCHEMA_DIR.iterdir() if (m := re.match(r"v(1\.(\d+))\.0-local-strict$", p.name))},
    key=lambda v: int(v.split(".")[1]),
)
GKE_MINORS = [v for v in MINORS if int(v.split(".")[1]) >= 31]


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    """The CLI as a user meets it: domain errors become a message and an exit code."""
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def release(cfg: cfgmod.Config, **over) -> DeployRelease:
    base = DeployRelease.from_config(cfg)
    fields = {**base.to_json(), "digest": DIGEST, "figures": base.figures, **over}
    return DeployRelease(**fields)


def test_gke_minors_from_131_are_all_present():
    assert GKE_MINORS[:4] == ["1.31", "1.32", "1.33", "1.34"], MINORS


@pytest.mark.parametrize("minor", GKE_MINORS)
@pytest.mark.parametrize("fixture", [CPU, GPU], ids=["cpu", "gpu"])
def test_every_object_passes_the_strict_kubernetes_schema(fixture, minor):
    cfg = cfgmod.load(fixture, check_files=False)
    figures = Figures(peak_memory_bytes=50e6, model_size_bytes=20e6, p99_latency_ms=12.0)
    for rel in (DeployRelease.from_config(cfg), release(cfg, figures=figures)):
        manifests = gke.render(cfg, rel)
        assert [m.kind for m in manifests] == [
            "ServiceAccount",
            "Service",
            "Deployment",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
        ]
        for doc in yaml.safe_load_all(gke.to_yaml([*manifests, gke.canary_deployment(cfg, rel, 2)])):
            kubernetes_validate.validate(doc, f"{minor}.0", strict=True)


def test_strict_validation_bites_on_an_unknown_field():
    cfg = cfgmod.load(CPU, check_files=False)
    dep = gke.render(cfg, release(cfg))[2].body
    dep["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFileSystem"] = True  # wrong case
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, f"{GKE_MINORS[0]}.0", strict=True)


@pytest.mark.parametrize("fixture,name", [(CPU, "gke-cpu.yaml"), (GPU, "gke-gpu.yaml")])
def test_rendered_yaml_matches_the_snapshot(fixture, name):
    cfg = cfgmod.load(fixture, check_files=False)
    figures = Figures(peak_memory_bytes=1308156.0, model_size_bytes=87556.0, p99_latency_ms=7.5)
    text = gke.to_yaml(gke.render(cfg, release(cfg, figures=figures)))
    snap = SNAPSHOTS / name
    if UPDATE:
        snap.write_text(text, "utf-8")
    assert text == snap.read_text("utf-8"), f"rerun with MLRELEASE_UPDATE_SNAPSHOTS=1 if {name} should change"


def objects(text: str) -> dict[str, dict]:
    return {d["kind"]: d for d in yaml.safe_load_all(text) if d}


def test_deployment_is_locked_down_and_pins_the_image_by_digest():
    cfg = cfgmod.load(CPU, check_files=False)
    dep = objects(gke.to_yaml(gke.render(cfg, release(cfg))))["Deployment"]
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    (c,) = pod["containers"]
    assert c["image"] == f"europe-west3-docker.pkg.dev/acme/models/brno-house-prices@{DIGEST}"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert c["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert spec["progressDeadlineSeconds"] == 600 and spec["revisionHistoryLimit"] == 5
    assert "replicas" not in spec  # the HPA owns the count
    assert {t["topologyKey"] for t in pod["topologySpreadConstraints"]} >= {"topology.kubernetes.io/zone"}
    assert c["lifecycle"]["preStop"]["sleep"]["seconds"] < pod["terminationGracePeriodSeconds"]
    assert pod["terminationGracePeriodSeconds"] >= gke.PRESTOP_WAIT_S + gke.SERVER_DRAIN_S
    assert dep["metadata"]["labels"]["app.kubernetes.io/version"] == "v7"
    assert spec["template"]["metadata"]["labels"]["app.kubernetes.io/version"] == "v7"
    # the annotation holds the whole release, so a rollback can re-render it from the cluster
    held = DeployRelease.from_annotation(dep["metadata"]["annotations"]["mlrelease.dev/release"], source="x")
    assert held == release(cfg)
    assert "nvidia.com/gpu" not in c["resources"]["limits"] and "nodeSelector" not in pod


def test_probes_ask_the_server_endpoints_that_answer_them():
    """Each probe path is one the server answers: 200 (healthz) or 503 until ready (readyz)."""
    cfg = cfgmod.load(CPU, check_files=False)
    (c,) = gke.render(cfg, release(cfg))[2].body["spec"]["template"]["spec"]["containers"]
    paths = {name: c[name]["httpGet"]["path"] for name in ("startupProbe", "readinessProbe", "livenessProbe")}
    app = ServerApp.__new__(ServerApp)  # only its GET routing is used: no model, no worker
    app.ready, app.name = False, "brno-house-prices"
    assert app.get(paths["livenessProbe"])[0] == 200
    assert app.get(paths["readinessProbe"])[0] == 503
    assert app.get(paths["startupProbe"])[0] == 503
    app.ready = True
    assert app.get(paths["readinessProbe"])[0] == 200


def test_gpu_release_asks_for_a_gpu_on_the_accelerator_pool_and_scales_on_its_duty_cycle():
    cfg = cfgmod.load(GPU, check_files=False)
    objs = objects(gke.to_yaml(gke.render(cfg, release(cfg))))
    pod = objs["Deployment"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["containers"][0]["resources"]["limits"]["memory"] == "8Gi"
    assert pod["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    (metric,) = objs["HorizontalPodAutoscaler"]["spec"]["metrics"]
    assert metric["type"] == "External" and metric["external"]["metric"]["name"] == gke.GPU_METRIC


def test_memory_comes_from_the_evaluate_figures_with_headroom():
    cfg = cfgmod.load(CPU, check_files=False)
    small = sizing.resources(cfg.deploy.gke, Figures())
    big = sizing.resources(
        cfg.deploy.gke, Figures(peak_memory_bytes=300 * 2**20, model_size_bytes=100 * 2**20)
    )
    assert small.memory_request == "256Mi"
    assert big.memory_request == "864Mi"  # RSS 256 + (100 + 300) MiB x 1.5 = 856, up to 16 MiB steps
    assert big.memory_limit == f"{math.ceil(856 * 1.5 / 16) * 16}Mi"


# ----------------------------------------------------------------------------- the HPA's arithmetic


def hpa_and_comment(text: str) -> tuple[dict, str]:
    doc = next(d for d in text.split("---\n") if "kind: HorizontalPodAutoscaler" in d)
    comment = "\n".join(line[2:] for line in doc.splitlines() if line.startswith("# "))
    return yaml.safe_load(doc), comment


def check_arithmetic(text: str, gk: cfgmod.GkeConfig) -> None:
    """The rendered HPA, its comment and the arithmetic from the inputs all say the same."""
    hpa, comment = hpa_and_comment(text)
    spec = hpa["spec"]
    baseline = gk.baseline_rps if gk.baseline_rps is not None else gk.min_replicas * gk.replica_rps
    peak = baseline * gk.peak_factor
    need = math.ceil(round(peak / gk.replica_rps, 9))
    # enough replicas for the peak, and not one more than it needs (unless the config says so)
    assert spec["maxReplicas"] * gk.replica_rps >= peak
    if gk.max_replicas is None:
        assert spec["maxReplicas"] == max(need, gk.min_replicas)
    assert spec["minReplicas"] == gk.min_replicas
    assert spec["metrics"][0]["resource"]["target"]["averageUtilization"] == gk.target_cpu
    (pods,) = [p for p in spec["behavior"]["scaleUp"]["policies"] if p["type"] == "Pods"]
    assert spec["minReplicas"] + pods["value"] >= need  # the peak is reachable in one step
    numbers = re.search(r"ceil\(([\d.]+) / ([\d.]+)\) = (\d+)", comment)
    assert numbers, comment
    assert float(numbers.group(1)) == pytest.approx(peak)
    assert float(numbers.group(2)) == gk.replica_rps
    assert int(numbers.group(3)) == need
    assert f"maxReplicas {spec['maxReplicas']}" in comment and f"minReplicas {spec['minReplicas']}" in comment
    assert f"+{pods['value']} pods" in comment
    # the measured figures are cited: the throughput at the target and its p99
    assert f"carries {gk.replica_rps:.12g} req/s at {gk.target_cpu}%" in comment
    assert f"p99 {gk.replica_p99_ms:.12g} ms" in comment


def test_cpu_fixture_hpa_agrees_with_its_arithmetic():
    cfg = cfgmod.load(CPU, check_files=False)
    text = gke.to_yaml(gke.render(cfg, release(cfg)))
    check_arithmetic(text, cfg.deploy.gke)
    hpa, _ = hpa_and_comment(text)
    assert hpa["spec"]["maxReplicas"] == 8  # 300 req/s x 10 / 400 req/s per replica = 7.5 -> 8


@settings(max_examples=40, deadline=None)
@given(
    replica_rps=st.integers(1, 5000),
    baseline=st.one_of(st.none(), st.integers(1, 20000)),
    factor=st.sampled_from([1, 2.5, 10, 12.5, 20]),
    low=st.integers(1, 5),
)
def test_hpa_agrees_with_its_arithmetic_for_any_inputs(tmp_path_factory, replica_rps, baseline, factor, low):
    cfg = cfgmod.load(CPU, check_files=False)
    gk = cfg.deploy.gke.__class__(
        **{
            **cfg.deploy.gke.__dict__,
            "replica_rps": replica_rps,
            "baseline_rps": baseline,
            "peak_factor": factor,
            "min_replicas": low,
        }
    )
    cfg = cfg.__class__(**{**cfg.__dict__, "deploy": cfgmod.DeployConfig(gke=gk)})
    check_arithmetic(gke.to_yaml(gke.render(cfg, release(cfg))), gk)


def test_a_max_below_the_peak_need_is_a_config_error_naming_the_key(tmp_path, capsys):
    text = (CPU / "mlrelease.yaml").read_text().replace("replicas: {min: 2}", "replicas: {min: 2, max: 5}")
    (tmp_path / "mlrelease.yaml").write_text(text)
    code, out, err = run_main(capsys, "render", "--target", "gke", "-c", str(tmp_path))
    assert code == 2 and out == ""
    assert "deploy.gke.replicas.max is 5, but the 10x peak needs 8" in err
    assert "Traceback" not in err


# ----------------------------------------------------------------------------- the command


def test_render_without_a_release_uses_the_config_image_and_a_placeholder_digest():
    result = CliRunner().invoke(cli, ["render", "--target", "gke", "-c", str(CPU)])
    assert result.exit_code == 0, result.output
    dep = objects(result.output)["Deployment"]
    image = dep["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"europe-west3-docker.pkg.dev/acme/models/brno-house-prices@{PLACEHOLDER_DIGEST}"


def image_json(path: Path, digest: str | None = DIGEST) -> Path:
    rec = ImageRecord(
        reference="brno-house-prices:v7",
        image_id="sha256:" + "cd" * 32,
        size_bytes=1,
        gpu=False,
        base_image="python:3.11-slim",
        labels={},
        port=8080,
    )
    if digest:
        rec = rec.with_push("europe-west3-docker.pkg.dev/acme/models/brno-house-prices:v7", digest)
    rec.write(path)
    return path


def test_render_from_image_json_and_metrics_pins_the_pushed_digest_and_sizes_memory(tmp_path):
    metrics = json.loads(
        (Path(__file__).resolve().parents[2] / "examples/brno-houses/baseline/metrics.json").read_text()
    )
    metrics["cost"]["peak_memory_bytes"] = 200 * 2**20
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    args = [
        "render",
        "--target",
        "gke",
        "-c",
        str(CPU),
        "--image-json",
        str(image_json(tmp_path / "image.json")),
    ]
    result = CliRunner().invoke(cli, [*args, "--metrics", str(tmp_path / "metrics.json"), "--version", "v8"])
    assert result.exit_code == 0, result.output
    dep = objects(result.output)["Deployment"]
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    assert c["image"] == f"europe-west3-docker.pkg.dev/acme/models/brno-house-prices@{DIGEST}"
    assert c["resources"]["requests"]["memory"] == "560Mi"  # 256 + (0.08 + 200) MiB x 1.5, in 16 MiB steps
    assert dep["metadata"]["labels"]["app.kubernetes.io/version"] == "v8"


def test_render_refuses_an_image_that_was_never_pushed(tmp_path, capsys):
    args = [
        "render",
        "--target",
        "gke",
        "-c",
        str(CPU),
        "--image-json",
        str(image_json(tmp_path / "i.json", None)),
    ]
    code, out, err = run_main(capsys, *args)
    assert code == 2 and out == "" and "mlrelease push" in err


def test_render_without_a_gke_section_names_the_key(tmp_path, capsys):
    (tmp_path / "mlrelease.yaml").write_text("model: {name: m, task: regression, artifact: m.skops}\n")
    code, _, err = run_main(capsys, "render", "--target", "gke", "-c", str(tmp_path))
    assert code == 2 and "deploy.gke is missing" in err


def test_output_dir_with_kustomize_builds_the_same_objects_with_kubectl(tmp_path):
    out = tmp_path / "k8s"
    result = CliRunner().invoke(
        cli, ["render", "--target", "gke", "-c", str(CPU), "--output-dir", str(out), "--kustomize"]
    )
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "deployment.yaml",
        "horizontalpodautoscaler.yaml",
        "kustomization.yaml",
        "poddisruptionbudget.yaml",
        "service.yaml",
        "serviceaccount.yaml",
    ]
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not on PATH")
    built = subprocess.run(
        [kubectl, "kustomize", str(out)], capture_output=True, text=True, check=True
    ).stdout
    printed = CliRunner().invoke(cli, ["render", "--target", "gke", "-c", str(CPU)]).output
    key = lambda d: (d["kind"], d["metadata"]["name"])  # noqa: E731 - a sort key
    assert sorted(yaml.safe_load_all(built), key=key) == sorted(
        (d for d in yaml.safe_load_all(printed) if d), key=key
    )


def test_output_dir_never_overwrites_a_file_the_user_wrote(tmp_path, capsys):
    out = tmp_path / "k8s"
    out.mkdir()
    (out / "service.yaml").write_text("# mine\n")
    code, _, err = run_main(capsys, "render", "--target", "gke", "-c", str(CPU), "--output-dir", str(out))
    assert code == 2 and "service.yaml" in err
    assert (out / "service.yaml").read_text() == "# mine\n"
    assert sorted(p.name for p in out.iterdir()) == ["service.yaml"]  # nothing half-written
    again = CliRunner().invoke(
        cli, ["render", "--target", "gke", "-c", str(CPU), "--output-dir", str(tmp_path / "b")]
    )
    assert again.exit_code == 0
    rerun = CliRunner().invoke(
        cli, ["render", "--target", "gke", "-c", str(CPU), "--output-dir", str(tmp_path / "b")]
    )
    assert rerun.exit_code == 0  # its own files are rewritten


def test_kustomize_needs_an_output_dir(capsys):
    code, _, err = run_main(capsys, "render", "--target", "gke", "-c", str(CPU), "--kustomize")
    assert code == 2 and "--output-dir" in err


def test_diff_shows_what_the_next_release_changes(tmp_path):
    old = tmp_path / "k8s"
    base = ["render", "--target", "gke", "-c", str(CPU)]
    first = CliRunner().invoke(
        cli, [*base, "--image", f"{REPO}@{DIGEST}", "--version", "v7", "--output-dir", str(old)]
    )
    assert first.exit_code == 0, first.output
    same = CliRunner().invoke(
        cli, [*base, "--image", f"{REPO}@{DIGEST}", "--version", "v7", "--diff", str(old)]
    )
    assert same.output == "no changes\n"
    other = "sha256:" + "cd" * 32
    result = CliRunner().invoke(
        cli, [*base, "--image", f"{REPO}@{other}", "--version", "v8", "--diff", str(old)]
    )
    assert result.exit_code == 0, result.output
    changed = [x for x in result.output.splitlines() if x[:1] in "+-" and x[:3] not in ("+++", "---")]
    assert f"-        image: {REPO}@{DIGEST}" in changed and f"+        image: {REPO}@{other}" in changed
    assert "-    app.kubernetes.io/version: v7" in changed and "+    app.kubernetes.io/version: v8" in changed
    # nothing but the version label, the release annotation and the image changes
    assert {x.strip(" +-").split(":")[0] for x in changed} == {
        "app.kubernetes.io/version",
        "mlrelease.dev/release",
        "image",
    }
    assert "--- a/deployment.yaml" in result.output and "--- a/service.yaml" in result.output


def test_image_must_be_named_by_digest(capsys):
    code, _, err = run_main(capsys, "render", "--target", "gke", "-c", str(CPU), "--image", f"{REPO}:latest")
    assert code == 2 and "REPO@sha256:DIGEST" in err


def test_canary_deployment_runs_beside_the_stable_one_behind_the_same_service():
    cfg = cfgmod.load(CPU, check_files=False)
    objs = objects(gke.to_yaml(gke.render(cfg, release(cfg))))
    can = gke.canary_deployment(cfg, release(cfg, version="v8"), 2).body
    stable_sel = objs["Deployment"]["spec"]["selector"]["matchLabels"]
    canary_sel = can["spec"]["selector"]["matchLabels"]
    assert can["metadata"]["name"] == "brno-house-prices-canary" and can["spec"]["replicas"] == 2
    assert stable_sel[gke.TRACK] == "stable" and canary_sel[gke.TRACK] == "canary"
    service_sel = objs["Service"]["spec"]["selector"]
    for sel, labels in ((stable_sel, objs["Deployment"]), (canary_sel, can)):
        pod_labels = labels["spec"]["template"]["metadata"]["labels"]
        assert sel.items() <= pod_labels.items()  # each Deployment owns its own pods
        assert service_sel.items() <= pod_labels.items()  # the Service sends traffic to both
    assert objs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == service_sel
