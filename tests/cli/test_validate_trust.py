"""`config validate` says what `predict` would refuse: a skops model's untrusted types, by name."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

CHURN = Path(__file__).resolve().parents[1] / "fixtures" / "handoff-churn"


def handoff(tmp_path: Path, trusted: list[str] | None) -> Path:
    folder = tmp_path / "churn"
    shutil.copytree(CHURN, folder)
    data = yaml.safe_load((folder / "mlrelease.yaml").read_text())
    if trusted is None:
        data["model"].pop("trusted_types", None)
    else:
        data["model"]["trusted_types"] = trusted
    (folder / "mlrelease.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return folder


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlrelease", *args], capture_output=True, text=True, check=False
    )


def test_validate_names_the_untrusted_types_predict_would_refuse(tmp_path):
    folder = handoff(tmp_path, None)
    validated = run("config", "validate", str(folder))
    assert validated.returncode == 2, validated.stderr
    assert "model.trusted_types" in validated.stderr
    assert "sklearn.tree._tree.Tree" in validated.stderr
    assert "Traceback" not in validated.stderr
    predicted = run("predict", "-c", str(folder))
    assert predicted.returncode == 2 and "sklearn.tree._tree.Tree" in predicted.stderr


def test_validate_passes_once_the_types_are_listed(tmp_path):
    folder = handoff(tmp_path, ["sklearn.tree._tree.Tree"])
    validated = run("config", "validate", str(folder))
    assert validated.returncode == 0, validated.stderr
