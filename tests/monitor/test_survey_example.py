"""examples/survey: generated from fixed seeds, served for real, and its drift caught."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "survey"


@pytest.fixture(scope="module")
def survey(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example with its data regenerated and its server's request logs."""
    root = tmp_path_factory.mktemp("survey") / "survey"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("logs", "report", "__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    for script in ("generate_data.py", "generate_traffic.py"):
        subprocess.run(
            [sys.executable, script], cwd=root, env=env, check=True, capture_output=True, timeout=300
        )
    return root


def test_the_data_generator_is_deterministic(survey: Path) -> None:
    for name in ("train.csv", "reference.csv", "seniors.csv"):
        assert (survey / "data" / name).read_bytes() == (EXAMPLE / "data" / name).read_bytes(), name


def test_monitor_flags_age_the_predictions_and_the_older_slice(survey: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlrelease",
            "monitor",
            "-c",
            ".",
            "--current",
            "logs/requests.jsonl",
            "-o",
            "report",
        ],
        cwd=survey,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    data = json.loads((survey / "report" / "drift.json").read_text())
    assert data["current"]["from_logs"] and data["current"]["rows"] == 600
    by = {c["name"]: c for c in data["columns"]}
    assert by["age"]["verdict"] == "alert"
    assert by["prediction"]["verdict"] == "alert" and by["prediction"]["role"] == "prediction"
    assert by["hours_online"]["verdict"] == "ok" and by["faculty"]["verdict"] == "ok"
    slices = {s["name"]: s for s in data["slices"]}
    assert slices["older"]["verdict"] == "alert" and slices["older"]["rows_current"] == 600
    assert data["outliers"]["by_flag"]["input_far:age"] == 600
    html = (survey / "report" / "drift.html").read_text()
    assert re.findall(r'<img alt="([^:"]+): reference against current"', html) == ["age", "prediction"]
    assert html.index("<h2>Summary</h2>") < html.index("<img") < html.index("<h2>Slices</h2>")


def test_a_csv_batch_without_predictions_gets_the_models() -> None:
    from mlrelease import config
    from mlrelease.monitor.run import monitor

    result = monitor(EXAMPLE / "data" / "seniors.csv", cfg=config.load(str(EXAMPLE)))
    by = {c.name: c for c in result.overall.columns}
    assert by["prediction"].verdict == "alert"
    assert by["prediction"].plot[1] == ("yes", "no")  # reference categories, most frequent first
    assert "answer" not in by and "respondent_id" not in by
