"""The example handoff is reproducible byte for byte from its generator, seed and training script."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "brno-houses"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_generator_reproduces_the_data_byte_for_byte(tmp_path):
    subprocess.run([sys.executable, str(EXAMPLE / "generate_data.py"), "--out", str(tmp_path)], check=True)
    for name in ("reference.csv", "validation.csv"):
        assert sha(tmp_path / name) == sha(EXAMPLE / "data" / name), name


def test_another_seed_gives_other_data(tmp_path):
    subprocess.run(
        [sys.executable, str(EXAMPLE / "generate_data.py"), "--out", str(tmp_path), "--seed", "1"], check=True
    )
    assert sha(tmp_path / "validation.csv") != sha(EXAMPLE / "data" / "validation.csv")


@pytest.mark.parametrize(
    ("variant", "shipped"), [("candidate", "model/model.skops"), ("baseline", "baseline/model.skops")]
)
def test_training_reproduces_the_shipped_models_byte_for_byte(tmp_path, variant, shipped):
    out = tmp_path / "model.skops"
    subprocess.run(
        [sys.executable, str(EXAMPLE / "train.py"), "--variant", variant, "--out", str(out)],
        check=True,
        capture_output=True,
    )
    assert sha(out) == sha(EXAMPLE / shipped)
