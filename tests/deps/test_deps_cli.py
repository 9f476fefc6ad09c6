"""`mlrelease lock` and `mlrelease deps check` as a user and as GitHub Actions run them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from mlrelease.cli import cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "brno-houses"
FIXTURES = ROOT / "tests" / "fixtures"


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    return subprocess.run(
        [sys.executable, "-m", "mlrelease", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**base, **env},
    )


def test_committed_example_lock_is_fresh():
    result = CliRunner().invoke(cli, ["lock", "-c", str(EXAMPLE), "--check"])
    assert result.exit_code == 0, result.output
    assert "requirements.txt: fresh" in result.output


def test_deps_check_on_the_example_is_clean():
    result = CliRunner().invoke(cli, ["deps", "check", "-c", str(EXAMPLE), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["findings"] == [] and report["counts"] == {"error": 0, "warning": 0}


def test_stale_lock_check_exits_1_with_a_readable_diff():
    result = run("lock", "-c", "tests/fixtures/deps-stale-lock", "--check")
    assert result.returncode == 1
    assert "stale" in result.stdout
    assert "-in: six>=1.16" in result.stdout and "+in: six>=1.17" in result.stdout
    assert "run `mlrelease lock`" in result.stderr


def test_deps_check_json_is_only_json_and_exits_1_on_errors():
    result = run("deps", "check", "-c", "tests/fixtures/deps-missing", "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert {f["rule"] for f in report["findings"]} == {"missing", "transitive"}
    assert "deps check failed" in result.stderr


def test_warnings_pass_unless_fail_on_warning():
    assert run("deps", "check", "-c", "tests/fixtures/deps-unused").returncode == 0
    assert run("deps", "check", "-c", "tests/fixtures/deps-unused", "--fail-on", "warning").returncode == 1


def test_table_names_rule_package_and_line():
    result = run("deps", "check", "-c", "tests/fixtures/deps-misplaced")
    assert result.returncode == 1
    assert "dev-only" in result.stdout and "requirements.in:2" in result.stdout
    assert "display-only" in result.stdout and "matplotlib" in result.stdout


def test_bad_input_exits_2():
    assert run("deps", "check", "-c", "tests/fixtures/no-such-handoff").returncode == 2
    result = run("lock", "-c", "tests/fixtures/deps-clean", "--variant", "rocm")
    assert result.returncode == 2 and "no index known" in result.stderr


def test_in_actions_findings_become_annotations_outputs_and_summary(tmp_path: Path):
    out, summary = tmp_path / "out", tmp_path / "summary.md"
    result = run(
        "deps",
        "check",
        "-c",
        "tests/fixtures/deps-loose-pin",
        GITHUB_ACTIONS="true",
        GITHUB_OUTPUT=str(out),
        GITHUB_STEP_SUMMARY=str(summary),
    )
    assert result.returncode == 1
    assert "::error file=tests/fixtures/deps-loose-pin/requirements.txt,line=2,title=deps%3A loose-pin::" in (
        result.stderr
    )
    assert "errors=2" in out.read_text()
    assert "| error | loose-pin | requirements.txt:2 |" in summary.read_text()


def test_lock_json_reports_pins_and_writes_the_lock(tmp_path: Path):
    (tmp_path / "mlrelease.yaml").write_text(
        "version: 1\nmodel: {name: t, task: regression, entrypoint: m.py:load}\n"
    )
    (tmp_path / "m.py").write_text("import six\n")
    (tmp_path / "requirements.in").write_text("six\n")
    result = CliRunner().invoke(cli, ["lock", "-c", str(tmp_path), "--no-server", "--json"])
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.output)["locks"]
    assert entry["pins"] == 1 and entry["written"] and entry["changes"][0]["name"] == "six"
    check = CliRunner().invoke(cli, ["lock", "-c", str(tmp_path), "--check", "--json"])
    assert check.exit_code == 0 and json.loads(check.output)["locks"][0]["status"] == "fresh"
