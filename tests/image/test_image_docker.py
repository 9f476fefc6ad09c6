"""The image step against the real Docker engine and a real registry.

One full build of the example per session (on the Debian-built base), reused by every test; one
no-cache rebuild proves reproducibility by content; one model-only rebuild (the production
baseline baked in instead of the candidate) proves that test-image catches a different model.
The real `mlrelease evaluate` writes the golden rows; the real server answers inside the image.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mlrelease.cli import cli
from mlrelease.errors import CheckFailed, EnvironmentUnavailable
from mlrelease.image import build as image_build
from mlrelease.image import container as image_container
from mlrelease.image.record import ImageRecord
from mlrelease.image.wheelhouse import build_self_wheel

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "brno-houses"
MLRELEASE = [sys.executable, "-m", "mlrelease"]


@dataclass(frozen=True)
class Built:
    handoff: Path
    wheel: Path  # mlrelease's wheel, built once: the tree may change while the session runs
    evaluation: Path
    wheelhouse: Path
    image_json: Path
    record: ImageRecord
    base_image: str
    seconds: float


def _mlrelease(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None):
    return subprocess.run([*MLRELEASE, *args], capture_output=True, text=True, cwd=cwd, env=env)


@pytest.fixture(scope="session")
def handoff(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example handoff in a git repository of its own (revision and commit time)."""
    folder = tmp_path_factory.mktemp("image") / "brno-houses"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    subprocess.run(["git", "-C", str(folder), "init", "-q"], check=True, capture_output=True)
    _commit(folder, "handoff", "2024-05-01T12:00:00Z")
    return folder


def _commit(folder: Path, message: str, when: str) -> None:
    git = ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    env = {**os.environ, "GIT_COMMITTER_DATE": when, "GIT_AUTHOR_DATE": when}
    subprocess.run([*git, "add", "-A"], check=True, capture_output=True)
    subprocess.run([*git, "commit", "-q", "-m", message], check=True, capture_output=True, env=env)


@pytest.fixture(scope="session")
def evaluation(handoff: Path) -> Path:
    out = handoff.parent / "evaluation"
    run = _mlrelease("evaluate", "-c", str(handoff), "-o", str(out))
    assert run.returncode == 0, run.stderr
    return out


@pytest.fixture(scope="session")
def built(docker_client, base_image: str, handoff: Path, evaluation: Path) -> Built:
    """The example image, built once per session through the CLI (a real subprocess)."""
    wheelhouse = handoff.parent / "wheelhouse"
    image_json = handoff.parent / "image.json"
    wheel = build_self_wheel(handoff.parent / "dist", source_date_epoch=0)
    started = time.monotonic()
    run = _mlrelease(
        "build", "-c", str(handoff), "--evaluation", str(evaluation), "--base-image", base_image,
        "--wheelhouse", str(wheelhouse), "--tag", "mlrelease-test/brno-house-prices:session",
        "--mlrelease-wheel", str(wheel), "-o", str(image_json),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-4000:]
    return Built(
        handoff, wheel, evaluation, wheelhouse, image_json, ImageRecord.read(image_json), base_image,
        time.monotonic() - started,
    )  # fmt: skip


def test_image_json_describes_the_image_with_oci_and_model_labels(built: Built, docker_client):
    record = built.record
    image = docker_client.images.get(record.reference)
    assert image.id == record.image_id and record.size_bytes > 0 and record.content_sha256
    labels = record.labels
    revision = subprocess.run(
        ["git", "-C", str(built.handoff), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert labels["org.opencontainers.image.revision"] == revision
    assert labels["org.opencontainers.image.created"] == "2024-05-01T12:00:00Z"  # the commit time
    assert labels["io.mlrelease.model.name"] == "brno-house-prices"
    assert float(labels["io.mlrelease.metrics.r2_score"]) > 0.8  # from the real metrics.json
    config = image.attrs["Config"]
    assert config["User"] == "10001:10001" and config["Healthcheck"]["Test"][0] == "CMD"


def test_built_image_gives_the_golden_predictions_with_no_network_read_only_non_root(built: Built):
    run = _mlrelease(
        "test-image", "-c", str(built.handoff), "--evaluation", str(built.evaluation),
        "--image-json", str(built.image_json), "--json",
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(run.stdout)  # --json: only JSON on stdout
    assert result["ok"] and result["rows"] == 200 and result["row_diffs"] == []
    assert result["package_diffs"] == [] and result["uid"] == 10001
    assert result["max_abs_diff"] <= 1e-7 * 1e8
    assert {"scikit-learn", "scipy", "pandas"} <= set(
        result["build_only"]
    )  # the lock less what the image names


def test_the_image_holds_no_test_suites_headers_or_parquet_engine(built: Built, docker_client):
    """What serving never runs stays out of the image; the bytecode that speeds up start-up stays."""
    listing = docker_client.containers.run(
        built.record.image_id,
        entrypoint=["sh", "-c", "cd /opt/venv/lib/python3*/site-packages && find . -maxdepth 3 -type d"],
        network_mode="none",
        remove=True,
    ).decode()
    dirs = set(listing.split())
    assert not [d for d in dirs if d.endswith(("/tests", "/include"))], sorted(dirs)[:20]
    assert "./pyarrow" not in dirs  # pandas imports it when present: 0.27 s of start-up
    assert "./mlrelease/__pycache__" in dirs and "./numpy" in dirs
    assert "./sklearn" not in dirs and "./pandas" not in dirs  # compiled-only: left in the builder


_EXTENSIONS = """
import importlib, importlib.machinery, json, os, struct, sys
site = next(p for p in sys.path if p.endswith("site-packages"))
out = {"imported": 0, "broken": [], "with_sections": [], "stubs": [], "links": []}
for folder, dirs, files in os.walk(site):
    for name in files:
        path = os.path.join(folder, name)
        if name.endswith(".pyi"):
            out["stubs"].append(path)
        if os.path.islink(path):
            out["links"].append(os.path.relpath(path, site) + " -> " + os.readlink(path))
            continue
        if name.endswith(".so") or ".so." in name:
            with open(path, "rb") as fh:
                head = fh.read(64)
            if head[:4] == b"\\x7fELF" and struct.unpack_from("<Q", head, 0x28)[0]:
                out["with_sections"].append(path)
        suffix = next((s for s in importlib.machinery.EXTENSION_SUFFIXES if name.endswith(s)), None)
        if suffix and not folder.endswith(".libs"):
            module = os.path.relpath(path[: -len(suffix)], site).replace(os.sep, ".")
            try:
                importlib.import_module(module)
                out["imported"] += 1
            except ImportError as exc:  # a cut too far shows as the loader's words
                if any(w in str(exc) for w in ("ELF", "shared object", "symbol", "section")):
                    out["broken"].append(module + ": " + str(exc))
print(json.dumps(out))
"""


def test_every_extension_loads_after_the_builder_cut_its_symbols_stubs_and_duplicates(
    built: Built, docker_client
):
    """The builder's cuts (mlrelease.image.slim) leave every compiled module loadable in the image."""
    out = docker_client.containers.run(
        built.record.image_id,
        entrypoint=["/opt/venv/bin/python", "-c", _EXTENSIONS],
        network_mode="none",
        read_only=True,
        remove=True,
    )
    found = json.loads(out)
    assert found["imported"] > 20 and found["broken"] == []  # numpy's, uvloop's, orjson's, ...
    assert found["with_sections"] == [] and found["stubs"] == []


_PROBE = """
import importlib.util, json
print(json.dumps({m: importlib.util.find_spec(m) is not None for m in
                  ["sklearn", "pandas", "scipy", "joblib", "skops", "numpy", "uvicorn"]}))
"""

_VERSION = """
import urllib.request
print(urllib.request.urlopen("http://127.0.0.1:8080/version", timeout=5).read().decode())
"""


def test_the_example_builds_compiled_only_without_the_model_library(built: Built, docker_client):
    """The whole model compiles: the runtime stage holds no scikit-learn, scipy, pandas, joblib or
    skops, the labels name what was left out and why, and /version says what it serves."""
    labels = built.record.labels
    assert labels["io.mlrelease.runtime"] == "compiled"
    assert "HistGradientBoostingRegressor (200 trees)" in labels["io.mlrelease.runtime.reason"]
    left_out = set(labels["io.mlrelease.build-only"].split(","))
    assert {"scikit-learn", "scipy", "pandas", "joblib", "skops"} <= left_out
    assert not left_out & {"numpy", "uvicorn", "orjson", "prometheus-client", "pyyaml", "click"}
    out = docker_client.containers.run(
        built.record.image_id,
        entrypoint=["/opt/venv/bin/python", "-c", _PROBE],
        network_mode="none",
        remove=True,
    )
    assert json.loads(out) == {
        "sklearn": False, "pandas": False, "scipy": False, "joblib": False, "skops": False,
        "numpy": True, "uvicorn": True,
    }  # fmt: skip
    container = docker_client.containers.run(
        built.record.image_id, detach=True, network_mode="none", read_only=True, tmpfs={"/tmp": ""},
        user="10001:10001", healthcheck={"test": ["CMD", "/opt/venv/bin/python", "-c", _VERSION],
                                         "interval": 500_000_000, "retries": 3},
    )  # fmt: skip
    try:
        image_container.wait_healthy(container, 120)
        version = image_container.exec_json(
            container, ["/opt/venv/bin/python", "-c", _VERSION], "GET /version"
        )
    finally:
        container.remove(force=True)
    assert isinstance(version, dict)
    predictor = version["predictor"]
    assert predictor["runtime"] == "compiled-only" and predictor["compiled"] is True
    assert predictor["rows_checked"] > 2000 and predictor["engine"] == "native"
    assert predictor["compiled_from"]["sha256"] == labels["io.mlrelease.model.sha256"]
    assert "numpy.exp" in predictor["compiled_from"]["steps"]


_TAMPER = """
import hashlib, json, os, shutil, sys
import numpy as np
shutil.copytree("/app/compiled", "/tmp/c")
with np.load("/tmp/c/arrays.npz") as npz:
    arrays = {k: npz[k] for k in npz.files}
value = arrays["value"]
value[int(np.flatnonzero(value[:, 0])[0]), 0] += 0.01  # one leaf of the first tree
np.savez("/tmp/c/arrays.npz", **arrays)
if sys.argv[1] == "restamp":  # the manifest's digest rewritten to match the changed arrays
    manifest = json.load(open("/tmp/c/model.json"))
    manifest["arrays_sha256"] = hashlib.sha256(open("/tmp/c/arrays.npz", "rb").read()).hexdigest()
    json.dump(manifest, open("/tmp/c/model.json", "w"))
os.execv("/opt/venv/bin/mlrelease", ["mlrelease", "serve", "-c", "/app/mlrelease.yaml",
                                     "--compiled-model", "/tmp/c", "--port", "8080"])
"""


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("arrays", "not the one that was built, so the server does not start: /tmp/c/arrays.npz has"),
        ("restamp", "does not reproduce the model's recorded predictions"),
    ],
)
def test_a_compiled_model_with_one_leaf_changed_refuses_to_start_with_the_reason(
    built: Built, docker_client, how: str, reason: str
):
    """The arrays alone changed: the digest the build recorded refuses them. The digest
    rewritten to match as well: the proof on the recorded rows refuses them."""
    container = docker_client.containers.run(
        built.record.image_id, entrypoint=["/opt/venv/bin/python", "-c", _TAMPER, how], detach=True,
        network_mode="none", read_only=True, tmpfs={"/tmp": ""}, user="10001:10001",
    )  # fmt: skip
    try:
        status = container.wait(timeout=120)["StatusCode"]
        logs = container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)
    assert status == 1, logs
    assert reason in logs
    if how == "restamp":
        assert "predictions differ from the model's own" in logs


def test_two_builds_from_the_same_inputs_install_the_same_files(built: Built, docker_client):
    """Reproducibility by content: the classic builder gives no byte-identical digests."""
    record = ImageRecord.read(built.image_json)
    config_path = built.handoff
    from mlrelease import config
    from mlrelease.image import context

    plan = context.plan(
        config.load(config_path), base_image=built.base_image, evaluation=built.evaluation,
        tag="mlrelease-test/brno-house-prices:rebuild",
    )  # fmt: skip
    again = image_build.build_image(
        docker_client, plan, wheel_cache=built.wheelhouse, mlrelease_wheel=built.wheel, nocache=True
    )
    assert again.image_id != record.image_id  # a real second build, not the cache
    if again.content_sha256 != record.content_sha256:
        first = image_build.content_manifest(docker_client, record.image_id)
        second = image_build.content_manifest(docker_client, again.image_id)
        changed = sorted(k for k in first.keys() | second.keys() if first.get(k) != second.get(k))
        pytest.fail(f"{len(changed)} installed files differ between two builds: {changed[:20]}")
    result = image_container.run_image_test(
        docker_client, again.reference, golden=built.evaluation / "golden.parquet",
        lock=plan.lock, port=8080,
    )  # fmt: skip
    assert result.ok, result.to_json()
    docker_client.images.remove(again.reference)


def test_image_test_catches_a_different_model_and_a_model_change_rebuilds_from_cache(
    built: Built, docker_client
):
    """The production baseline baked in where the candidate belongs: the golden test must fail."""
    swapped = built.handoff.parent / "swapped"
    shutil.copytree(built.handoff, swapped)
    shutil.copy2(built.handoff / "baseline" / "model.skops", swapped / "model" / "model.skops")
    _commit(swapped, "model-only change", "2024-06-01T12:00:00Z")
    started = time.monotonic()
    run = CliRunner().invoke(
        cli,
        ["build", "-c", str(swapped), "--evaluation", str(built.evaluation), "--base-image", built.base_image,
         "--wheelhouse", str(built.wheelhouse), "--tag", "mlrelease-test/brno-house-prices:swapped",
         "--mlrelease-wheel", str(built.wheel), "-o", str(swapped / "image.json")],
    )  # fmt: skip
    seconds = time.monotonic() - started
    assert run.exit_code == 0, run.output
    assert seconds < built.seconds
    assert run.stderr.count("Using cache") >= 8  # every dependency layer came from cache
    record = ImageRecord.read(swapped / "image.json")
    assert record.labels["io.mlrelease.model.sha256"] != built.record.labels["io.mlrelease.model.sha256"]
    print(f"model-only rebuild {seconds:.1f}s, full build {built.seconds:.1f}s")

    result = CliRunner().invoke(
        cli,
        ["test-image", "-c", str(swapped), "--golden", str(built.evaluation / "golden.parquet"),
         "--image-json", str(swapped / "image.json")],
    )  # fmt: skip
    assert isinstance(result.exception, CheckFailed), result.output
    assert "predictions differ" in result.exception.message
    assert "row_id" in result.stdout and "golden" in result.stdout  # the differing rows are listed
    assert "packages: the image holds exactly" in result.stdout  # packages are not to blame
    docker_client.images.remove(record.reference)


def test_image_test_catches_packages_that_differ_from_the_lock(built: Built, tmp_path: Path):
    """A lock that says another numpy than the image holds: the package check names it, exit 1."""
    handoff = tmp_path / "other-lock"
    shutil.copytree(built.handoff, handoff, ignore=shutil.ignore_patterns(".git"))
    lock = handoff / "requirements.txt"
    text = lock.read_text()
    numpy_version = next(
        line.split("==")[1].split()[0] for line in text.splitlines() if line.startswith("numpy==")
    )
    lock.write_text(text.replace(f"numpy=={numpy_version}", "numpy==1.26.4"))
    run = _mlrelease(
        "test-image", "-c", str(handoff), "--golden", str(built.evaluation / "golden.parquet"),
        "--image-json", str(built.image_json),
    )  # fmt: skip
    assert run.returncode == 1, run.stdout + run.stderr
    assert "numpy" in run.stdout and "1.26.4" in run.stdout and numpy_version in run.stdout
    assert "packages differ from the lock" in run.stderr


def test_gpu_check_without_a_gpu_runtime_says_so_and_exits_3(built: Built, docker_client):
    if image_container.has_gpu_runtime(docker_client):
        pytest.skip("this engine has a GPU runtime; the exit-3 path is for machines without one")
    run = _mlrelease(
        "test-image", "-c", str(built.handoff), "--evaluation", str(built.evaluation),
        "--image-json", str(built.image_json), "--gpu",
    )  # fmt: skip
    assert run.returncode == 3, run.stdout + run.stderr
    assert "no GPU runtime" in run.stderr and "nvidia" in run.stderr
    assert run.stdout == ""


def test_gpu_probe_runs_inside_the_image_and_reports_what_is_missing(built: Built, docker_client):
    """As far as a machine without a GPU allows: the probe itself runs in the real container."""
    container = docker_client.containers.run(
        built.record.image_id, entrypoint=["sleep", "60"], detach=True, network_mode="none", read_only=True
    )
    try:
        report = image_container.gpu_probe(container)
    finally:
        container.remove(force=True)
    assert not report.ok
    assert report.nvidia_smi is None and "nvidia-smi" in (report.nvidia_smi_error or "")
    assert report.torch is None  # the example locks no torch: cuda is then not asked
    assert any("nvidia-smi" in p for p in report.problems())


def test_push_and_pull_by_digest_with_htpasswd_auth_never_logs_the_password(
    built: Built, registry_auth, docker_client, tmp_path: Path
):
    image_json = tmp_path / "image.json"
    shutil.copy2(built.image_json, image_json)
    denied = _mlrelease("push", "--image-json", str(image_json), "--registry", registry_auth.host)
    assert denied.returncode == 1 and "MLRELEASE_REGISTRY_USERNAME" in denied.stderr

    env = {
        **os.environ,
        "MLRELEASE_REGISTRY_USERNAME": registry_auth.username,
        "MLRELEASE_REGISTRY_PASSWORD": registry_auth.password,
    }
    run = _mlrelease("push", "--image-json", str(image_json), "--registry", registry_auth.host, env=env)
    assert run.returncode == 0, run.stderr
    assert registry_auth.password not in run.stdout + run.stderr
    record = ImageRecord.read(image_json)
    assert record.digest and record.repo_digest == f"{registry_auth.host}/brno-house-prices@{record.digest}"

    docker_client.images.remove(record.pushed[-1])
    pulled = docker_client.images.pull(record.repo_digest, auth_config=registry_auth.auth_config)
    assert pulled.id == built.record.image_id
    docker_client.images.remove(record.repo_digest)


def test_push_records_the_digest_in_an_open_registry_through_the_config(
    built: Built, registry, tmp_path: Path
):
    """image.registry in mlrelease.yaml is where push goes when no --registry is given."""
    handoff = tmp_path / "handoff"
    shutil.copytree(built.handoff, handoff, ignore=shutil.ignore_patterns(".git"))
    data = yaml.safe_load((handoff / "mlrelease.yaml").read_text())
    data["image"]["registry"] = f"{registry.host}/models"
    (handoff / "mlrelease.yaml").write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    image_json = tmp_path / "image.json"
    shutil.copy2(built.image_json, image_json)
    result = CliRunner().invoke(cli, ["push", "-c", str(handoff), "--image-json", str(image_json), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["repo_digest"].startswith(f"{registry.host}/models/brno-house-prices@sha256:")


def test_test_image_without_an_engine_exits_3(built: Built, tmp_path: Path):
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    run = _mlrelease(
        "test-image", "-c", str(built.handoff), "--evaluation", str(built.evaluation),
        "--image-json", str(built.image_json), env=env,
    )  # fmt: skip
    assert run.returncode == 3 and "no Docker engine answers" in run.stderr
    assert EnvironmentUnavailable.exit_code == 3
