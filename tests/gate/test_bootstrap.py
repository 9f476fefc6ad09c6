"""The paired bootstrap: agrees with scipy.stats.bootstrap, is reproducible, and lets the gate
tell "worse with confidence" from "within noise"."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from gate_builders import report, side
from scipy import stats
from sklearn import metrics as skm

from mlrelease.config import GateConfig, MetricRule, Tolerance
from mlrelease.gate import decide
from mlrelease.gate.bootstrap import (
    classification_statistic,
    paired_classification,
    paired_regression,
    regression_columns,
    resample_counts,
)


def data(n: int, seed: int, worse: float):
    rng = np.random.default_rng(seed)
    y = rng.normal(100, 20, n)
    base = y + rng.normal(0, 10, n)
    cand = y + rng.normal(0, 10 * (1 + worse), n)
    return y, base, cand


def test_interval_agrees_with_scipy_paired_percentile_bootstrap():
    y, b, c = data(600, 1, 0.05)
    ours = paired_regression(y, b, c, resamples=4000, seed=3)

    def rmse_diff(y, b, c, axis=-1):
        return np.sqrt(np.mean((c - y) ** 2, axis=axis)) - np.sqrt(np.mean((b - y) ** 2, axis=axis))

    def mae_diff(y, b, c, axis=-1):
        return np.mean(np.abs(c - y), axis=axis) - np.mean(np.abs(b - y), axis=axis)

    for name, stat in (("root_mean_squared_error", rmse_diff), ("mean_absolute_error", mae_diff)):
        ref = stats.bootstrap(
            (y, b, c),
            stat,
            paired=True,
            vectorized=True,
            method="percentile",
            n_resamples=4000,
            random_state=7,
        )
        # Monte-Carlo error of a 2.5% quantile with 4,000 resamples is about 0.1 standard errors
        tol = 0.15 * ref.standard_error
        assert ours[name].low == pytest.approx(ref.confidence_interval.low, abs=tol)
        assert ours[name].high == pytest.approx(ref.confidence_interval.high, abs=tol)


def test_classification_interval_agrees_with_scipy():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 500)
    b = np.where(rng.random(500) < 0.8, y, rng.integers(0, 3, 500))
    c = np.where(rng.random(500) < 0.75, y, rng.integers(0, 3, 500))
    ours = paired_classification(y, b, c, resamples=4000, seed=1)["accuracy_score"]

    def acc_diff(y, b, c, axis=-1):
        return np.mean(c == y, axis=axis) - np.mean(b == y, axis=axis)

    ref = stats.bootstrap(
        (y, b, c),
        acc_diff,
        paired=True,
        vectorized=True,
        method="percentile",
        n_resamples=4000,
        random_state=2,
    )
    assert ours.low == pytest.approx(ref.confidence_interval.low, abs=0.15 * ref.standard_error)
    assert ours.high == pytest.approx(ref.confidence_interval.high, abs=0.15 * ref.standard_error)


def test_confusion_statistics_equal_scikit_learn_on_the_full_sample():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 4, 300)
    p = np.where(rng.random(300) < 0.6, y, rng.integers(0, 4, 300))
    conf = skm.confusion_matrix(y, p, labels=[0, 1, 2, 3]).astype(float)[None]
    got = {k: float(v[0]) for k, v in classification_statistic(conf).items()}
    assert got["accuracy_score"] == pytest.approx(skm.accuracy_score(y, p))
    assert got["balanced_accuracy_score"] == pytest.approx(skm.balanced_accuracy_score(y, p))
    for avg in ("macro", "weighted"):
        assert got[f"f1_{avg}_score"] == pytest.approx(skm.f1_score(y, p, average=avg))
        assert got[f"precision_{avg}_score"] == pytest.approx(skm.precision_score(y, p, average=avg))
        assert got[f"recall_{avg}_score"] == pytest.approx(skm.recall_score(y, p, average=avg))


def test_seeded_and_reproducible():
    y, b, c = data(500, 5, 0.1)
    one = paired_regression(y, b, c, resamples=500, seed=9)
    two = paired_regression(y, b, c, resamples=500, seed=9)
    other = paired_regression(y, b, c, resamples=500, seed=10)
    assert one == two
    assert one["root_mean_squared_error"] != other["root_mean_squared_error"]


def sides(y, b, c):
    def frame(pred):
        return pd.DataFrame({"row_id": np.arange(len(y)), "prediction": pred, "target": y})

    def rmse(p):
        return float(np.sqrt(np.mean((p - y) ** 2)))

    base = side(report({"root_mean_squared_error": rmse(b)}, sha="b" * 64), frame(b))
    cand = side(report({"root_mean_squared_error": rmse(c)}, sha="c" * 64), frame(c))
    return cand, base


RULE = GateConfig(metrics={"root_mean_squared_error": MetricRule(max_regression=Tolerance.parse("2%"))})


def test_gate_blocks_a_regression_beyond_the_margin_with_confidence():
    cand, base = sides(*data(5000, 6, 0.15))  # about 15% worse on 5,000 rows
    result = decide(RULE, (), cand, base)
    check = result.checks[0]
    assert result.paired and check.interval is not None
    assert check.verdict == "fail" and "with confidence" in check.reason


def test_gate_calls_a_small_regression_on_few_rows_within_noise_and_says_how_many_rows_would_do():
    cand, base = sides(*data(150, 4, 0.05))  # 4.9% worse on 150 rows: beyond 2%, but not with confidence
    result = decide(RULE, (), cand, base)
    check = result.checks[0]
    assert check.relative_change == pytest.approx(0.0492, abs=1e-3)
    assert check.verdict == "noise", check.reason
    assert result.verdict == "pass"
    assert "within noise" in check.reason
    assert any("too small to resolve a tolerance of 2%" in n and "more)" in n for n in result.notes)


def test_different_data_allowed_means_no_paired_bootstrap_and_a_note():
    import dataclasses

    cand, base = sides(*data(300, 9, 0.0))
    moved = dataclasses.replace(base.report, data=dataclasses.replace(base.report.data, sha256="f" * 64))
    result = decide(RULE, (), cand, dataclasses.replace(base, report=moved), allow_different_data=True)
    assert not result.paired
    assert result.checks[0].interval is None
    assert any("different data" in n for n in result.notes)
    assert result.different_data and "DIFFERENT data (allowed)" in result.headline
    assert result.to_dict()["different_data"] is True


def test_different_data_is_refused_naming_both_hashes():
    import dataclasses

    from mlrelease.errors import UsageError

    cand, base = sides(*data(300, 9, 0.0))
    moved = dataclasses.replace(base.report, data=dataclasses.replace(base.report.data, sha256="f" * 64))
    with pytest.raises(UsageError) as err:
        decide(RULE, (), cand, dataclasses.replace(base, report=moved))
    text = err.value.render()
    assert "evaluated on different data" in text
    assert "f" * 64 in text and cand.report.data.sha256 in text
    assert "--allow-different-data" in text


def test_roc_auc_interval_is_exact_per_resample_and_brackets_the_change():
    from mlrelease.gate.bootstrap import paired_roc_auc, resample_counts

    rng = np.random.default_rng(0)
    n = 400
    y = rng.random(n) < 0.3
    b = np.round(rng.random(n) * 0.5 + 0.4 * y, 2)  # rounded: ties, which AUC counts as half
    c = np.round(rng.random(n) * 0.5 + 0.3 * y, 2)
    iv = paired_roc_auc(y, b, c, resamples=1000, seed=0)["roc_auc_score"]
    change = skm.roc_auc_score(y, c) - skm.roc_auc_score(y, b)
    assert iv.low < change < iv.high < 0  # the candidate ranks worse, with confidence
    # One resample by hand: the rows drawn, scored by scikit-learn, equal the weighted formula.
    counts = next(resample_counts(n, 1, 7))[0].astype(int)
    drawn = np.repeat(np.arange(n), counts)
    one = paired_roc_auc(y, b, c, resamples=1, seed=7, confidence=0.5)["roc_auc_score"]
    expected = skm.roc_auc_score(y[drawn], c[drawn]) - skm.roc_auc_score(y[drawn], b[drawn])
    assert one.low == pytest.approx(expected, abs=1e-12)


def roc_inputs(n: int = 200, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.4
    return y, rng.random(n) * 0.6 + 0.3 * y, rng.random(n) * 0.6 + 0.2 * y


def test_roc_auc_reads_a_0_1_positive_column_as_the_booleans_it_means():
    from mlrelease.gate.bootstrap import paired_roc_auc

    y, b, c = roc_inputs()
    as_bool = paired_roc_auc(y, b, c, resamples=200)
    assert paired_roc_auc(y.astype(int), b, c, resamples=200) == as_bool
    assert paired_roc_auc(y.astype(int).tolist(), b.tolist(), c.tolist(), resamples=200) == as_bool


@pytest.mark.parametrize("every_row", [True, False])
def test_roc_auc_has_no_interval_when_every_row_is_of_one_class(every_row):
    from mlrelease.gate.bootstrap import paired_roc_auc

    _, b, c = roc_inputs()
    assert paired_roc_auc(np.full(b.size, every_row), b, c, resamples=50) == {}


def test_roc_auc_defaults_to_1000_resamples_from_seed_0():
    from mlrelease.gate.bootstrap import paired_roc_auc

    y, b, c = roc_inputs()
    interval = paired_roc_auc(y, b, c)["roc_auc_score"]
    assert interval == paired_roc_auc(y, b, c, resamples=1000, seed=0)["roc_auc_score"]
    assert (interval.resamples, interval.confidence) == (1000, 0.95)


def test_binary_classifier_gets_intervals_for_the_positive_class_and_each_class():
    rng = np.random.default_rng(1)
    y = (rng.random(500) < 0.3).astype(int)
    b = np.where(rng.random(500) < 0.8, y, 1 - y)
    c = np.where(rng.random(500) < 0.7, y, 1 - y)
    ivs = paired_classification(y, b, c, classes=[0, 1], resamples=500)
    for name in ("recall_score", "precision_score", "f1_score", "recall_score[0]", "f1_score[1]"):
        assert name in ivs, sorted(ivs)
    change = skm.recall_score(y, c) - skm.recall_score(y, b)
    assert ivs["recall_score"].low < change < ivs["recall_score"].high
    assert ivs["recall_score"].high == pytest.approx(ivs["recall_score[1]"].high)


def test_a_class_a_side_never_predicts_or_never_sees_scores_zero_as_scikit_learn_does():
    """One resample by hand: the candidate answers only 'a', so never 'b' (precision 0, not undefined); 'c' is
    only ever answered by the baseline (the candidate's f1 for 'c' is 0)."""
    from mlrelease.gate.bootstrap import resample_counts

    rng = np.random.default_rng(4)
    y = rng.choice(["a", "b"], 300)
    b = np.where(rng.random(300) < 0.7, y, rng.choice(["a", "b", "c"], 300))
    c = np.full(300, "a")
    classes = ["a", "b", "c"]
    ivs = paired_classification(y, b, c, classes=classes, resamples=1, seed=7, confidence=0.5)
    drawn = np.repeat(np.arange(300), next(resample_counts(300, 1, 7))[0].astype(int))
    for name, score in (("precision_score[b]", skm.precision_score), ("f1_score[c]", skm.f1_score)):
        label = name[-2]
        expected = (
            score(y[drawn], c[drawn], labels=[label], average=None, zero_division=0)[0]
            - score(y[drawn], b[drawn], labels=[label], average=None, zero_division=0)[0]
        )
        assert ivs[name].low == pytest.approx(expected, abs=1e-12), name


def test_labels_seen_on_any_one_side_only_are_counted():
    """'d' only in the truth, 'e' only in the baseline's answers, 'c' only in the candidate's."""
    rng = np.random.default_rng(8)
    y = rng.choice(["a", "b", "d"], 400)
    b = np.where(rng.random(400) < 0.7, y, rng.choice(["a", "e"], 400))
    c = np.where(rng.random(400) < 0.8, y, rng.choice(["b", "c"], 400))
    ours = paired_classification(y, b, c, resamples=2000, seed=4)
    for name, score in (
        ("accuracy_score", skm.accuracy_score),
        ("f1_macro_score", lambda t, p: skm.f1_score(t, p, average="macro", labels=sorted({*t, *b, *c}))),
    ):
        diff = score(y, c) - score(y, b)
        assert ours[name].low < diff < ours[name].high


def test_answers_of_another_type_than_the_truth_are_wrong_answers_not_a_crash():
    """Integer labels, a candidate answering '0'/'1' strings: every answer is wrong."""
    y = np.arange(120) % 2
    got = paired_classification(y, y, y.astype(str), resamples=200, seed=0)["accuracy_score"]
    assert got.low == got.high == -1.0


def test_up_to_thirty_classes_get_intervals_more_do_not():
    rng = np.random.default_rng(1)
    for k, expected in ((30, True), (31, False)):
        y = np.arange(300) % k
        b = np.where(rng.random(300) < 0.5, y, rng.integers(0, k, 300))
        assert bool(paired_classification(y, b, y, resamples=100, seed=0)) is expected


def test_the_defaults_are_a_thousand_resamples_at_95_percent_seeded_with_zero():
    y, b, c = data(200, 3, 0.1)
    assert paired_regression(y, b, c) == paired_regression(y, b, c, resamples=1000, confidence=0.95, seed=0)
    labels = (y > 100).astype(int)
    pb, pc = (b > 100).astype(int), (c > 100).astype(int)
    explicit = paired_classification(labels, pb, pc, resamples=1000, confidence=0.95, seed=0)
    assert paired_classification(labels, pb, pc) == explicit
    assert next(iter(explicit.values())).resamples == 1000


def test_confusion_statistics_with_rare_absent_and_unpredicted_classes_equal_scikit_learn():
    """Resample means (fractions, not counts), two resamples at once: class 2 has one true row,
    class 3 is only ever predicted, class 4 appears in neither (only in another model's answers);
    every 0/0 is 0 as in scikit-learn, and no warning is raised."""
    import warnings

    labels = [0, 1, 2, 3, 4]
    pairs = [
        ([0, 0, 0, 1, 1, 2, 1, 0], [0, 1, 0, 1, 3, 2, 1, 3]),
        ([0, 1, 1, 1, 2, 2, 0, 0], [0, 1, 0, 3, 2, 0, 0, 0]),
    ]
    conf = np.stack([skm.confusion_matrix(y, p, labels=labels) / len(y) for y, p in pairs])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = classification_statistic(conf)
    for i, (y, p) in enumerate(pairs):
        assert got["accuracy_score"][i] == pytest.approx(skm.accuracy_score(y, p))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scikit-learn warns about its own 0/0
            assert got["balanced_accuracy_score"][i] == pytest.approx(skm.balanced_accuracy_score(y, p))
            for avg in ("macro", "weighted"):
                for name, score in (
                    ("f1", skm.f1_score),
                    ("precision", skm.precision_score),
                    ("recall", skm.recall_score),
                ):
                    expected = score(y, p, average=avg, zero_division=0)
                    assert got[f"{name}_{avg}_score"][i] == pytest.approx(expected), (name, avg, i)


def test_every_regression_interval_is_the_exact_percentile_of_the_per_resample_differences():
    """A reference computed row by row from the same counts: RMSE, MAE, MAPE (as scikit-learn
    defines it) and R² of each resample, for targets of any scale, and far from zero (where R²'s
    variance would be lost to rounding if it were not computed about the mean)."""
    eps = np.finfo(np.float64).eps
    for scale, offset in ((1e-3, 0.0), (1.0, 0.0), (50.0, 0.0), (0.01, 1e6)):
        y, b, c = data(120, 4, 0.2)
        y, b, c = y * scale + offset, b * scale + offset, c * scale + offset
        ours = paired_regression(y, b, c, resamples=300, confidence=0.9, seed=5)
        ref: dict[str, list[float]] = {}
        for counts in resample_counts(len(y), 300, 5):
            for w in counts:
                yw = np.repeat(y, w.astype(int))
                bw, cw = np.repeat(b, w.astype(int)), np.repeat(c, w.astype(int))

                def metrics(p, yw=yw):
                    sst = np.mean((yw - yw.mean()) ** 2)
                    return {
                        "root_mean_squared_error": np.sqrt(np.mean((p - yw) ** 2)),
                        "mean_absolute_error": np.mean(np.abs(p - yw)),
                        "mean_absolute_percentage_error": np.mean(
                            np.abs(p - yw) / np.maximum(np.abs(yw), eps)
                        ),
                        "r2_score": 1 - np.mean((p - yw) ** 2) / sst,
                    }

                mb, mc = metrics(bw), metrics(cw)
                for name in mb:
                    ref.setdefault(name, []).append(mc[name] - mb[name])
        assert sorted(ours) == sorted(ref)
        for name, diffs in ref.items():
            low, high = np.percentile(diffs, [5, 95])
            assert ours[name].low == pytest.approx(low, rel=1e-7), (scale, name)
            assert ours[name].high == pytest.approx(high, rel=1e-7), (scale, name)


def test_resample_counts_draw_exactly_the_resamples_asked_for_from_every_row():
    blocks = list(resample_counts(2000, 700, 0))  # 500 resamples of 2,000 rows fit in one block
    counts = np.vstack(blocks)
    assert [len(b) for b in blocks] == [500, 200]
    assert counts.shape == (700, 2000) and counts.dtype == np.float64
    assert (counts.sum(axis=1) == 2000).all()
    assert (counts.sum(axis=0) > 0).all()  # the first and the last row are drawn too


@pytest.mark.parametrize("given", ["baseline", "candidate"])
def test_log_loss_needs_the_losses_of_both_sides(given):
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 80)
    loss = rng.uniform(0, 1, 80)
    out = paired_classification(y, y, 1 - y, resamples=50, **{f"{given}_loss": loss})
    assert "log_loss" not in out and "accuracy_score" in out


def test_a_metric_undefined_in_more_than_a_tenth_of_the_resamples_gets_no_interval():
    from mlrelease.gate.bootstrap import _intervals

    defined_90 = np.r_[np.arange(90.0), [np.nan] * 10]
    defined_89 = np.r_[np.arange(89.0), [np.nan] * 11]
    out = _intervals({"first": defined_89, "second": defined_90}, 0.9, 100)
    assert sorted(out) == ["second"]
    assert [out["second"].low, out["second"].high] == pytest.approx(np.percentile(np.arange(90.0), [5, 95]))


def test_per_row_log_loss_renormalises_scores_that_do_not_sum_to_one():
    from mlrelease.gate.bootstrap import per_row_log_loss

    loss = per_row_log_loss(np.array(["a", "b"]), np.array([[0.2, 0.6], [0.2, 0.6]]), ["a", "b"])
    assert loss == pytest.approx([-math.log(0.25), -math.log(0.75)], rel=1e-12)


def test_an_object_column_target_and_predictions_give_the_float_figures():
    """A target read from a column of object dtype (pandas keeps Python numbers that way after a
    mixed read) is taken as float64, as scikit-learn takes it; left as objects the errors are
    objects too, and the square root of the bootstrap's means refuses them."""
    rng = np.random.default_rng(3)
    y = rng.normal(100, 10, 60)
    base, cand = y + rng.normal(0, 3, 60), y + rng.normal(0, 2, 60)
    as_objects = [np.asarray(a.tolist(), dtype=object) for a in (y, base, cand)]
    columns = regression_columns(as_objects[0], as_objects[1])
    assert columns.dtype == np.float64
    assert np.array_equal(columns, regression_columns(y, base))
    assert regression_columns(y, as_objects[2]).dtype == np.float64
    want = paired_regression(y, base, cand, resamples=200)
    got = paired_regression(*as_objects, resamples=200)
    assert got == want
