"""mlrelease gate on the example: the shipped candidate passes against the committed baseline,
a model trained on too little data is blocked with a reason a reviewer understands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlrelease.cli import cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "brno-houses"
DEGRADED = ROOT / "tests" / "fixtures" / "eval-degraded" / "model.skops"


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    runner = CliRunner()
    for name, extra in (("candidate", []), ("degraded", ["--model", str(DEGRADED)])):
        args = ["evaluate", "-c", str(EXAMPLE), "-o", str(out / name), "--latency-samples", "100", *extra]
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
    return out


def test_shipped_candidate_passes_against_the_baseline(evaluated, tmp_path):
    args = ["gate", "--candidate", str(evaluated / "candidate"), "--baseline", str(EXAMPLE / "baseline")]
    result = CliRunner().invoke(cli, [*args, "-c", str(EXAMPLE), "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    gate = json.loads((tmp_path / "gate.json").read_text())
    assert gate["verdict"] == "pass" and gate["paired"] is True
    rmse = next(
        c for c in gate["checks"] if c["metric"] == "root_mean_squared_error" and c["scope"] == "overall"
    )
    assert rmse["relative_change"] < -0.03  # about 6% better
    assert rmse["interval"]["high"] < 0  # better with confidence
    first = (tmp_path / "gate.md").read_text().splitlines()[0]
    assert first.startswith("**✅ PASS")
    assert "| metric | baseline | candidate | change | rule | verdict |" in (tmp_path / "gate.md").read_text()


def test_degraded_model_is_blocked_with_a_readable_reason(evaluated, tmp_path):
    args = ["gate", "--candidate", str(evaluated / "degraded"), "--baseline", str(EXAMPLE / "baseline")]
    result = CliRunner().invoke(cli, [*args, "-c", str(EXAMPLE), "-o", str(tmp_path), "--json"])
    assert result.exit_code == 1
    gate = json.loads(result.stdout)  # --json: only JSON on stdout
    assert gate["verdict"] == "fail"
    assert gate["headline"].startswith("FAIL")
    assert (
        "root_mean_squared_error" in gate["headline"]
        and "worse, beyond the allowed 2% with confidence" in gate["headline"]
    )
    failed_scopes = {c["scope"] for c in gate["checks"] if c["verdict"] == "fail"}
    assert {"overall", "city-centre", "panel-estates", "new-builds"} <= failed_scopes


def test_no_baseline_runs_absolute_rules_only(evaluated, tmp_path):
    result = CliRunner().invoke(
        cli,
        [
            "gate",
            "--candidate",
            str(evaluated / "candidate" / "metrics.json"),
            "-c",
            str(EXAMPLE),
            "-o",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "only the absolute rules" in (tmp_path / "gate.md").read_text()


def test_actions_get_a_summary_an_output_and_annotations(evaluated, tmp_path):
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output)}
    args = ["gate", "--candidate", str(evaluated / "degraded"), "--baseline", str(EXAMPLE / "baseline")]
    result = CliRunner(env=env).invoke(cli, [*args, "-c", str(EXAMPLE), "-o", str(tmp_path / "g"), "--json"])
    assert result.exit_code == 1
    assert "verdict=fail" in output.read_text()
    assert summary.read_text().startswith("**❌ FAIL")
    # the annotations go to stderr (the runner reads both streams), so stdout is JSON alone
    assert "::error title=gate%3A blocked::root_mean_squared_error: " in result.stderr
    assert json.loads(result.stdout)["verdict"] == "fail"


def test_subprocess_bad_input_exits_2(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    (tmp_path / "metrics.json").write_text('{"schema_version": 99}')
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlrelease",
            "gate",
            "--candidate",
            str(tmp_path),
            "-c",
            str(EXAMPLE),
            "-o",
            str(tmp_path / "g"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 2
    assert "schema_version 99 is not 1" in done.stderr
    assert not (tmp_path / "g").exists()
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlrelease",
            "gate",
            "--candidate",
            str(tmp_path / "nope"),
            "-c",
            str(EXAMPLE),
            "-o",
            str(tmp_path / "g"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert missing.returncode == 2 and "no metrics.json there" in missing.stderr


def test_classifier_against_itself_passes_with_zero_width_intervals(tmp_path):
    fixture = ROOT / "tests" / "fixtures" / "eval-classification"
    runner = CliRunner()
    for name in ("a", "b"):
        args = ["evaluate", "-c", str(fixture), "-o", str(tmp_path / name), "--latency-samples", "100"]
        assert runner.invoke(cli, args).exit_code == 0
    args = ["gate", "--candidate", str(tmp_path / "a"), "--baseline", str(tmp_path / "b"), "-c", str(fixture)]
    result = runner.invoke(cli, [*args, "-o", str(tmp_path / "g"), "--json"])
    assert result.exit_code == 0, result.output
    gate = json.loads(result.stdout)
    f1 = next(c for c in gate["checks"] if c["metric"] == "f1_macro_score")
    assert gate["paired"] and f1["verdict"] == "pass"
    assert f1["interval"]["low"] == f1["interval"]["high"] == 0.0
    reported = {c["metric"] for c in gate["reported"]}
    assert {"log_loss", "roc_auc_score", "p95_latency_ms"} <= reported


def test_the_examples_latency_rules_are_on_cpu_time_not_wall_clock():
    """Machine load moves wall-clock latency tenfold: no rule or trade-off of the example reads it."""
    from mlrelease import config

    gate = config.load(EXAMPLE).gate
    named = set(gate.metrics) | {m for t in gate.trade_offs for m in (*t.allow, *t.when)}
    assert not [m for m in named if m.endswith("_latency_ms")]
    assert gate.metrics["p95_cpu_ms"].max is not None
