"""The gate's reading, pairing, headline and rendering, without running evaluate: sides read from
files written here, decisions rendered to Markdown and JSON exactly as a reviewer sees them."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from gate_builders import report, side

from mlrelease.artifacts.metrics import SliceMetrics
from mlrelease.config import GateConfig, MetricRule, SliceConfig, Tolerance, TradeOff
from mlrelease.errors import ConfigError, DataError, Problem, UsageError
from mlrelease.gate import Check, Side, decide, fmt, fmt_change, load_side
from mlrelease.gate.report import markdown, print_table

RMSE = "root_mean_squared_error"


def rules(**metrics: MetricRule) -> GateConfig:
    return GateConfig(metrics=metrics)


# ----------------------------------------------------------------------------- reading a side


def write_side(folder, predictions: pd.DataFrame | None = None, **metrics):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(json.dumps(report(metrics or {RMSE: 1.0}).to_dict()))
    if predictions is not None:
        predictions.to_parquet(folder / "predictions.parquet")
    return folder


def test_a_side_is_read_from_its_folder_or_its_metrics_json(tmp_path):
    preds = pd.DataFrame({"row_id": [1, 2], "prediction": [1.0, 2.0], "target": [1.0, 2.5]})
    folder = write_side(tmp_path / "cand", preds)
    from_folder = load_side(folder, "candidate")
    from_file = load_side(folder / "metrics.json", "candidate")
    assert from_folder.path == from_file.path == folder / "metrics.json"
    assert from_folder.report.value(RMSE) == 1.0
    pd.testing.assert_frame_equal(from_folder.predictions, preds)
    alone = load_side(write_side(tmp_path / "alone"), "baseline")
    assert alone.predictions is None


def test_a_missing_side_names_the_option_and_what_to_point_it_at(tmp_path):
    with pytest.raises(UsageError) as err:
        load_side(tmp_path / "nowhere", "baseline")
    assert str(err.value) == f"--baseline {tmp_path / 'nowhere'}: no metrics.json there"
    assert err.value.hint == (
        "point --baseline at the folder `mlrelease evaluate -o` wrote, or at its metrics.json"
    )


def test_unreadable_or_incomplete_predictions_are_data_errors_naming_the_file(tmp_path):
    folder = write_side(tmp_path / "cand")
    (folder / "predictions.parquet").write_text("not parquet")
    with pytest.raises(DataError, match=r"predictions\.parquet: cannot read as parquet"):
        load_side(folder, "candidate")
    pd.DataFrame({"row_id": [1], "score": [0.5]}).to_parquet(folder / "predictions.parquet")
    with pytest.raises(DataError) as err:
        load_side(folder, "candidate")
    assert str(err.value) == f"{folder / 'predictions.parquet'}: lacks the column(s) prediction, target"


# ----------------------------------------------------------------------------- rules and pairing


def test_every_incomplete_rule_is_reported_at_once():
    g = GateConfig(
        metrics={"mystery": MetricRule(max_regression=Tolerance.parse("1%")), "other": MetricRule(min=1.0)},
        trade_offs=(
            TradeOff(allow={"unruled": Tolerance.parse("5%")}, when={"other": Tolerance.parse("1%")}),
        ),
    )
    with pytest.raises(ConfigError) as err:
        decide(g, (), side(report({"mystery": 1.0, "other": 2.0})), None)
    keys = [p.key for p in err.value.problems]
    assert keys == ["gate.metrics.mystery", "gate.trade_offs[0].allow"]
    assert "'unruled', which has no rule under gate.metrics" in err.value.problems[1].message
    assert err.value.problems[0].hint == "set better: higher or better: lower"


def test_a_rule_with_only_a_floor_needs_no_direction():
    result = decide(rules(mystery=MetricRule(min=1.0)), (), side(report({"mystery": 2.0})), None)
    assert result.verdict == "pass"


def test_a_classifier_is_not_compared_with_a_regressor():
    cand = side(report({RMSE: 1.0}, task="classification"))
    with pytest.raises(
        UsageError, match="candidate is a classification model but the baseline is a regression"
    ):
        decide(rules(**{RMSE: MetricRule(max=2.0)}), (), cand, side(report({RMSE: 1.0})))


def frame(pred, rows=None, y=None):
    n = len(pred)
    return pd.DataFrame(
        {
            "row_id": np.arange(n) if rows is None else rows,
            "prediction": np.asarray(pred, dtype=float),
            "target": np.zeros(n) if y is None else y,
        }
    )


REL = rules(**{RMSE: MetricRule(max_regression=Tolerance.parse("2%"))})


@pytest.mark.parametrize(
    ("cand_pred", "base_pred", "paired", "note"),
    [
        (None, frame([1.0, 2.0]), False, "The candidate has no predictions.parquet: no paired bootstrap."),
        (frame([1.0, 2.0]), None, False, "The baseline has no predictions.parquet: no paired bootstrap."),
        (
            frame([1.0, 2.0], rows=[0, 1]),
            frame([1.0, 2.0], rows=[1, 0]),
            False,
            "The predictions do not list the same rows in the same order: no paired bootstrap.",
        ),
        (
            frame([1.0, 2.0]),
            frame([1.0, 2.0, 3.0]),
            False,
            "The predictions do not list the same rows in the same order: no paired bootstrap.",
        ),
        (
            frame([1.0, 2.0]),
            frame([1.0, 2.5]),
            True,
            "Paired bootstrap on the same 2 rows (1,000 resamples).",
        ),
    ],
)
def test_pairing_is_explained_in_a_note(cand_pred, base_pred, paired, note):
    result = decide(REL, (), side(report({RMSE: 1.0}), cand_pred), side(report({RMSE: 1.0}), base_pred))
    assert result.paired is paired
    assert result.notes == [note]


def test_pairing_without_a_relative_rule_computes_no_interval():
    g = rules(**{RMSE: MetricRule(max=5.0)})
    result = decide(
        g, (), side(report({RMSE: 1.0}), frame([1.0, 2.0])), side(report({RMSE: 1.0}), frame([1, 2]))
    )
    assert result.paired and result.notes == ["Paired: same data; no rule needs an interval."]
    assert result.checks[0].interval is None


def test_paired_intervals_on_the_whole_set_and_on_each_guarded_slice():
    rng = np.random.default_rng(0)
    y = rng.normal(100, 10, 400)
    seniors = np.arange(400) < 200
    base = frame(y + rng.normal(0, 5, 400), y=y)
    cand = frame(y + rng.normal(0, 5, 400), y=y)
    base["slice:seniors"] = cand["slice:seniors"] = seniors
    base["slice:few"] = cand["slice:few"] = np.arange(400) == 0  # one row: no interval
    slices = (
        SliceConfig(name="seniors", column="age", max_regression=Tolerance.parse("50%")),
        SliceConfig(name="few", column="age", max_regression=Tolerance.parse("50%")),
    )

    def rmse(p, mask):
        return float(np.sqrt(np.mean((p[mask] - y[mask]) ** 2)))

    def rep(p):
        everything = np.ones(400, dtype=bool)
        return report(
            {RMSE: rmse(p, everything)},
            slices={
                "seniors": {RMSE: rmse(p, seniors)},
                "few": {RMSE: rmse(p, np.arange(400) == 0)},
            },
        )

    result = decide(
        REL,
        slices,
        side(rep(cand["prediction"].to_numpy()), cand),
        side(rep(base["prediction"].to_numpy()), base),
    )
    by_scope = {c.scope: c for c in result.checks}
    whole, sl = by_scope["overall"].interval, by_scope["seniors"].interval
    assert whole is not None and sl is not None and whole != sl
    assert whole.low < by_scope["overall"].change < whole.high
    assert sl.low < by_scope["seniors"].change < sl.high
    assert by_scope["few"].interval is None


# ----------------------------------------------------------------------------- slices


def test_a_guarded_slice_missing_on_either_side_fails_by_name():
    slices = (SliceConfig(name="seniors", column="age", max_regression=Tolerance.parse("5%")),)
    with_slice = report({RMSE: 1.0}, slices={"seniors": {RMSE: 1.0}})
    for cand, base, where in (
        (report({RMSE: 1.0}), with_slice, "candidate"),
        (with_slice, report({RMSE: 1.0}), "baseline"),
    ):
        result = decide(REL, slices, side(cand), side(base))
        check = next(c for c in result.checks if c.scope == "seniors")
        assert result.verdict == "fail"
        assert (check.metric, check.verdict, check.rule) == ("—", "fail", "≤ 5% worse")
        assert check.reason == f"slice 'seniors' is missing from the {where}'s metrics"


def test_an_empty_slice_is_noted_not_checked():
    slices = (SliceConfig(name="seniors", column="age", max_regression=Tolerance.parse("5%")),)
    cand = report({RMSE: 1.0}, slices={"seniors": {RMSE: 9.0}})
    cand.slices["seniors"] = type(cand.slices["seniors"])(rows=0, metrics={RMSE: 9.0})
    result = decide(REL, slices, side(cand), side(report({RMSE: 1.0}, slices={"seniors": {RMSE: 1.0}})))
    assert result.verdict == "pass" and [c.scope for c in result.checks] == ["overall"]
    assert "Slice 'seniors' has no rows in the validation data: not checked." in result.notes


def test_a_slice_checks_quality_metrics_only_with_the_slices_own_tolerance():
    g = rules(
        **{RMSE: MetricRule(max_regression=Tolerance.parse("2%"), min=0.0)}, p95_cpu_ms=MetricRule(max=9.0)
    )
    slices = (SliceConfig(name="old", column="age", max_regression=Tolerance.parse("50%")),)
    base = report({RMSE: 8.0}, cost={"p95_cpu_ms": 1.0}, slices={"old": {RMSE: 8.0}})
    cand = report({RMSE: 8.0}, cost={"p95_cpu_ms": 1.0}, slices={"old": {RMSE: 12.0}})
    check = next(c for c in decide(g, slices, side(cand), side(base)).checks if c.scope == "old")
    assert (check.metric, check.verdict, check.rule) == (RMSE, "pass", "≤ 50% worse")  # no floor on a slice
    assert not any(
        c.scope == "old" and c.metric == "p95_cpu_ms"
        for c in decide(g, slices, side(cand), side(base)).checks
    )


# ----------------------------------------------------------------------------- headline and reported metrics


def test_the_headline_names_the_first_three_failures_and_counts_the_rest():
    names = [f"m{i}_error" for i in range(5)]
    g = rules(**{n: MetricRule(max=1.0) for n in names}, ok_error=MetricRule(max=9.0))
    result = decide(g, (), side(report({**dict.fromkeys(names, 2.0), "ok_error": 1.0})), None)
    assert result.headline == (
        f"FAIL: 5 of 6 checks block m {'a' * 12} against absolute rules only (no baseline): "
        "m0_error: 2 is above the ceiling 1; m1_error: 2 is above the ceiling 1; "
        "m2_error: 2 is above the ceiling 1 (+2 more)"
    )
    assert [c.metric for c in result.failed] == names


def test_the_pass_headline_counts_only_gated_checks_and_names_the_baseline():
    g = rules(
        **{RMSE: MetricRule(max_regression=Tolerance.parse("2%"))},
        r2_score=MetricRule(min=0.5, optional=True),
    )
    result = decide(g, (), side(report({RMSE: 1.0})), side(report({RMSE: 1.0}, sha="b" * 64)))
    assert result.headline == f"PASS: m {'a' * 12} passes all 1 checks against baseline {'b' * 12}"
    assert [c.verdict for c in result.checks] == ["pass", "skip"]


def test_metrics_without_a_rule_are_reported_with_their_change_not_gated():
    result = decide(
        rules(**{RMSE: MetricRule(max=9.0)}),
        (),
        side(report({RMSE: 1.0, "r2_score": 0.75}, cost={"p95_cpu_ms": 3.0})),
        side(report({RMSE: 1.0, "r2_score": 0.5}, cost={"p95_cpu_ms": 4.0})),
    )
    reported = {c.metric: c for c in result.reported}
    assert set(reported) == {"r2_score", "p95_cpu_ms"}
    assert reported["r2_score"].verdict == "info" and reported["r2_score"].reason == "reported, not gated"
    assert reported["r2_score"].change == 0.25 and reported["r2_score"].relative_change == 0.5
    assert reported["p95_cpu_ms"].change == -1.0 and reported["p95_cpu_ms"].rule == "reported"


def test_a_zero_baseline_has_no_relative_change():
    result = decide(
        rules(**{RMSE: MetricRule(max=9.0)}), (), side(report({RMSE: 1.0})), side(report({RMSE: 0.0}))
    )
    assert result.checks[0].change == 1.0 and result.checks[0].relative_change is None


# ----------------------------------------------------------------------------- rendering


def test_numbers_are_shown_at_four_significant_digits_and_thousands_grouped():
    assert [fmt(v) for v in (None, 0.0, 0.123456, 999.94, 1000.0, -1000.0, 1234.5, -25000.0, 1e-9)] == [
        "—",
        "0",
        "0.1235",
        "999.9",
        "1,000",  # grouped from exactly 1000 on
        "-1,000",
        "1,234",
        "-25,000",
        "1e-09",
    ]
    base = dict(
        metric=RMSE, scope="overall", better="lower", baseline=8.0, candidate=10.0, rule="", verdict="pass"
    )
    assert fmt_change(Check(**base, change=2.0, relative_change=0.25, reason="")) == "+2 (+25.0%)"
    assert fmt_change(Check(**base, change=-2.0, relative_change=None, reason="")) == "-2"
    assert fmt_change(Check(**base, change=0.0, relative_change=0.0, reason="")) == "+0 (+0.0%)"
    assert fmt_change(Check(**base, change=None, relative_change=None, reason="")) == "—"


def test_tolerances_are_shown_as_written():
    assert [str(Tolerance.parse(t)) for t in ("2%", "2.5%", 0.5, "-30%")] == [
        "2%",
        "2.5%",
        "0.5",
        "-30%",
    ]


def test_markdown_shows_every_check_trade_off_note_and_reported_metric():
    g = GateConfig(
        metrics={RMSE: MetricRule(max_regression=Tolerance.parse("25%")), "p95_cpu_ms": MetricRule(max=12.0)},
        trade_offs=(
            TradeOff(allow={RMSE: Tolerance.parse("50%")}, when={"p95_cpu_ms": Tolerance.parse("-25%")}),
        ),
    )
    slices = (SliceConfig(name="a|b", column="x", max_regression=Tolerance.parse("5%")),)
    base = report({RMSE: 8.0, "r2_score": 0.5}, cost={"p95_cpu_ms": 8.0}, slices={"a|b": {RMSE: 8.0}})
    cand = report({RMSE: 11.0, "r2_score": 0.5}, cost={"p95_cpu_ms": 6.0}, slices={"a|b": {RMSE: 9.0}})
    text = markdown(decide(g, slices, side(cand), side(base)))
    lines = text.splitlines()
    assert lines[0].startswith("**❌ FAIL: 1 of 3 checks block") and lines[0].endswith("**")
    assert lines[2:4] == [
        "| metric | baseline | candidate | change | rule | verdict |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    assert lines[4] == (
        f"| {RMSE} | 8 | 11 | +3 (+37.5%) | ≤ 50% worse (trade-off) | "
        "✅ pass: 37.5% worse, within the allowed 50% |"
    )
    assert lines[6] == (
        f"| {RMSE} · slice `a\\|b` | 8 | 9 | +1 (+12.5%) | ≤ 5% worse | "
        "❌ fail: 12.5% worse, beyond the allowed 5% |"
    )
    assert "**Trade-offs applied**" in lines and "**Notes**" in lines
    assert f"- {RMSE} may be up to 50% worse because p95_cpu_ms changed -25.0% (needed ≤ -25%)" in lines
    assert "<details><summary>Other metrics (reported, not gated)</summary>" in lines
    assert "| r2_score | 0.5 | 0.5 | +0 (+0.0%) |" in lines
    assert text.endswith("</details>\n")
    passing = markdown(decide(rules(**{RMSE: MetricRule(max=99.0)}), (), side(report({RMSE: 1.0})), None))
    assert passing.startswith("**✅ PASS") and "Trade-offs" not in passing and "<details>" not in passing


def test_the_terminal_table_lists_each_check_and_each_failure_reason(capsys):
    g = rules(**{RMSE: MetricRule(max=1.0)}, r2_score=MetricRule(min=0.5))
    print_table(decide(g, (), side(report({RMSE: 2.0, "r2_score": 0.75})), None))
    out = capsys.readouterr().out
    assert RMSE in out and "r2_score" in out and "fail" in out and "pass" in out
    assert "2 is above the ceiling 1" in out


def test_json_has_no_nan_and_keeps_every_check():
    g = rules(**{RMSE: MetricRule(max=1.0)})
    result = decide(g, (), side(report({RMSE: 0.5}, cost={"p95_cpu_ms": math.inf})), None)
    data = result.to_dict()
    json.dumps(data, allow_nan=False)
    assert data["verdict"] == "pass" and data["schema_version"] == 1
    assert [c["metric"] for c in data["checks"]] == [RMSE]
    assert data["candidate"]["predictions"] is False and data["baseline"] is None
    nested = {"a": [{"b": math.nan}, 1.0, math.inf], "c": -math.inf}
    from mlrelease.artifacts import json_safe as _json_safe

    assert _json_safe(nested) == {"a": [{"b": None}, 1.0, None], "c": None}


# ----------------------------------------------------------------------------- probabilities


def test_per_row_log_loss_averages_to_scikit_learns_log_loss():
    from sklearn.metrics import log_loss

    from mlrelease.gate.bootstrap import per_row_log_loss

    rng = np.random.default_rng(3)
    classes = ["high", "low", "mid"]
    y = np.array(classes)[rng.integers(0, 3, 200)]
    proba = rng.dirichlet([1, 1, 1], 200)
    proba[0] = [1.0, 0.0, 0.0]  # a certain, maybe wrong, answer: clipped, not infinite
    rows = per_row_log_loss(y, proba, classes)
    assert rows.shape == (200,) and np.isfinite(rows).all()
    assert rows.mean() == pytest.approx(log_loss(y, proba, labels=classes))
    unknown = per_row_log_loss(np.array(["none"]), np.array([[0.2, 0.3, 0.5]]), classes)
    assert unknown[0] == pytest.approx(-np.log(np.finfo(float).eps))


def classifier_side(pred, proba, y, classes, with_proba=True):
    frame = pd.DataFrame({"row_id": np.arange(len(y)), "prediction": pred, "target": y})
    if with_proba:
        for i, c in enumerate(classes):
            frame[f"proba:{c}"] = proba[:, i]
    rep = report({"log_loss": 0.5, "accuracy_score": 0.5}, task="classification")
    rep = type(rep)(**{**rep.__dict__, "classes": classes if with_proba else None})
    return side(rep, frame)


def test_log_loss_gets_a_paired_interval_only_when_both_sides_have_probabilities():
    rng = np.random.default_rng(5)
    classes = ["a", "b"]
    y = np.array(classes)[rng.integers(0, 2, 300)]
    pb, pc = rng.dirichlet([2, 2], 300), rng.dirichlet([2, 2], 300)
    g = rules(log_loss=MetricRule(max_regression=Tolerance.parse("5%")))

    def pred(p):
        return np.array(classes)[p.argmax(axis=1)]

    both = decide(g, (), classifier_side(pred(pc), pc, y, classes), classifier_side(pred(pb), pb, y, classes))
    iv = both.checks[0].interval
    from mlrelease.gate.bootstrap import per_row_log_loss

    diff = per_row_log_loss(y, pc, classes).mean() - per_row_log_loss(y, pb, classes).mean()
    assert iv is not None and iv.low < diff < iv.high
    acc = next(c for c in both.reported if c.metric == "accuracy_score")
    assert acc.interval is not None
    one = decide(
        g,
        (),
        classifier_side(pred(pc), pc, y, classes),
        classifier_side(pred(pb), pb, y, classes, with_proba=False),
    )
    assert one.paired and one.checks[0].interval is None
    assert next(c for c in one.reported if c.metric == "accuracy_score").interval is not None


# ----------------------------------------------------------------------------- data of the two sides


def on_data(rep, sha: str, path: str, rows: int = 100):
    return dataclasses.replace(rep, data=dataclasses.replace(rep.data, sha256=sha, path=path, rows=rows))


def test_sides_evaluated_on_different_data_are_refused_naming_each_sides_file_data_and_rows():
    cand = Side(Path("cand/metrics.json"), on_data(report({RMSE: 1.0}), "c" * 64, "new.csv", 1200), None)
    base = Side(Path("base/metrics.json"), on_data(report({RMSE: 1.0}), "b" * 64, "old.csv", 900), None)
    with pytest.raises(UsageError) as err:
        decide(rules(**{RMSE: MetricRule(max=9.0)}), (), cand, base)
    assert err.value.message == (
        "the candidate and the baseline were evaluated on different data, so their metrics cannot be compared"
    )
    assert err.value.problems == [
        Problem(f"data sha256 {'c' * 64} (new.csv, 1,200 rows)", file="cand/metrics.json", key="candidate"),
        Problem(f"data sha256 {'b' * 64} (old.csv, 900 rows)", file="base/metrics.json", key="baseline"),
    ]
    assert err.value.hint == (
        "evaluate the baseline on the candidate's validation data "
        "(`mlrelease evaluate --model <baseline model> -o <folder>`), or pass "
        "--allow-different-data to compare them anyway as point estimates"
    )


def test_different_data_when_allowed_is_said_first_in_the_notes_and_in_the_headline():
    cand = side(on_data(report({RMSE: 1.0}), "c" * 64, "new.csv"))
    base = side(on_data(report({RMSE: 1.0}, sha="b" * 64), "b" * 64, "old.csv"))
    result = decide(rules(**{RMSE: MetricRule(max=9.0)}), (), cand, base, allow_different_data=True)
    assert result.different_data is True
    assert result.notes == [
        "Different data, allowed by --allow-different-data: the baseline was evaluated on old.csv and the "
        "candidate on new.csv; the verdict compares point estimates on different rows and says less than a "
        "paired comparison.",
        "The candidate has no predictions.parquet: no paired bootstrap.",
    ]
    assert result.headline == (
        f"PASS: m {'a' * 12} passes all 1 checks against baseline {'b' * 12} evaluated on DIFFERENT data "
        "(allowed)"
    )


def test_sides_on_the_same_data_are_not_flagged_and_no_baseline_is_said_once():
    same = decide(
        rules(**{RMSE: MetricRule(max=9.0)}), (), side(report({RMSE: 1.0})), side(report({RMSE: 1.0}))
    )
    assert same.different_data is False and same.notes == [
        "The candidate has no predictions.parquet: no paired bootstrap."
    ]
    alone = decide(rules(**{RMSE: MetricRule(max=9.0)}), (), side(report({RMSE: 1.0})), None)
    assert alone.different_data is False and alone.paired is False
    assert alone.notes == [
        "No baseline given: only the absolute rules (min/max) are checked; "
        "every max_regression rule and every trade-off is skipped."
    ]


def test_incomplete_rules_are_one_error_with_a_problem_each():
    g = GateConfig(metrics={"mystery": MetricRule(max_regression=Tolerance.parse("1%"))})
    with pytest.raises(ConfigError) as err:
        decide(g, (), side(report({"mystery": 1.0})), None)
    assert err.value.message == "the gate rules are incomplete"
    assert err.value.problems == [
        Problem(
            "cannot tell whether higher or lower is better from the name",
            key="gate.metrics.mystery",
            hint="set better: higher or better: lower",
        )
    ]


# ----------------------------------------------------------------------------- headline and reasons


@pytest.mark.parametrize(("failing", "more"), [(3, ""), (4, " (+1 more)")])
def test_the_headline_counts_failures_beyond_the_third_only(failing, more):
    names = [f"m{i}_error" for i in range(failing)]
    g = rules(**{n: MetricRule(max=1.0) for n in names})
    result = decide(g, (), side(report(dict.fromkeys(names, 2.0))), None)
    assert result.headline.endswith("m2_error: 2 is above the ceiling 1" + more)


def test_the_headline_without_model_digests_names_the_model_and_the_baseline_plainly():
    cand = report({RMSE: 1.0}, sha=None)  # type: ignore[arg-type]
    base = report({RMSE: 1.0}, sha=None)  # type: ignore[arg-type]
    result = decide(rules(**{RMSE: MetricRule(max=9.0)}), (), side(cand), side(base))
    assert result.headline == "PASS: m passes all 1 checks against baseline"


def test_the_headline_gives_a_failure_reason_up_to_its_parenthesis():
    result = decide(rules(r2_score=MetricRule(min=0.5)), (), side(report({"r2_score": None})), None)
    assert result.checks[0].reason == "r2_score is not a finite number in the candidate (NaN or infinite)"
    assert result.headline.endswith(": r2_score: r2_score is not a finite number in the candidate")


def test_an_optional_metric_that_is_not_finite_is_skipped_saying_so():
    result = decide(
        rules(r2_score=MetricRule(min=0.5, optional=True)), (), side(report({"r2_score": None})), None
    )
    assert result.checks[0].verdict == "skip"
    assert result.checks[0].reason == (
        "r2_score is not a finite number in the candidate (NaN or infinite); optional, not checked"
    )


def test_a_failing_check_shows_only_its_failing_reasons_and_a_passing_one_all_of_them():
    g = rules(**{RMSE: MetricRule(max=1.0, max_regression=Tolerance.parse("50%"))})
    failing = decide(g, (), side(report({RMSE: 2.0})), side(report({RMSE: 2.0})))
    assert failing.checks[0].reason == "2 is above the ceiling 1"
    assert failing.checks[0].better == "lower"
    floor = rules(r2_score=MetricRule(min=0.8, max_regression=Tolerance.parse(0.1)))
    assert (
        decide(floor, (), side(report({"r2_score": 0.5})), side(report({"r2_score": 0.5}))).checks[0].reason
        == "0.5 is below the floor 0.8"
    )
    alone = decide(floor, (), side(report({"r2_score": 0.9})), None).checks[0]
    assert (alone.verdict, alone.reason) == (
        "pass",
        "0.9 is at or above the floor 0.8; no baseline: the regression rule is not checked",
    )


def test_noise_of_a_zero_value_is_zero():
    """Noise is relative to the value: a metric measured at 0 has none, on either side."""
    floor = rules(throughput_rows_per_s=MetricRule(min=0.25))
    at_zero = report({}, cost={"throughput_rows_per_s": 0.0}, noise={"throughput_rows_per_s": 0.5})
    assert decide(floor, (), side(at_zero), None).checks[0].verdict == "fail"
    g = rules(p95_latency_ms=MetricRule(max_regression=Tolerance.parse(0.05)))
    cand = report({}, cost={"p95_latency_ms": 0.1})
    base = report({}, cost={"p95_latency_ms": 0.0}, noise={"p95_latency_ms": 0.5})
    assert decide(g, (), side(cand), side(base)).checks[0].verdict == "fail"


# ----------------------------------------------------------------------------- slices


def test_each_guarded_slice_and_metric_is_checked_past_a_missing_empty_or_metricless_one():
    g = GateConfig(
        metrics={
            "p95_latency_ms": MetricRule(max=1e9),  # a cost metric: never on a slice
            RMSE: MetricRule(max_regression=Tolerance.parse("10%")),
            "mystery": MetricRule(better="higher", max_regression=Tolerance.parse(0.5)),
            "extra_error": MetricRule(max_regression=Tolerance.parse(0.5), optional=True),
        }
    )
    slices = tuple(
        SliceConfig(n, "c", max_regression=Tolerance.parse("10%")) for n in ("gone", "empty", "old")
    )
    cand = report(
        {RMSE: 1.0, "mystery": 1.0, "extra_error": 1.0},
        cost={"p95_latency_ms": 1.0},
        slices={"empty": {}, "old": {RMSE: 1.0, "mystery": 1.0, "extra_error": 1.0}},
    )
    cand = dataclasses.replace(cand, slices={**cand.slices, "empty": SliceMetrics(rows=0, metrics={})})
    base = report(
        {RMSE: 1.0, "mystery": 1.0, "extra_error": 1.0},
        cost={"p95_latency_ms": 1.0},
        slices={"gone": {}, "empty": {}, "old": {RMSE: 1.0}},
    )
    result = decide(g, slices, side(cand), side(base))
    on_slices = [
        (c.scope, c.metric, c.verdict, c.better, c.reason) for c in result.checks if c.scope != "overall"
    ]
    assert on_slices == [
        ("gone", "—", "fail", None, "slice 'gone' is missing from the candidate's metrics"),
        ("old", RMSE, "pass", "lower", "0.0% better, within the allowed 10%"),
        (
            "old",
            "mystery",
            "fail",
            "higher",
            "mystery on slice 'old' is missing from the baseline's metrics",
        ),
        (
            "old",
            "extra_error",
            "skip",
            "lower",
            "extra_error on slice 'old' is missing from the baseline's metrics; optional, not checked",
        ),
    ]
    assert "Slice 'empty' has no rows in the validation data: not checked." in result.notes
