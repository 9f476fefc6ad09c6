"""``mlrelease monitor`` end to end: with and without mlrelease.yaml, its files and exit codes."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from mlrelease.cli import cli
from mlrelease.monitor import report


def _people(n: int, seed: int, age: tuple[int, int] = (18, 31)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ages = rng.integers(*age, n)
    return pd.DataFrame(
        {
            "respondent_id": np.arange(n) + seed * 100_000,
            "age": ages,
            "hours_online": rng.gamma(2.0, 2.0, n),
            "faculty": rng.choice(["arts", "science", "law"], n),
            "prediction": np.where(ages > 40, "no", rng.choice(["yes", "no"], n, p=[0.7, 0.3])),
        }
    )


def _run(args: list[str], cwd: Path | None = None):
    runner = CliRunner()
    if cwd is None:
        return runner.invoke(cli, args, catch_exceptions=False, standalone_mode=True)
    with runner.isolated_filesystem(temp_dir=cwd):
        return runner.invoke(cli, args, catch_exceptions=False)


def test_two_tables_without_any_config_same_distribution_exits_0(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    _people(3000, 1).to_csv("a.csv", index=False)
    _people(1500, 2).to_parquet("b.parquet")
    args = ["monitor", "--reference", "a.csv", "--current", "b.parquet", "--json"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 1, res.output  # the ids differ: without --id-column they are a column too
    assert json.loads(res.output)["drifted"] == ["respondent_id"]
    res = CliRunner().invoke(cli, [*args, "--id-column", "respondent_id"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["verdict"] == "ok"
    assert data["features"] == ["age", "hours_online", "faculty"]
    assert [c["name"] for c in data["columns"]][-1] == "prediction"


def test_a_shifted_table_alerts_with_exit_1_and_writes_valid_files(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    _people(3000, 1).to_csv("a.csv", index=False)
    _people(1500, 2, age=(60, 86)).to_csv("b.csv", index=False)
    res = CliRunner().invoke(cli, ["monitor", "--reference", "a.csv", "--current", "b.csv", "-o", "out"])
    assert res.exit_code == 1, res.output
    assert "🚨 **alert**" in res.output
    data = report.read(tmp_path / "out" / "drift.json")
    by = {c["name"]: c for c in data["columns"]}
    assert by["age"]["verdict"] == "alert" and by["prediction"]["verdict"] == "alert"
    assert by["hours_online"]["verdict"] == "ok" and by["faculty"]["verdict"] == "ok"
    assert set(data["drifted"]) >= {"age", "prediction"}
    html = (tmp_path / "out" / "drift.html").read_text()
    assert html.index("<table>") < html.index("<img")  # the summary first, then the plots
    pngs = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(pngs) == len(data["drifted"])
    assert all(base64.b64decode(p).startswith(b"\x89PNG") for p in pngs)
    assert "http://" not in html and "https://" not in html  # offline: nothing to fetch
    assert (tmp_path / "out" / "drift.md").read_text().startswith("## mlrelease monitor")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--reference", "a.csv", "--current", "missing.csv"], "missing.csv: no such file"),
        (["--reference", "a.csv", "--current", "other.csv"], "share no columns"),
        (["--current", "a.csv"], "no reference data"),
    ],
)
def test_bad_input_exits_2_with_the_reason_and_no_traceback(
    tmp_path: Path, args: list[str], message: str
) -> None:
    _people(300, 1).to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame({"x": [1, 2, 3]}).to_csv(tmp_path / "other.csv", index=False)
    proc = subprocess.run(
        [sys.executable, "-m", "mlrelease", "monitor", *args, "-o", "out"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_config_gives_reference_slices_and_quality_per_slice_with_labels(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    _people(3000, 1).to_csv(tmp_path / "data" / "reference.csv", index=False)
    young, old = _people(600, 2), _people(400, 3, age=(60, 86))
    current = pd.concat([young, old], ignore_index=True)
    current.to_csv(tmp_path / "current.csv", index=False)
    labels = current[["respondent_id"]].assign(
        answer=np.where(current["age"] > 40, "yes", current["prediction"])
    )
    labels.to_csv(tmp_path / "labels.csv", index=False)
    (tmp_path / "mlrelease.yaml").write_text(
        "model: {name: survey, task: classification, artifact: model.skops,\n"
        "        id_column: respondent_id, target: answer}\n"
        "validation:\n"
        "  data: data/reference.csv\n"
        "  reference: data/reference.csv\n"
        "  slices:\n"
        "    - {name: young, column: age, max: 31}\n"
        "    - {name: older, column: age, min: 60}\n"
        "monitoring: {drift: {features: {hours_online: {min_samples: 5000}}}}\n"
    )
    res = CliRunner().invoke(
        cli,
        [
            "monitor",
            "-c",
            str(tmp_path),
            "--current",
            str(tmp_path / "current.csv"),
            "--labels",
            str(tmp_path / "labels.csv"),
            "--json",
        ],
    )
    assert res.exit_code == 1, res.output
    data = json.loads(res.output)
    assert data["reference"]["source"].endswith("data/reference.csv")
    by = {c["name"]: c for c in data["columns"]}
    assert "respondent_id" not in by  # the id column is not a feature
    assert by["hours_online"]["verdict"] == "insufficient"  # its own min_samples from the config
    slices = {s["name"]: s for s in data["slices"]}
    assert slices["older"]["verdict"] == "alert" and "not seen this population" in slices["older"]["reason"]
    assert slices["young"]["verdict"] == "ok"
    assert slices["young"]["quality"] == {"rows_labelled": 600, "accuracy_score": 1.0}
    assert slices["older"]["quality"]["rows_labelled"] == 400
    assert slices["older"]["quality"]["accuracy_score"] == 0.0
    assert data["quality"]["accuracy_score"] == pytest.approx(0.6)


def test_in_actions_the_summary_outputs_and_annotations_are_written(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    _people(3000, 1).to_csv("a.csv", index=False)
    _people(1500, 2, age=(60, 86)).to_csv("b.csv", index=False)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "output"))
    res = CliRunner().invoke(
        cli, ["monitor", "--reference", "a.csv", "--current", "b.csv", "-o", "out", "--json"]
    )
    assert res.exit_code == 1
    summary = (tmp_path / "summary.md").read_text()
    assert "| age | 🚨 alert |" in summary
    outputs = (tmp_path / "output").read_text().splitlines()
    assert "verdict=alert" in outputs and f"report={Path('out') / 'drift.html'}" in outputs
    assert "::error title=monitor%3A age drifted::age: PSI" in res.output


def test_drift_json_that_breaks_the_schema_is_refused_by_name(tmp_path: Path) -> None:
    _people(300, 1).to_csv(tmp_path / "a.csv", index=False)
    res = _run(
        [
            "monitor",
            "--reference",
            str(tmp_path / "a.csv"),
            "--current",
            str(tmp_path / "a.csv"),
            "-o",
            str(tmp_path / "out"),
        ]
    )
    assert res.exit_code == 0
    path = tmp_path / "out" / "drift.json"
    data = json.loads(path.read_text())
    data["columns"][0]["verdict"] = "fine"
    path.write_text(json.dumps(data))
    with pytest.raises(Exception, match=r"columns\.0\.verdict: 'fine' is not one of"):
        report.read(path)


def test_the_published_schema_is_the_packaged_one() -> None:
    repo = Path(__file__).resolve().parents[2]
    assert (repo / "schemas" / "drift.schema.json").read_text() == report.schema_path().read_text()


def test_whole_number_columns_are_plotted_one_bin_per_number() -> None:
    from mlrelease.monitor.report import histogram_bins

    q = np.linspace(0, 1, 400)
    ages_young = np.quantile(np.random.default_rng(0).integers(18, 31, 2000), q)
    ages_old = np.quantile(np.random.default_rng(1).integers(60, 86, 600), q)
    edges, ref, cur = histogram_bins(ages_young, ages_old)
    assert edges[0] == 17.5 and edges[-1] == 85.5 and np.all(np.diff(edges) == 1.0)
    assert np.all(ref == np.round(ref)) and ref.min() == 18 and cur.max() == 85
    # a continuous column keeps 40 equal bins over both ranges
    normal = np.quantile(np.random.default_rng(2).normal(size=1000), q)
    edges, ref, _ = histogram_bins(normal, normal + 1)
    assert len(edges) == 41 and edges[0] == normal[0] and ref is normal
