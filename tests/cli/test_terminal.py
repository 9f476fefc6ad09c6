"""Tables printed into a pipe or a CI log keep their cells whole (no 80-column "…" cuts, no colour)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "brno-houses"


def test_piped_gate_table_is_not_cut(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "GITHUB_ACTIONS")}
    argv = [sys.executable, "-m", "mlrelease", "gate", "-c", str(EXAMPLE), "-o", str(tmp_path)]
    argv += ["--candidate", str(EXAMPLE / "baseline"), "--baseline", str(EXAMPLE / "baseline")]
    out = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT).stdout
    assert "mean_absolute_percentage_error · slice panel-estates" in out
    assert "601,977" in out and "…" not in out
    assert "\x1b[" not in out


def test_piped_prediction_table_shows_whole_numbers():
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    argv = [sys.executable, "-m", "mlrelease", "predict", "-c", str(EXAMPLE), "--rows", "2"]
    out = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT).stdout
    assert "5,122,000" in out and "distance_to_centre_km" in out and "…" not in out
