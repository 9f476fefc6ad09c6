"""A classifier's image against the real Docker engine: its golden rows carry class
probabilities, and test-image fails when they move beyond the tolerance while every label stays
the same. The fixture handoff is copied, locked (uv), evaluated and built through the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mlrelease.image.wheelhouse import build_self_wheel

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "eval-classification"
TAG = "mlrelease-test/eval-classification:session"


def _mlrelease(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlrelease", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def classifier(docker_client, base_image: str, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("clf-image") / "eval-classification"
    shutil.copytree(FIXTURE, folder)
    for args in (
        ("lock", "-c", str(folder)),
        ("evaluate", "-c", str(folder), "-o", str(folder.parent / "eval")),
    ):
        run = _mlrelease(*args)
        assert run.returncode == 0, run.stderr[-4000:]
    wheel = build_self_wheel(folder.parent / "dist", source_date_epoch=0)
    run = _mlrelease(
        "build", "-c", str(folder), "--evaluation", str(folder.parent / "eval"), "--base-image", base_image,
        "--wheelhouse", str(folder.parent / "wheelhouse"), "--tag", TAG, "--mlrelease-wheel", str(wheel),
        "-o", str(folder.parent / "image.json"),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-4000:]
    # a logistic regression: nothing to compile, so the image keeps the model's own library
    assert "image runtime: full: the model does not compile fully: LogisticRegression" in run.stderr
    yield folder
    docker_client.images.remove(TAG, force=True)


def test_the_classifier_image_gives_the_golden_labels_and_probabilities(classifier: Path):
    run = _mlrelease(
        "test-image", "-c", str(classifier), "--evaluation", str(classifier.parent / "eval"),
        "--image-json", str(classifier.parent / "image.json"), "--json",
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(run.stdout)
    assert result["ok"] and result["rows"] == 20 and result["classes"] == 3
    assert result["build_only"] == [] and result["packages"] > 20  # the full image: every locked package
    record = json.loads((classifier.parent / "image.json").read_text())
    assert record["labels"]["io.mlrelease.runtime"] == "full"
    assert result["max_proba_diff"] <= 1e-12


def test_probabilities_moved_beyond_the_tolerance_fail_the_image_test_though_labels_match(
    classifier: Path, tmp_path: Path
):
    golden = pd.read_parquet(classifier.parent / "eval" / "golden.parquet")
    moved = golden.copy()
    moved["proba:high"] += 1e-4  # far beyond rtol 1e-7; the argmax, so every label, unchanged
    moved["proba:low"] -= 1e-4
    top = moved[["proba:high", "proba:low", "proba:mid"]].idxmax(axis=1).str.removeprefix("proba:")
    assert (top == golden["prediction"]).all()
    moved.to_parquet(tmp_path / "golden.parquet")
    run = _mlrelease(
        "test-image", "-c", str(classifier), "--golden", str(tmp_path / "golden.parquet"),
        "--image-json", str(classifier.parent / "image.json"),
    )  # fmt: skip
    assert run.returncode == 1, run.stdout + run.stderr
    assert "predictions or class probabilities differ in 20 of 20 golden rows" in run.stderr
    assert "proba:high" in run.stdout and "proba:low" in run.stdout
    assert "proba:mid" not in run.stdout.split("rows differ", 1)[1]  # only the moved columns are listed
