"""mlrelease evaluate: every model format, the metrics against hand-computed values, the four
output files, and one clear error for mismatched columns."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from mlrelease import config
from mlrelease.cli import cli
from mlrelease.errors import DataError, ModelLoadError
from mlrelease.evaluate import MetricsReport, evaluate
from mlrelease.model import load_model
from mlrelease.signature import Signature

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures"


def run_eval(name: str, **kwargs):
    return evaluate(config.load(FIX / name), latency_samples=100, **kwargs)


def test_regression_metrics_match_hand_computed_values():
    """The expected values come from the model's own predict on the CSV's rows, in the CSV's
    order, not from what evaluate wrote: misaligned predictions or targets fail here."""
    ev = run_eval("eval-regression")
    frame = pd.read_csv(FIX / "eval-regression" / "data" / "validation.csv")
    model = load_model(config.load(FIX / "eval-regression").model)
    independent = np.asarray(model.predict(frame[["x1", "x2"]]), dtype=float)
    written = ev.predictions.set_index("row_id").loc[frame["id"]]
    np.testing.assert_array_equal(written["prediction"].to_numpy(), independent)
    np.testing.assert_array_equal(written["target"].to_numpy(), frame["y"].to_numpy())
    err = independent - frame["y"].to_numpy()
    m = ev.report.metrics
    assert m["root_mean_squared_error"] == pytest.approx(np.sqrt(np.mean(err**2)))
    assert m["mean_absolute_error"] == pytest.approx(np.mean(np.abs(err)))
    assert m["mean_absolute_percentage_error"] == pytest.approx(np.mean(np.abs(err) / frame["y"]))
    assert m["max_error"] == pytest.approx(np.max(np.abs(err)))
    sst = np.sum((frame["y"] - frame["y"].mean()) ** 2)
    assert m["r2_score"] == pytest.approx(1 - np.sum(err**2) / sst)
    small = frame["group"].to_numpy() == "small"
    assert ev.report.slices["small"].rows == int(small.sum())
    assert ev.report.slices["small"].metrics["root_mean_squared_error"] == pytest.approx(
        np.sqrt(np.mean(err[small] ** 2))
    )
    assert ev.report.slices["high-x2"].rows == int((frame["x2"] >= 3).sum())


def test_cost_metrics_are_measured():
    cost = run_eval("eval-regression").report.cost
    assert 0 < cost["p50_latency_ms"] <= cost["p95_latency_ms"] <= cost["p99_latency_ms"]
    assert cost["throughput_rows_per_s"] > 0
    assert cost["model_size_bytes"] == (FIX / "eval-regression" / "model.skops").stat().st_size
    assert cost["peak_memory_bytes"] > 0


def test_latency_timings_stop_at_the_time_budget_and_say_how_many_were_taken():
    import time

    from mlrelease.evaluate import MIN_LATENCY_SAMPLES, measure_cost
    from mlrelease.model import LoadedModel

    class Slow:  # a real model that takes 20 ms a call, as a forest behind a pipeline does
        def predict(self, frame):
            time.sleep(0.02)
            return np.zeros(len(frame))

    model = LoadedModel(estimator=Slow(), format="entrypoint", path=None, sha256=None, features=["x"])
    X = pd.DataFrame({"x": np.arange(10.0)})
    start = time.perf_counter()
    cost, noise, seen = measure_cost(model, X, 500, budget_s=1.5)
    spent = time.perf_counter() - start
    assert seen["latency_stopped_by"] == "time budget"
    assert MIN_LATENCY_SAMPLES <= seen["latency_samples"] < 100, seen
    assert spent < 6, spent  # 500 samples would take 10 s
    assert cost["p50_latency_ms"] >= 20 and "p95_latency_ms" in noise
    _, _, fast = measure_cost(model, X, 100, budget_s=0)  # the floor holds even with no budget
    assert fast["latency_samples"] == MIN_LATENCY_SAMPLES


def test_writes_the_four_files_with_their_contracts(tmp_path):
    ev = run_eval("eval-regression")
    paths = ev.write(tmp_path)
    report = MetricsReport.read(paths["metrics"])
    data = json.loads(paths["metrics"].read_text())
    assert data["schema_version"] == 1
    assert report.model.sha256 and report.model.format == "skops"
    assert report.data.rows == 400 and len(report.data.sha256) == 64
    assert {"numpy", "pandas", "scikit-learn", "python"} <= set(report.libraries)
    preds = pd.read_parquet(paths["predictions"])
    assert list(preds.columns[:3]) == ["row_id", "prediction", "target"]
    assert preds["row_id"].iloc[0] == "r0000"
    golden = pd.read_parquet(paths["golden"])
    assert list(golden.columns) == ["row_id", "x1", "x2", "prediction"]
    assert len(golden) == 50
    again = run_eval("eval-regression").golden
    pd.testing.assert_frame_equal(golden, again)  # a fixed, seeded sample
    model = load_model(config.load(FIX / "eval-regression").model)
    np.testing.assert_allclose(model.predict(golden), golden["prediction"])
    sig = Signature.read(paths["signature"])
    assert sig.names == ["x1", "x2"] and sig.prediction is not None


def test_classification_metrics_probabilities_and_confusion(tmp_path):
    from sklearn import metrics as skm

    ev = run_eval("eval-classification")
    frame = pd.read_csv(FIX / "eval-classification" / "data" / "validation.csv")
    model = load_model(config.load(FIX / "eval-classification").model)
    pred = np.asarray(model.predict(frame[["x1", "x2"]]))  # independent of evaluate's own output
    np.testing.assert_array_equal(ev.predictions["prediction"].to_numpy(), pred)
    m = ev.report.metrics
    assert m["accuracy_score"] == pytest.approx(np.mean(pred == frame["label"].to_numpy()))
    assert m["f1_macro_score"] == pytest.approx(skm.f1_score(frame["label"], pred, average="macro"))
    assert {"log_loss", "roc_auc_score", "balanced_accuracy_score", "recall_weighted_score"} <= set(m)
    assert ev.report.classes == ["high", "low", "mid"]
    assert [c for c in ev.predictions.columns if c.startswith("proba:")] == [
        "proba:high",
        "proba:low",
        "proba:mid",
    ]
    cm = np.array(ev.report.confusion_matrix)
    assert cm.sum() == len(frame) and np.trace(cm) == int((pred == frame["label"]).sum())
    for label in ("high", "low", "mid"):  # per class, named with the class, scored as scikit-learn does
        y = frame["label"].to_numpy()
        assert m[f"recall_score[{label}]"] == pytest.approx(
            skm.recall_score(y, pred, labels=[label], average=None)[0]
        )
        assert m[f"precision_score[{label}]"] == pytest.approx(
            skm.precision_score(y, pred, labels=[label], average=None)[0]
        )
        assert f"f1_score[{label}]" in m
    assert "recall_score" not in m  # three classes: no single positive class
    ev.write(tmp_path)  # string predictions: no prediction spread in the signature, still written


@pytest.mark.parametrize("name", ["eval-pickle", "eval-onnx", "eval-entrypoint"])
def test_other_model_formats_predict_like_the_original(name):
    ref = run_eval("eval-regression").predictions["prediction"].to_numpy()
    got = run_eval(name).predictions["prediction"].to_numpy()
    tol = 1e-3 if name == "eval-onnx" else (0.2 if name == "eval-entrypoint" else 1e-9)
    np.testing.assert_allclose(got, ref, rtol=0, atol=tol)


def test_pickle_without_opt_in_or_with_a_wrong_sha256_is_refused():
    cfg = config.load(FIX / "eval-pickle")
    with pytest.raises(ModelLoadError, match="can run code"):
        load_model(dataclasses.replace(cfg.model, allow_pickle=False))
    with pytest.raises(ModelLoadError, match="sha256"):
        load_model(dataclasses.replace(cfg.model, sha256="0" * 64))
    with pytest.raises(ModelLoadError, match=r"needs model\.sha256"):
        load_model(dataclasses.replace(cfg.model, sha256=None))


def test_onnx_model_exposes_features_and_predicts():
    model = load_model(config.load(FIX / "eval-onnx").model)
    assert model.format == "onnx" and model.features == ["x1", "x2"]
    out = model.predict(pd.DataFrame({"x1": [1.0, 2.0], "x2": [0, 1]}))
    assert out.shape == (2,)


def test_mismatched_columns_are_listed_in_one_error():
    with pytest.raises(DataError) as err:
        run_eval("eval-bad-columns")
    text = err.value.render()
    assert "x2: missing" in text
    assert "junk: unexpected column" in text
    assert "x1: wrong type: expected number, got string" in text


def test_model_override_evaluates_another_file_under_the_same_trust_settings():
    ev = run_eval("eval-pickle", model_path=FIX / "eval-regression" / "model.skops")
    assert ev.report.model.format == "skops"
    with pytest.raises(ModelLoadError, match="can run code"):  # no opt-in in eval-regression's config
        run_eval("eval-regression", model_path=FIX / "eval-pickle" / "model.joblib")


def test_cli_writes_outputs_and_json(tmp_path):
    out = tmp_path / "ev"
    result = CliRunner().invoke(
        cli,
        [
            "evaluate",
            "-c",
            str(FIX / "eval-regression"),
            "-o",
            str(out),
            "--latency-samples",
            "100",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["metrics"]["root_mean_squared_error"] > 0
    assert sorted(p.name for p in out.iterdir()) == [
        "golden.parquet",
        "metrics.json",
        "predictions.parquet",
        "signature.json",
    ]


def test_subprocess_bad_columns_exit_2_and_write_nothing(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    out = tmp_path / "ev"
    done = subprocess.run(
        [sys.executable, "-m", "mlrelease", "evaluate", "-c", str(FIX / "eval-bad-columns"), "-o", str(out)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 2
    assert "junk" in done.stderr and done.stdout == ""
    assert not out.exists()


class ThreadRecorder:
    """A model that records how many OpenMP threads each predict call may use."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        from threadpoolctl import threadpool_info

        pools = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "openmp"]
        self.seen.append(max(pools))
        return np.zeros(len(X))


@pytest.mark.parametrize(("env", "threads"), [(None, 1), ("2", 2), ("four", 1)])
def test_single_rows_are_timed_with_the_servers_openmp_threads(monkeypatch, env, threads):
    """As `mlrelease serve` does: OMP_NUM_THREADS when it is a count, else one thread."""
    import sklearn.ensemble  # noqa: F401 - loads scikit-learn's OpenMP runtime

    from mlrelease.evaluate import measure_cost

    if env is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", env)
    model = ThreadRecorder()
    measure_cost(model, pd.DataFrame({"x": np.arange(10.0)}), 100, warmup=20)  # type: ignore[arg-type]
    timed = model.seen[20:120]
    assert len(timed) == 100 and set(timed) == {threads}


def test_predictions_carry_each_slice_as_its_rows_of_the_validation_data(tmp_path):
    """The gate's per-slice bootstrap reads these masks: each must select the rows the config's
    slice names, computed here from the data with pandas alone."""
    example = Path(__file__).resolve().parents[2] / "examples" / "brno-houses"
    ev = evaluate(config.load(example), latency_samples=20)
    preds = pd.read_parquet(ev.write(tmp_path)["predictions"])
    data = pd.read_csv(example / "data" / "validation.csv").set_index("listing_id").loc[preds["row_id"]]
    expected = {
        "city-centre": data["district"].isin(["Brno-střed", "Žabovřesky", "Královo Pole"]),
        "panel-estates": data["year_built"].between(1962, 1991),
        "new-builds": data["year_built"] >= 2015,
    }
    for name, mask in expected.items():
        got = preds[f"slice:{name}"].to_numpy(dtype=bool)
        assert got.tolist() == mask.to_numpy(dtype=bool).tolist(), name
        assert 0 < got.sum() < len(got), name  # a slice that selects some rows, not all
