"""When the gate pairs the two sides and what the pairing gives each check: the bootstrap settings
it was asked for, an interval for every guarded slice with at least two rows, the positive class's
scores of a binary classifier, and the row counts behind the "too small to resolve" note.

Expected differences come from scikit-learn's metrics on the same rows, not from the gate."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from gate_builders import report, side
from sklearn.metrics import f1_score, roc_auc_score

from mlrelease.config import BootstrapConfig, GateConfig, MetricRule, SliceConfig, Tolerance
from mlrelease.gate import decide, fmt

RMSE = "root_mean_squared_error"


def rmse_rule(tolerance: str = "2%", **bootstrap: float) -> GateConfig:
    return GateConfig(
        metrics={RMSE: MetricRule(max_regression=Tolerance.parse(tolerance))},
        bootstrap=BootstrapConfig(**bootstrap),  # type: ignore[arg-type]
    )


def regression_sides(n: int, slice_rows: dict[str, int] | None = None, seed: int = 0):
    """Candidate and baseline predictions on the same ``n`` rows; each slice is its first rows."""
    rng = np.random.default_rng(seed)
    y = rng.normal(100, 10, n)
    out = []
    for _ in range(2):
        pred = y + rng.normal(0, 5, n)
        frame = pd.DataFrame({"row_id": np.arange(n), "prediction": pred, "target": y})
        slices = {}
        for name, rows in (slice_rows or {}).items():
            mask = np.arange(n) < rows
            frame[f"slice:{name}"] = mask
            slices[name] = {RMSE: float(np.sqrt(np.mean((pred[mask] - y[mask]) ** 2)))}
        out.append(side(report({RMSE: float(np.sqrt(np.mean((pred - y) ** 2)))}, slices=slices), frame))
    return out[0], out[1]


def test_sides_on_different_data_are_compared_as_point_estimates_and_the_note_names_both_digests():
    cand, base = regression_sides(50)
    other = dataclasses.replace(base.report, data=dataclasses.replace(base.report.data, sha256="e" * 64))
    result = decide(rmse_rule(), (), cand, dataclasses.replace(base, report=other), allow_different_data=True)
    assert result.paired is False and result.checks[0].interval is None
    assert any(
        "different data (sha256 eeeeeeeeeeee vs dddddddddddd)" in n
        and "their metrics are compared as point estimates, without a paired bootstrap" in n
        for n in result.notes
    ), result.notes


def test_the_interval_is_computed_with_the_configured_resamples_and_confidence():
    cand, base = regression_sides(60)
    result = decide(rmse_rule(resamples=300, confidence=0.8, seed=4), (), cand, base)
    interval = result.checks[0].interval
    assert interval is not None and (interval.resamples, interval.confidence) == (300, 0.8)
    assert "Paired bootstrap on the same 60 rows (300 resamples)." in result.notes
    default = decide(rmse_rule(), (), cand, base).checks[0].interval
    assert default is not None and default.low != interval.low


@pytest.mark.parametrize(("rows", "has_interval"), [(1, False), (2, True), (3, True)])
def test_a_guarded_slice_gets_an_interval_from_two_rows_up(rows, has_interval):
    cand, base = regression_sides(40, {"old": rows})
    slices = (SliceConfig(name="old", column="age", max_regression=Tolerance.parse("500%")),)
    check = next(c for c in decide(rmse_rule(), slices, cand, base).checks if c.scope == "old")
    assert (check.interval is not None) is has_interval


def test_a_guarded_slice_missing_from_the_predictions_is_checked_without_an_interval():
    cand, base = regression_sides(40, {"old": 20})
    for s in (cand, base):
        s.predictions.drop(columns="slice:old", inplace=True)  # type: ignore[union-attr]
    slices = (SliceConfig(name="old", column="age", max_regression=Tolerance.parse("500%")),)
    by_scope = {c.scope: c for c in decide(rmse_rule(), slices, cand, base).checks}
    assert by_scope["overall"].interval is not None and by_scope["old"].interval is None
    assert by_scope["old"].verdict == "pass"


def test_the_too_small_note_counts_the_rows_of_the_whole_set_and_of_the_slice():
    cand, base = regression_sides(30, {"old": 12}, seed=1)
    slices = (SliceConfig(name="old", column="age", max_regression=Tolerance.parse("0.1%")),)
    notes = decide(rmse_rule("0.1%"), slices, cand, base).notes
    assert any("the validation set (30 rows) is too small" in n for n in notes), notes
    assert any("the validation set (12 rows) is too small" in n for n in notes), notes


def binary_side(y: np.ndarray, proba: np.ndarray, classes: list[str]):
    pred = np.where(proba >= 0.5, classes[1], classes[0])
    frame = pd.DataFrame({"row_id": np.arange(len(y)), "prediction": pred, "target": y})
    frame[f"proba:{classes[0]}"], frame[f"proba:{classes[1]}"] = 1 - proba, proba
    rep = report({"roc_auc_score": 0.5, "f1_score": 0.5}, task="classification")
    return side(dataclasses.replace(rep, classes=classes), frame)


def test_a_binary_classifier_gets_intervals_for_its_positive_class_scores():
    rng = np.random.default_rng(7)
    classes = ["no", "yes"]
    truth = rng.integers(0, 2, 400)
    y = np.array(classes)[truth]
    pb = np.clip(truth * 0.3 + rng.uniform(0, 0.7, 400), 0, 1)
    pc = np.clip(truth * 0.4 + rng.uniform(0, 0.6, 400), 0, 1)
    g = GateConfig(
        metrics={
            "roc_auc_score": MetricRule(max_regression=Tolerance.parse("5%")),
            "f1_score": MetricRule(max_regression=Tolerance.parse("5%")),
        }
    )
    result = decide(g, (), binary_side(y, pc, classes), binary_side(y, pb, classes))
    by_metric = {c.metric: c.interval for c in result.checks}
    auc = roc_auc_score(truth, pc) - roc_auc_score(truth, pb)
    f1 = f1_score(truth, pc >= 0.5) - f1_score(truth, pb >= 0.5)
    for name, diff in (("roc_auc_score", auc), ("f1_score", f1)):
        interval = by_metric[name]
        assert interval is not None and interval.low < diff < interval.high, name
        assert interval.resamples == 1000


def test_a_paired_verdict_states_the_interval_it_rests_on():
    cand, base = regression_sides(60)
    check = decide(rmse_rule("500%"), (), cand, base).checks[0]
    interval = check.interval
    assert interval is not None and check.verdict == "pass"
    band = f"95% interval of the change: [{fmt(interval.low)}, {fmt(interval.high)}]"
    assert check.reason.endswith(f"within the allowed 500% ({band})"), check.reason


def test_the_different_data_note_names_both_digests_and_what_is_compared_instead():
    cand, base = regression_sides(50)
    other = dataclasses.replace(base.report, data=dataclasses.replace(base.report.data, sha256="e" * 64))
    result = decide(rmse_rule(), (), cand, dataclasses.replace(base, report=other), allow_different_data=True)
    assert result.notes[1] == (
        "The two sides were evaluated on different data (sha256 eeeeeeeeeeee vs dddddddddddd): their metrics "
        "are compared as point estimates, without a paired bootstrap."
    )


def test_a_guarded_slice_alone_asks_for_intervals_and_a_tiny_slice_does_not_stop_the_next():
    cand, base = regression_sides(40, {"tiny": 1, "old": 20})
    floor_only = GateConfig(metrics={RMSE: MetricRule(max=1e9)})
    slices = tuple(
        SliceConfig(name=n, column="age", max_regression=Tolerance.parse("500%")) for n in ("tiny", "old")
    )
    by_scope = {c.scope: c for c in decide(floor_only, slices, cand, base).checks}
    assert by_scope["tiny"].interval is None and by_scope["old"].interval is not None
    assert by_scope["overall"].interval is not None  # the whole set is resampled too


def classifier_gate(**bootstrap: float) -> GateConfig:
    return GateConfig(
        metrics={
            "roc_auc_score": MetricRule(max_regression=Tolerance.parse("50%")),
            "f1_score": MetricRule(max_regression=Tolerance.parse("50%")),
        },
        bootstrap=BootstrapConfig(**bootstrap),  # type: ignore[arg-type]
    )


def binary_inputs(n: int = 200):
    rng = np.random.default_rng(7)
    classes = ["no", "yes"]
    truth = rng.integers(0, 2, n)
    y = np.array(classes)[truth]
    return y, np.clip(truth * 0.3 + rng.uniform(0, 0.7, n), 0, 1), classes


def test_a_classifiers_intervals_take_the_configured_resamples_and_confidence():
    y, proba, classes = binary_inputs()
    cand, base = binary_side(y, proba, classes), binary_side(y, proba[::-1].copy(), classes)
    result = decide(classifier_gate(resamples=200, confidence=0.8), (), cand, base)
    for check in result.checks:
        assert check.interval is not None, check.metric
        assert (check.interval.resamples, check.interval.confidence) == (200, 0.8), check.metric


@pytest.mark.parametrize("without", ["candidate", "baseline"])
def test_scores_missing_on_either_side_give_roc_auc_no_interval(without):
    y, proba, classes = binary_inputs()
    cand, base = binary_side(y, proba, classes), binary_side(y, proba[::-1].copy(), classes)
    dropped = cand if without == "candidate" else base
    dropped.predictions.drop(columns=["proba:no", "proba:yes"], inplace=True)  # type: ignore[union-attr]
    by_metric = {c.metric: c.interval for c in decide(classifier_gate(), (), cand, base).checks}
    assert by_metric["roc_auc_score"] is None and by_metric["f1_score"] is not None


def test_a_multiclass_classifier_gets_intervals_without_a_positive_class():
    rng = np.random.default_rng(3)
    classes = ["a", "b", "c"]
    y = np.array(classes)[rng.integers(0, 3, 150)]
    sides = []
    for flip in (0.2, 0.3):
        pred = np.where(rng.uniform(size=150) < flip, "a", y)
        frame = pd.DataFrame({"row_id": np.arange(150), "prediction": pred, "target": y})
        for k in classes:
            frame[f"proba:{k}"] = np.where(pred == k, 0.8, 0.1)
        rep = report({"f1_score": 0.5, "roc_auc_score": 0.5, "accuracy_score": 0.5}, task="classification")
        sides.append(side(dataclasses.replace(rep, classes=classes), frame))
    g = dataclasses.replace(
        classifier_gate(),
        metrics={
            **classifier_gate().metrics,
            "accuracy_score": MetricRule(max_regression=Tolerance.parse("50%")),
        },
    )
    by_metric = {c.metric: c.interval for c in decide(g, (), *sides).checks}
    assert by_metric["f1_score"] is None and by_metric["roc_auc_score"] is None  # both binary-only
    assert by_metric["accuracy_score"] is not None


def test_sides_with_different_class_lists_get_no_per_class_or_positive_class_intervals():
    y, proba, classes = binary_inputs()
    cand = binary_side(y, proba, classes)
    base = binary_side(y, proba[::-1].copy(), classes)
    base = dataclasses.replace(base, report=dataclasses.replace(base.report, classes=["yes", "no"]))
    by_metric = {c.metric: c.interval for c in decide(classifier_gate(), (), cand, base).checks}
    assert by_metric == {"roc_auc_score": None, "f1_score": None}
