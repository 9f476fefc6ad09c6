"""The newcomer's two handoffs through the steps test_handoffs.py leaves out: `init` on each
layout (without its config), `lint --execute` (the notebooks run in a scratch copy; the handoff
is never written), and `build` + `test-image` against the real Docker engine (golden rows,
with the churn model's class probabilities, identical inside the image)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlrelease.image.wheelhouse import build_self_wheel

ROOT = Path(__file__).resolve().parents[2]
HANDOFFS = {
    "churn": ROOT / "tests" / "fixtures" / "handoff-churn",
    "energy": ROOT / "tests" / "fixtures" / "handoff-energy",
}
FAST = ("--latency-samples", "100", "--latency-budget", "1")


def mlrelease(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlrelease", *args], capture_output=True, text=True, check=False, cwd=cwd
    )


def tree_hash(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("name", list(HANDOFFS))
def test_init_proposes_the_handoffs_own_files(name: str, tmp_path: Path):
    folder = tmp_path / name
    shutil.copytree(HANDOFFS[name], folder)
    given = yaml.safe_load((folder / "mlrelease.yaml").read_text())
    (folder / "mlrelease.yaml").unlink()
    options = ["--model", given["model"]["artifact"]] if name == "energy" else []  # two models: asked
    done = mlrelease("init", str(folder), *options, "--target", given["model"]["target"])
    assert done.returncode == 0, done.stderr
    proposed = yaml.safe_load((folder / "mlrelease.yaml").read_text())
    assert proposed["model"]["artifact"] == given["model"]["artifact"]
    assert proposed["model"]["task"] == given["model"]["task"]
    assert proposed["validation"]["data"] == given["validation"]["data"]
    assert proposed["validation"]["reference"] == given["validation"]["reference"]
    assert proposed["requirements"] == given["requirements"]


@pytest.mark.parametrize("name", list(HANDOFFS))
def test_lint_execute_runs_the_notebook_and_never_writes_the_handoff(name: str, tmp_path: Path):
    folder = tmp_path / name
    shutil.copytree(HANDOFFS[name], folder)
    before = tree_hash(folder)
    done = mlrelease("lint", "-c", str(folder), "--execute", "--kernel", "current", "--json")
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    assert report["executed"] is True and report["kernel"]
    assert tree_hash(folder) == before


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_self_wheel(tmp_path_factory.mktemp("dist"), source_date_epoch=0)


@pytest.mark.docker
@pytest.mark.parametrize("name", list(HANDOFFS))
def test_build_and_test_image_give_the_golden_rows(
    name: str, tmp_path: Path, docker_client, base_image: str, wheel: Path
):
    folder = tmp_path / name
    shutil.copytree(HANDOFFS[name], folder)
    tag = f"mlrelease-test/handoff-{name}:session"
    evaluated = mlrelease("evaluate", "-c", str(folder), *FAST, "-o", str(tmp_path / "eval"))
    assert evaluated.returncode == 0, evaluated.stderr[-4000:]
    built = mlrelease(
        "build", "-c", str(folder), "--evaluation", str(tmp_path / "eval"), "--base-image", base_image,
        "--wheelhouse", str(tmp_path / "wheelhouse"), "--tag", tag, "--mlrelease-wheel", str(wheel),
        "-o", str(tmp_path / "image.json"),
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-4000:]
    try:
        tested = mlrelease(
            "test-image", "-c", str(folder), "--evaluation", str(tmp_path / "eval"),
            "--image-json", str(tmp_path / "image.json"), "--json",
        )  # fmt: skip
        assert tested.returncode == 0, tested.stdout + tested.stderr
        result = json.loads(tested.stdout)
        assert result["ok"] and result["rows"] == 40
        if name == "churn":
            assert result["classes"] == 2 and result["max_proba_diff"] <= 1e-12
    finally:
        docker_client.images.remove(tag, force=True)
