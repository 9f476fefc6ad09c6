"""Each gate rule kind and the trade-offs, against hand-computed expectations."""

from __future__ import annotations

import pytest
from gate_builders import report, side

from mlrelease.config import GateConfig, MetricRule, SliceConfig, Tolerance, TradeOff
from mlrelease.errors import ConfigError
from mlrelease.gate import decide


def rules(**metrics: MetricRule) -> GateConfig:
    return GateConfig(metrics=metrics)


def verdict(result, metric, scope="overall"):
    return next(c for c in result.checks if c.metric == metric and c.scope == scope).verdict


def test_relative_regression_within_and_beyond_two_percent():
    g = rules(root_mean_squared_error=MetricRule(max_regression=Tolerance.parse("2%")))
    base = side(report({"root_mean_squared_error": 100.0}))
    # 101.5 is 1.5% worse: allowed; 102.5 is 2.5% worse: blocked
    ok = decide(g, (), side(report({"root_mean_squared_error": 101.5})), base)
    bad = decide(g, (), side(report({"root_mean_squared_error": 102.5})), base)
    assert ok.verdict == "pass" and bad.verdict == "fail"
    check = bad.checks[0]
    assert check.change == pytest.approx(2.5) and check.relative_change == pytest.approx(0.025)
    assert "2.5% worse" in check.reason and "2%" in check.reason
    assert bad.headline.startswith("FAIL") and "root_mean_squared_error" in bad.headline


def test_absolute_regression_on_a_higher_is_better_score():
    g = rules(accuracy_score=MetricRule(max_regression=Tolerance.parse(0.01)))
    base = side(report({"accuracy_score": 0.90}))
    assert decide(g, (), side(report({"accuracy_score": 0.895})), base).verdict == "pass"  # 0.005 worse
    assert decide(g, (), side(report({"accuracy_score": 0.885})), base).verdict == "fail"  # 0.015 worse
    assert decide(g, (), side(report({"accuracy_score": 0.99})), base).verdict == "pass"  # better


def test_explicit_direction_overrides_the_name():
    g = rules(custom_error=MetricRule(better="higher", max_regression=Tolerance.parse("10%")))
    base = side(report({"custom_error": 10.0}))
    # 'better: higher' makes a drop from 10 to 8.5 a 15% regression
    assert decide(g, (), side(report({"custom_error": 8.5})), base).verdict == "fail"
    assert decide(g, (), side(report({"custom_error": 20.0})), base).verdict == "pass"


def test_throughput_direction_comes_from_the_table():
    g = rules(throughput_rows_per_s=MetricRule(max_regression=Tolerance.parse("10%")))
    base = side(report({}, cost={"throughput_rows_per_s": 1000.0}))
    assert decide(g, (), side(report({}, cost={"throughput_rows_per_s": 850.0})), base).verdict == "fail"
    assert decide(g, (), side(report({}, cost={"throughput_rows_per_s": 950.0})), base).verdict == "pass"


def test_floor_and_ceiling():
    g = rules(r2_score=MetricRule(min=0.8), mean_absolute_percentage_error=MetricRule(max=0.15))
    good = decide(g, (), side(report({"r2_score": 0.8, "mean_absolute_percentage_error": 0.15})), None)
    assert good.verdict == "pass"  # bounds are inclusive
    low = decide(g, (), side(report({"r2_score": 0.79, "mean_absolute_percentage_error": 0.1})), None)
    assert verdict(low, "r2_score") == "fail" and "below the floor 0.8" in low.checks[0].reason
    high = decide(g, (), side(report({"r2_score": 0.9, "mean_absolute_percentage_error": 0.16})), None)
    assert verdict(high, "mean_absolute_percentage_error") == "fail"


def test_trade_off_allows_a_larger_regression_only_when_latency_improves_enough():
    g = GateConfig(
        metrics={
            "root_mean_squared_error": MetricRule(max_regression=Tolerance.parse("2%")),
            "p95_latency_ms": MetricRule(max=100),
        },
        trade_offs=(
            TradeOff(
                allow={"root_mean_squared_error": Tolerance.parse("5%")},
                when={"p95_latency_ms": Tolerance.parse("-30%")},
            ),
        ),
    )
    base = side(report({"root_mean_squared_error": 100.0}, cost={"p95_latency_ms": 10.0}))

    def cand(rmse: float, p95: float):
        return side(report({"root_mean_squared_error": rmse}, cost={"p95_latency_ms": p95}))

    # 4% worse RMSE: blocked with latency 25% better (10 -> 7.5), allowed with 35% better (10 -> 6.5)
    assert decide(g, (), cand(104, 7.5), base).verdict == "fail"
    fast = decide(g, (), cand(104, 6.5), base)
    assert fast.verdict == "pass"
    assert fast.trade_offs and "p95_latency_ms changed -35.0%" in fast.trade_offs[0]
    assert "trade-off" in fast.checks[0].rule
    # even the trade-off allows no more than 5%
    assert decide(g, (), cand(106, 5.0), base).verdict == "fail"


def test_trade_off_condition_must_hold_beyond_measured_noise():
    g = GateConfig(
        metrics={"root_mean_squared_error": MetricRule(max_regression=Tolerance.parse("2%"))},
        trade_offs=(
            TradeOff(
                allow={"root_mean_squared_error": Tolerance.parse("5%")},
                when={"p95_latency_ms": Tolerance.parse("-30%")},
            ),
        ),
    )
    base = side(report({"root_mean_squared_error": 100.0}, cost={"p95_latency_ms": 10.0}))
    # -35% measured, but with 10% noise on each side the improvement is only ~ -35% + 12.6%
    cand = side(
        report(
            {"root_mean_squared_error": 104.0}, cost={"p95_latency_ms": 6.5}, noise={"p95_latency_ms": 0.1}
        )
    )
    assert decide(g, (), cand, base).verdict == "fail"


def test_no_baseline_checks_absolute_rules_only_and_says_so():
    g = rules(
        root_mean_squared_error=MetricRule(max_regression=Tolerance.parse("2%")),
        r2_score=MetricRule(min=0.8),
    )
    result = decide(g, (), side(report({"root_mean_squared_error": 500.0, "r2_score": 0.9})), None)
    assert result.verdict == "pass"
    assert verdict(result, "root_mean_squared_error") == "skip"
    assert verdict(result, "r2_score") == "pass"
    assert any("No baseline given: only the absolute rules" in n for n in result.notes)
    assert "absolute rules only" in result.headline


def test_missing_or_nan_metric_fails_by_name_unless_optional():
    g = rules(log_loss=MetricRule(max=1.0), roc_auc_score=MetricRule(min=0.5, optional=True))
    result = decide(g, (), side(report({"log_loss": None})), None)
    assert verdict(result, "log_loss") == "fail"
    assert "log_loss is not a finite number in the candidate" in result.checks[0].reason
    assert verdict(result, "roc_auc_score") == "skip"
    missing = decide(rules(log_loss=MetricRule(max=1.0)), (), side(report({})), None)
    assert "log_loss is missing from the candidate" in missing.checks[0].reason
    g2 = rules(log_loss=MetricRule(max_regression=Tolerance.parse("1%")))
    on_baseline = decide(g2, (), side(report({"log_loss": 0.5})), side(report({})))
    assert on_baseline.verdict == "fail" and "missing from the baseline" in on_baseline.checks[0].reason


def test_slice_guardrail_blocks_even_when_overall_improves():
    g = rules(root_mean_squared_error=MetricRule(max_regression=Tolerance.parse("2%")))
    slices = (
        SliceConfig(name="seniors", column="age", min=65, max_regression=Tolerance.parse("5%")),
        SliceConfig(name="young", column="age", max=30),  # no tolerance: reported only
    )
    base = side(
        report(
            {"root_mean_squared_error": 100.0},
            slices={
                "seniors": {"root_mean_squared_error": 100.0},
                "young": {"root_mean_squared_error": 80.0},
            },
        )
    )
    cand = side(
        report(
            {"root_mean_squared_error": 90.0},  # 10% better overall
            slices={
                "seniors": {"root_mean_squared_error": 106.0},
                "young": {"root_mean_squared_error": 200.0},
            },
        )
    )
    result = decide(g, slices, cand, base)
    assert result.verdict == "fail"
    assert verdict(result, "root_mean_squared_error") == "pass"
    assert verdict(result, "root_mean_squared_error", "seniors") == "fail"
    assert not any(c.scope == "young" for c in result.checks)
    assert "slice seniors" in result.headline
    ok = side(
        report({"root_mean_squared_error": 90.0}, slices={"seniors": {"root_mean_squared_error": 104.0}})
    )
    assert decide(g, slices[:1], ok, base).verdict == "pass"  # 4% worse on the slice: within 5%


def test_cost_regression_within_its_measured_noise_does_not_block():
    g = rules(p95_latency_ms=MetricRule(max_regression=Tolerance.parse("10%")))
    base = side(report({}, cost={"p95_latency_ms": 10.0}, noise={"p95_latency_ms": 0.05}))
    noisy = side(report({}, cost={"p95_latency_ms": 11.5}, noise={"p95_latency_ms": 0.05}))
    # 15% worse; allowed 1.0 + noise sqrt(0.5^2 + 0.575^2) = 0.76 -> 11.76 >= 11.5: within noise
    result = decide(g, (), noisy, base)
    assert result.verdict == "pass" and verdict(result, "p95_latency_ms") == "noise"
    slow = side(report({}, cost={"p95_latency_ms": 12.0}, noise={"p95_latency_ms": 0.05}))
    assert decide(g, (), slow, base).verdict == "fail"


def test_a_rule_without_a_direction_is_a_config_error():
    g = rules(mystery=MetricRule(max_regression=Tolerance.parse("1%")))
    with pytest.raises(ConfigError) as err:
        decide(g, (), side(report({"mystery": 1.0})), side(report({"mystery": 1.0})))
    assert "gate.metrics.mystery" in err.value.render() and "better" in err.value.render()
