"""The CLI edge: help, version, config validation, init and predict, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from mlrelease import __version__
from mlrelease.cli import cli, main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "brno-houses"
BROKEN = ROOT / "tests" / "fixtures" / "config-broken"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed entry point the way a user does, through `python -m mlrelease`."""
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    return subprocess.run(
        [sys.executable, "-m", "mlrelease", *args], capture_output=True, text=True, cwd=ROOT, env=env
    )


def test_help_lists_commands_and_imports_nothing_heavy():
    code = (
        "import sys; from mlrelease.cli import cli\n"
        "try:\n    cli.main(['--help'], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        "heavy = ('pandas', 'numpy', 'sklearn', 'jsonschema', 'yaml', 'rich')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "config" in out and "predict" in out
    assert "HEAVY []" in out


def test_version():
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"mlrelease, version {__version__}"


def test_validate_example_passes():
    result = CliRunner().invoke(cli, ["config", "validate", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


def test_validate_broken_config_exits_2_naming_line_and_key():
    result = run("config", "validate", str(BROKEN))
    assert result.returncode == 2
    err = result.stderr
    assert "mlrelease.yaml:4: model.tsak: unknown key (did you mean 'task'?)" in err
    assert "mlrelease.yaml:9: validation.golden_rows: expected an integer, got a string 'many'" in err
    assert result.stdout == ""


def test_validate_broken_config_reports_missing_files_once_the_schema_passes(tmp_path):
    text = (BROKEN / "mlrelease.yaml").read_text().replace("  tsak: regression\n", "")
    text = text.replace("  golden_rows: many\n", "")
    (tmp_path / "mlrelease.yaml").write_text(text)
    result = run("config", "validate", str(tmp_path))
    assert result.returncode == 2
    assert (
        "mlrelease.yaml:5: model.artifact: model file 'model/missing.skops' does not exist" in result.stderr
    )
    assert (
        "mlrelease.yaml:7: validation.data: validation data 'data/validation.csv' does not exist"
        in result.stderr
    )


def test_validate_json_mode_prints_only_json():
    result = run("config", "validate", str(BROKEN), "--json")
    assert result.returncode == 2
    data = json.loads(result.stdout)
    assert data["valid"] is False
    assert {p["key"] for p in data["problems"]} == {"model.tsak", "validation.golden_rows"}


def test_errors_become_annotations_inside_github_actions(monkeypatch, capsys):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    try:
        main(["config", "validate", str(BROKEN)])
    except SystemExit as exc:
        assert exc.code == 2
    err = capsys.readouterr().err
    assert "::error file=" in err and ",line=4,title=invalid mlrelease.yaml::" in err


def test_schema_command_prints_the_schema():
    result = CliRunner().invoke(cli, ["config", "schema"])
    assert json.loads(result.output)["title"] == "mlrelease.yaml"


def test_init_writes_a_valid_config(tmp_path):
    import shutil

    for part in ("data", "model", "notebooks", "requirements.in"):
        src = EXAMPLE / part
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / part)
    result = CliRunner().invoke(cli, ["init", str(tmp_path)])
    assert result.exit_code == 0, result.output
    written = tmp_path / "mlrelease.yaml"
    refused = run("config", "validate", str(tmp_path))  # the types init listed for review, by name
    assert refused.returncode == 2 and "model.trusted_types" in refused.stderr, refused.stderr
    reviewed = (
        written.read_text().replace("  # trusted_types:", "  trusted_types:").replace("  #   - ", "    - ")
    )
    written.write_text(reviewed)
    check = CliRunner().invoke(cli, ["config", "validate", str(tmp_path)])
    assert check.exit_code == 0, check.output
    text = written.read_text()
    assert "target: price" in text and "task: regression" in text
    again = run("init", str(tmp_path))
    assert again.returncode == 2 and "init never replaces it" in again.stderr


def test_predict_prints_a_table_and_writes_predictions(tmp_path):
    out = tmp_path / "pred.csv"
    result = CliRunner().invoke(cli, ["predict", "-c", str(EXAMPLE), "--rows", "3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "2000 predictions on validation.csv" in result.output
    assert out.read_text().count("\n") == 2001


def test_predict_json(tmp_path):
    result = CliRunner().invoke(cli, ["predict", "-c", str(EXAMPLE), "--rows", "2", "--json"])
    data = json.loads(result.output)
    assert data["rows"] == 2000 and len(data["head"]) == 2
    assert 1e6 < data["head"][0]["prediction"] < 5e7


def test_predict_and_serve_find_an_entrypoint_beside_the_config_from_any_directory(monkeypatch, tmp_path):
    """model.entrypoint is relative to the config's folder, not to where the command runs."""
    from mlrelease import config as cfgmod
    from mlrelease.serve.service import load_service

    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "eval-entrypoint"
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["predict", "-c", str(fixture), "--rows", "1", "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.output)["head"][0]
    assert row["prediction"] == 3.0 * row["x1"] + 2.0 * row["x2"] + 50.0
    service = load_service(cfgmod.load(str(fixture)))
    assert service.model.format == "entrypoint"
    assert service.predict_columns({"x1": [1.0], "x2": [2.0]}).tolist() == [57.0]


def test_predict_missing_columns_are_all_named(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("area_m2,rooms\n50,2\n")
    result = run("predict", "-c", str(EXAMPLE), "--data", str(bad))
    assert result.returncode == 2
    assert "floor" in result.stderr and "district" in result.stderr and "energy_class" in result.stderr
