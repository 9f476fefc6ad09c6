"""A newcomer's two handoffs (tests/fixtures/handoff-churn, handoff-energy), laid out unlike the
example, through every step a pull request runs: config validate, lint, lock --check, deps check,
predict, evaluate, gate and serve --smoke. init, lint --execute, build and test-image on the same
handoffs are in test_handoffs_image.py."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from mlrelease.cli import main

ROOT = Path(__file__).resolve().parents[2]
CHURN = ROOT / "tests" / "fixtures" / "handoff-churn"
ENERGY = ROOT / "tests" / "fixtures" / "handoff-energy"
FAST = ["--latency-samples", "100", "--latency-budget", "1"]


def invoke(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the CLI in-process as the entry point does (errors mapped to exit codes)."""
    try:
        main(list(argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    else:  # pragma: no cover - main always exits
        code = 0
    out, err = capsys.readouterr()
    return code, out, err


def tree_hash(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each handoff's model (and the energy experiment) evaluated once for the module."""
    out = tmp_path_factory.mktemp("evaluated")
    runs = {
        "churn": ["-c", str(CHURN)],
        "energy": ["-c", str(ENERGY)],
        "energy-experiment": ["-c", str(ENERGY), "--model", str(ENERGY / "experiments" / "shallow.skops")],
    }
    for name, args in runs.items():
        try:
            main(["evaluate", *args, *FAST, "-o", str(out / name), "--json"])
        except SystemExit as exc:
            assert exc.code == 0, f"evaluate {name} exited {exc.code}"
    return {name: out / name for name in runs}


@pytest.mark.parametrize("handoff", [CHURN, ENERGY], ids=["churn", "energy"])
def test_checks_pass_on_the_newcomer_layout_and_touch_nothing(capsys, handoff):
    before = tree_hash(handoff)
    for argv, expect in (
        (["config", "validate", str(handoff)], "valid"),
        (["lint", "-c", str(handoff)], "0 error(s)"),
        (["lock", "--check", "-c", str(handoff)], "fresh"),
        (["deps", "check", "-c", str(handoff)], "0 errors, 0 warnings"),
    ):
        code, out, err = invoke(capsys, *argv)
        assert code == 0, (argv, out, err)
        assert expect in out + err, (argv, out, err)
    assert tree_hash(handoff) == before


def test_predict_on_a_binary_classifier_shows_labels_probabilities_and_right_or_wrong(capsys, tmp_path):
    out_file = tmp_path / "predictions.csv"
    code, out, err = invoke(capsys, "predict", "-c", str(CHURN), "--rows", "5", "-o", str(out_file))
    assert code == 0, err
    assert "p(0)" in out and "p(1)" in out and "right" in out
    assert "✓" in out and "✗" in out  # the fixture's first five rows hold both
    frame = pd.read_csv(out_file)
    truth = pd.read_csv(CHURN / "datasets" / "validation.csv")
    assert 0 in set(truth["churned"])  # the 0 label that a relative error divides by
    assert list(frame.columns[-4:]) == ["prediction", "proba:0", "proba:1", "correct"]
    assert (frame["proba:0"] + frame["proba:1"]).round(9).eq(1).all()
    assert (frame["correct"] == (frame["prediction"] == truth["churned"])).all()
    assert f"{int(frame['correct'].sum())} right" in out

    code, out, _ = invoke(capsys, "predict", "-c", str(CHURN), "--rows", "2", "--json")
    doc = json.loads(out)
    assert doc["task"] == "classification" and doc["classes"] == [0, 1]
    assert doc["correct"] == int(frame["correct"].sum())
    assert set(doc["head"][0]) >= {"prediction", "proba:0", "proba:1", "correct"}


def test_predict_on_a_regression_with_a_zero_target_shows_an_absolute_error(capsys, tmp_path):
    data = pd.read_csv(ENERGY / "data" / "validation.csv").head(3)
    data.loc[0, "consumption_kwh"] = 0.0
    path = tmp_path / "zero.csv"
    data.to_csv(path, index=False)
    code, out, err = invoke(capsys, "predict", "-c", str(ENERGY), "--data", str(path))
    assert code == 0, err
    assert "error" in out and "%" in out


def test_predict_failure_leaves_no_output_and_keeps_an_existing_file(capsys, tmp_path):
    data = pd.read_csv(CHURN / "datasets" / "validation.csv").head(5)
    data["tenure_months"] = data["tenure_months"].astype(object)
    data.loc[2, "tenure_months"] = "two years"
    bad = tmp_path / "bad.csv"
    data.to_csv(bad, index=False)
    out_file = tmp_path / "predictions.csv"
    code, _, err = invoke(capsys, "predict", "-c", str(CHURN), "--data", str(bad), "-o", str(out_file))
    assert code == 2
    assert "tenure_months: wrong type: expected integer, got string (row 3: 'two years')" in err
    assert not out_file.exists() and list(tmp_path.iterdir()) == [bad]
    out_file.write_text("mine\n")
    invoke(capsys, "predict", "-c", str(CHURN), "--data", str(bad), "-o", str(out_file))
    assert out_file.read_text() == "mine\n"


def test_evaluate_reports_classifier_metrics_and_how_many_latency_samples(evaluated):
    doc = json.loads((evaluated["churn"] / "metrics.json").read_text())
    m = doc["metrics"]
    for name in ("balanced_accuracy_score", "roc_auc_score", "log_loss", "recall_score", "f1_score[1]"):
        assert name in m, sorted(m)
    from sklearn import metrics as skm

    pred = pd.read_parquet(evaluated["churn"] / "predictions.parquet")
    y, p = pred["target"], pred["prediction"]
    assert m["recall_score"] == pytest.approx(skm.recall_score(y, p))  # positive class: churned == 1
    assert m["precision_score"] == pytest.approx(skm.precision_score(y, p, zero_division=0))
    assert m["f1_score[0]"] == pytest.approx(skm.f1_score(y, p, pos_label=0))
    assert doc["measurement"]["latency_samples"] >= 50
    assert doc["measurement"]["latency_stopped_by"] in ("sample count", "time budget")
    assert {"roc_auc_score", "balanced_accuracy_score", "log_loss"} <= set(
        doc["slices"]["monthly"]["metrics"]
    )


def test_evaluate_table_shows_the_gated_metrics_per_slice(capsys, tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "outputs"))
    code, out, err = invoke(capsys, "evaluate", "-c", str(CHURN), *FAST, "-o", str(tmp_path / "e"))
    assert code == 0, err
    for metric in ("roc_auc_score", "balanced_accuracy_score", "log_loss"):
        assert f"slice monthly (164 rows): {metric}" in out
    assert "single-row samples" in out
    assert "single-row predictions (stopped by the" in summary.read_text()


def test_gate_passes_a_classifier_against_itself_with_a_roc_auc_interval(capsys, evaluated, tmp_path):
    run = evaluated["churn"]
    code, out, err = invoke(
        capsys,
        "gate",
        "-c",
        str(CHURN),
        "--candidate",
        str(run),
        "--baseline",
        str(run),
        "-o",
        str(tmp_path),
        "--json",
    )
    assert code == 0, err
    checks = {c["metric"]: c for c in json.loads(out)["checks"] if c["scope"] == "overall"}
    assert checks["roc_auc_score"]["interval"] is not None
    assert checks["roc_auc_score"]["verdict"] == "pass"


def test_gate_blocks_the_worse_experiment(capsys, evaluated, tmp_path):
    code, out, err = invoke(
        capsys,
        "gate",
        "-c",
        str(ENERGY),
        "--candidate",
        str(evaluated["energy-experiment"]),
        "--baseline",
        str(evaluated["energy"]),
        "-o",
        str(tmp_path),
    )
    assert code == 1, err
    assert "root_mean_squared_error" in out and "with confidence" in out


def test_gate_refuses_a_baseline_evaluated_on_other_data_unless_allowed(capsys, evaluated, tmp_path):
    # The production model evaluated on its training data, as a newcomer did by mistake.
    on_train = tmp_path / "on-train"
    code, _, err = invoke(
        capsys,
        "evaluate",
        "-c",
        str(ENERGY),
        "--data",
        str(ENERGY / "data" / "reference.csv"),
        *FAST,
        "-o",
        str(on_train),
    )
    assert code == 0, err
    cand = json.loads((evaluated["energy"] / "metrics.json").read_text())["data"]["sha256"]
    base = json.loads((on_train / "metrics.json").read_text())["data"]["sha256"]
    args = ["gate", "-c", str(ENERGY), "--candidate", str(evaluated["energy"]), "--baseline", str(on_train)]
    code, out, err = invoke(capsys, *args, "-o", str(tmp_path / "refused"))
    assert code == 2
    assert cand in err and base in err and "--allow-different-data" in err
    assert "Traceback" not in err and not (tmp_path / "refused").exists()

    code, out, err = invoke(
        capsys, *args, "--allow-different-data", "-o", str(tmp_path / "allowed"), "--json"
    )
    result = json.loads(out)
    assert result["different_data"] is True and not result["paired"]
    assert "DIFFERENT data (allowed)" in result["headline"]
    assert "DIFFERENT data" in (tmp_path / "allowed" / "gate.md").read_text()


def test_fixtures_are_reproducible(tmp_path, monkeypatch):
    """The build script writes byte-identical files (models included) to what is committed."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "build_handoffs", Path(__file__).with_name("build_fixtures.py")
    )
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    for name in ("CHURN", "ENERGY"):
        committed = getattr(build, name)
        copy = tmp_path / committed.name
        shutil.copytree(committed, copy)
        monkeypatch.setattr(build, name, copy)
    build.main()
    assert tree_hash(tmp_path / CHURN.name) == tree_hash(CHURN)
    assert tree_hash(tmp_path / ENERGY.name) == tree_hash(ENERGY)


@pytest.mark.parametrize("handoff", [CHURN, ENERGY], ids=["churn", "energy"])
def test_serve_smoke_answers_every_protocol_and_flags_the_absurd_row(capsys, handoff):
    code, out, err = invoke(capsys, "serve", "--smoke", "-c", str(handoff), "--json")
    assert code == 0, out + err
    result = json.loads(out)
    assert {ex["status"] for ex in result["exchanges"]} == {200}
    assert all(ex["outlier_rows"] for ex in result["exchanges"])
