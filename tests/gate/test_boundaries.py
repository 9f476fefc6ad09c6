"""Every gate verdict exactly at its boundary: the allowed regression, the floor, the ceiling, the
noise band around each, and the trade-off conditions.

The numbers are chosen so that each boundary is exact in binary floating point (a 25% tolerance
on 8 is exactly 2), so "at the boundary" means equal, not approximately equal.
"""

from __future__ import annotations

import math

import pytest
from gate_builders import report, side

from mlrelease import gate
from mlrelease.config import GateConfig, MetricRule, Tolerance, TradeOff
from mlrelease.gate import decide
from mlrelease.gate.bootstrap import Interval

RMSE = "root_mean_squared_error"
R2 = "r2_score"
P95 = "p95_latency_ms"
CPU = "p95_cpu_ms"
THROUGHPUT = "throughput_rows_per_s"
ABOVE_10 = math.nextafter(10.0, math.inf)  # the smallest float beyond 10


def rules(**metrics: MetricRule) -> GateConfig:
    return GateConfig(metrics=metrics)


def only(result, metric=None):
    checks = [c for c in result.checks if metric is None or c.metric == metric]
    assert len(checks) == 1, checks
    return checks[0]


# ----------------------------------------------------------------------------- max_regression


@pytest.mark.parametrize(
    ("tolerance", "candidate", "verdict"),
    [
        ("25%", 10.0, "pass"),  # exactly 25% worse than 8: allowed (<=)
        ("25%", ABOVE_10, "fail"),
        (2, 10.0, "pass"),  # exactly 2 worse: allowed
        (2, ABOVE_10, "fail"),
    ],
)
def test_regression_exactly_at_the_allowed_amount_passes_and_one_ulp_beyond_fails(
    tolerance, candidate, verdict
):
    g = rules(**{RMSE: MetricRule(max_regression=Tolerance.parse(tolerance))})
    result = decide(g, (), side(report({RMSE: candidate})), side(report({RMSE: 8.0})))
    assert result.verdict == verdict and only(result).verdict == verdict
    if verdict == "pass":
        assert only(result).reason.startswith(("25.0% worse, within the allowed 25%", "2 worse, within"))


@pytest.mark.parametrize(("candidate", "verdict"), [(0.375, "pass"), (math.nextafter(0.375, 0), "fail")])
def test_higher_is_better_regression_at_its_boundary(candidate, verdict):
    g = rules(**{R2: MetricRule(max_regression=Tolerance.parse(0.125))})
    result = decide(g, (), side(report({R2: candidate})), side(report({R2: 0.5})))
    assert only(result).verdict == verdict


def test_an_improvement_is_reported_as_better_not_worse():
    g = rules(**{RMSE: MetricRule(max_regression=Tolerance.parse("25%"))})
    result = decide(g, (), side(report({RMSE: 6.0})), side(report({RMSE: 8.0})))
    assert only(result).verdict == "pass"
    assert only(result).reason == "25.0% better, within the allowed 25%"


# ----------------------------------------------------------------------------- floor and ceiling


def test_a_value_exactly_at_the_floor_passes_and_says_so():
    g = rules(**{R2: MetricRule(min=0.8)})
    at = only(decide(g, (), side(report({R2: 0.8})), None))
    assert at.verdict == "pass"
    assert at.reason == "0.8 is at or above the floor 0.8"
    below = only(decide(g, (), side(report({R2: math.nextafter(0.8, 0)})), None))
    assert below.verdict == "fail" and "is below the floor 0.8" in below.reason


def test_a_value_exactly_at_the_ceiling_passes_and_says_so():
    g = rules(**{CPU: MetricRule(max=10.0)})
    at = only(decide(g, (), side(report({}, cost={CPU: 10.0})), None))
    assert at.verdict == "pass" and at.reason == "10 is at or below the ceiling 10"
    above = only(decide(g, (), side(report({}, cost={CPU: ABOVE_10})), None))
    assert above.verdict == "fail" and above.reason == "10 is above the ceiling 10"


@pytest.mark.parametrize(
    ("value", "noise", "verdict"),
    [
        (12.0, 0.0, "fail"),  # 2 below the floor, no measured noise
        (12.0, 1 / 6, "noise"),  # 12 + 12/6 = 14 reaches the floor exactly
        (12.0, 0.16, "fail"),  # 12 + 1.92 falls short
        (14.0, 0.0, "pass"),
    ],
)
def test_floor_within_the_measured_noise_is_noise_not_fail(value, noise, verdict):
    g = rules(**{THROUGHPUT: MetricRule(min=14.0)})
    cand = side(report({}, cost={THROUGHPUT: value}, noise={THROUGHPUT: noise}))
    result = decide(g, (), cand, None)
    check = only(result)
    assert check.verdict == verdict
    assert result.verdict == ("fail" if verdict == "fail" else "pass")
    if verdict == "noise":
        assert check.reason == "12 is below the floor 14, within its noise ±2"
        assert result.headline.endswith("1 beyond the margin but within noise")


@pytest.mark.parametrize(
    ("value", "noise", "verdict"),
    [
        (16.0, 0.0, "fail"),
        (16.0, 0.25, "noise"),  # 16 - 4 = 12 reaches the ceiling exactly
        (16.0, 0.2499, "fail"),
        (12.0, 0.0, "pass"),
    ],
)
def test_ceiling_within_the_measured_noise_is_noise_not_fail(value, noise, verdict):
    g = rules(**{CPU: MetricRule(max=12.0)})
    cand = side(report({}, cost={CPU: value}, noise={CPU: noise}))
    result = decide(g, (), cand, None)
    assert only(result).verdict == verdict
    assert result.verdict == ("fail" if verdict == "fail" else "pass")
    if verdict == "noise":
        assert only(result).reason == "16 is above the ceiling 12, within its noise ±4"


def test_floor_noise_band_is_the_candidates_own_noise_not_the_baselines():
    g = rules(**{THROUGHPUT: MetricRule(min=14.0)})
    cand = side(report({}, cost={THROUGHPUT: 12.0}))
    base = side(report({}, cost={THROUGHPUT: 12.0}, noise={THROUGHPUT: 0.5}))
    assert only(decide(g, (), cand, base)).verdict == "fail"


def test_a_floor_and_a_ceiling_on_one_metric_show_the_worst_verdict():
    g = rules(**{CPU: MetricRule(min=2.0, max=12.0)})
    result = decide(g, (), side(report({}, cost={CPU: 16.0}, noise={CPU: 0.25})), None)
    check = only(result)
    assert check.verdict == "noise" and check.reason == "16 is above the ceiling 12, within its noise ±4"
    assert check.rule == "≥ 2; ≤ 12"
    ok = only(decide(g, (), side(report({}, cost={CPU: 8.0})), None))
    assert ok.verdict == "pass"
    assert ok.reason == "8 is at or above the floor 2; 8 is at or below the ceiling 12"


# ----------------------------------------------------------------------------- cost noise on a regression


@pytest.mark.parametrize(
    ("candidate", "verdict"),
    [
        (24.0, "noise"),  # 8 worse = allowed 4 + noise 4 (the baseline's 25% of 16)
        (math.nextafter(24.0, math.inf), "fail"),
        (20.0, "pass"),
    ],
)
def test_cost_regression_at_the_edge_of_allowed_plus_noise(candidate, verdict):
    g = rules(**{P95: MetricRule(max_regression=Tolerance.parse("25%"))})
    base = side(report({}, cost={P95: 16.0}, noise={P95: 0.25}))
    result = decide(g, (), side(report({}, cost={P95: candidate})), base)
    assert only(result).verdict == verdict
    if verdict == "noise":
        assert only(result).reason == (
            "50.0% worse, beyond the allowed 25%, but within the measured noise (±4)"
        )


def test_noise_combines_both_sides_in_quadrature():
    g = rules(**{P95: MetricRule(max_regression=Tolerance.parse("25%"))})
    # noise sqrt((0.125 * 24)^2 + (0.25 * 16)^2) = sqrt(9 + 16) = 5: 9 worse <= 4 + 5
    base = side(report({}, cost={P95: 16.0}, noise={P95: 0.25}))
    at = side(report({}, cost={P95: 25.0}, noise={P95: 0.12}))
    assert only(decide(g, (), at, base)).verdict == "noise"
    cand = side(report({}, cost={P95: 24.0}, noise={P95: 0.125}))
    assert only(decide(g, (), cand, base)).reason.endswith("within the measured noise (±5)")


# ----------------------------------------------------------------------------- the paired interval


def interval(low: float, high: float) -> Interval:
    return Interval(low, high, 0.95, 1000)


def paired(candidate: float, iv: Interval, *, metric=RMSE, baseline=8.0, tolerance="25%", rows=100):
    notes: list[str] = []
    check = gate._check(
        metric,
        gate.OVERALL,
        MetricRule(max_regression=Tolerance.parse(tolerance)),
        Tolerance.parse(tolerance),
        report({metric: candidate}),
        report({metric: baseline}),
        iv,
        "",
        notes,
        rows,
    )
    return check, notes


@pytest.mark.parametrize(
    ("candidate", "low", "high", "verdict"),
    [
        (10.0, 1.0, 3.0, "pass"),  # 2 worse: at the allowed amount, whatever the interval says
        (11.0, 2.0, 4.0, "noise"),  # 3 worse, but the interval's low end reaches the allowed 2
        (11.0, math.nextafter(2.0, 3), 4.0, "fail"),  # the whole interval beyond: worse with confidence
        (11.0, 1.0, 5.0, "noise"),
    ],
)
def test_paired_verdict_at_each_end_of_the_interval(candidate, low, high, verdict):
    check, _ = paired(candidate, interval(low, high))
    assert check.verdict == verdict
    assert check.interval == interval(low, high)


def test_paired_verdict_on_a_higher_is_better_metric_uses_the_mirrored_interval():
    # change of r2 is candidate - baseline; worse is its negation: [-0.3, -0.125] -> worse [0.125, 0.3]
    r2 = {"metric": R2, "baseline": 0.5, "tolerance": 0.125}
    assert paired(0.25, interval(-0.3, -0.125), **r2)[0].verdict == "noise"
    assert paired(0.25, interval(-0.3, math.nextafter(-0.125, -1)), **r2)[0].verdict == "fail"
    assert paired(0.375, interval(-0.3, 0.1), **r2)[0].verdict == "pass"


def test_resolution_note_only_when_the_interval_straddles_the_margin_and_is_wider_than_it():
    # allowed 2; interval [1, 5] straddles it, half-width 2 is not wider than 2: no note
    _, notes = paired(11.0, interval(1.0, 5.0))
    assert notes == []
    # half-width 2.5 > 2: rows needed = ceil(100 * (2.5 / 2)^2) = 157
    _, notes = paired(11.0, interval(0.0, 5.0))
    assert len(notes) == 1
    assert "about 157 rows (57 more) would resolve it" in notes[0]
    assert "±2.5" in notes[0] and "100 rows" in notes[0]
    # the interval's high end exactly at the margin: decided (not beyond), no note
    _, notes = paired(11.0, interval(-3.0, 2.0))
    assert notes == []
    # low end exactly at the margin: undecided, note
    _, notes = paired(11.0, interval(2.0, 7.5))
    assert len(notes) == 1
    # without a row count there is nothing to say
    _, notes = paired(11.0, interval(0.0, 5.0), rows=0)
    assert notes == []


# ----------------------------------------------------------------------------- trade-offs


def trade_off_gate(when: dict[str, Tolerance], allow: str = "50%") -> GateConfig:
    return GateConfig(
        metrics={RMSE: MetricRule(max_regression=Tolerance.parse("25%"))},
        trade_offs=(TradeOff(allow={RMSE: Tolerance.parse(allow)}, when=when),),
    )


def rmse_side(rmse: float, **cost: float) -> object:
    return side(report({RMSE: rmse}, cost=cost))


@pytest.mark.parametrize(
    ("p95", "verdict"),
    [(6.0, "pass"), (math.nextafter(6.0, 7), "fail")],  # exactly -25% meets "-25%"
)
def test_trade_off_condition_exactly_at_its_relative_threshold(p95, verdict):
    g = trade_off_gate({P95: Tolerance.parse("-25%")})
    result = decide(g, (), rmse_side(11.0, p95_latency_ms=p95), rmse_side(8.0, p95_latency_ms=8.0))
    assert result.verdict == verdict  # 37.5% worse RMSE needs the 50% trade-off
    if verdict == "pass":
        assert result.trade_offs == [
            f"{RMSE} may be up to 50% worse because p95_latency_ms changed -25.0% (needed ≤ -25%)"
        ]
        assert only(result).rule == "≤ 50% worse (trade-off)"
    else:
        assert result.trade_offs == [] and only(result).rule == "≤ 25% worse"


@pytest.mark.parametrize(("throughput", "verdict"), [(10.0, "pass"), (math.nextafter(10.0, 0), "fail")])
def test_trade_off_condition_on_an_increase_exactly_at_its_threshold(throughput, verdict):
    g = trade_off_gate({THROUGHPUT: Tolerance.parse("25%")})
    cand = rmse_side(11.0, throughput_rows_per_s=throughput)
    result = decide(g, (), cand, rmse_side(8.0, throughput_rows_per_s=8.0))
    assert result.verdict == verdict


@pytest.mark.parametrize(("p95", "verdict"), [(6.0, "pass"), (math.nextafter(6.0, 7), "fail")])
def test_trade_off_condition_exactly_at_an_absolute_threshold(p95, verdict):
    g = trade_off_gate({P95: Tolerance.parse(-2)})
    result = decide(g, (), rmse_side(11.0, p95_latency_ms=p95), rmse_side(8.0, p95_latency_ms=8.0))
    assert result.verdict == verdict
    if verdict == "pass":
        assert "p95_latency_ms changed -2 (needed ≤ -2)" in result.trade_offs[0]


def test_trade_off_condition_must_hold_at_the_conservative_end_of_its_noise():
    g = trade_off_gate({P95: Tolerance.parse("-25%")})
    base = rmse_side(8.0, p95_latency_ms=8.0)
    # -50% measured; noise 0.5 * 4 = 2 (a quarter of the baseline): -50% + 25% = -25%: just met
    noisy = side(report({RMSE: 11.0}, cost={P95: 4.0}, noise={P95: 0.5}))
    result = decide(g, (), noisy, base)
    assert result.verdict == "pass"
    assert result.trade_offs[0].endswith("(needed ≤ -25%, beyond noise)")
    noisier = side(report({RMSE: 11.0}, cost={P95: 4.0}, noise={P95: 0.5001}))
    assert decide(g, (), noisier, base).verdict == "fail"
    up = trade_off_gate({THROUGHPUT: Tolerance.parse("25%")})
    # +50% measured; candidate noise 2/12: 50% - 25% = 25%: met; a little more noise: not met
    fast = side(report({RMSE: 11.0}, cost={THROUGHPUT: 12.0}, noise={THROUGHPUT: 1 / 6}))
    base_t = rmse_side(8.0, throughput_rows_per_s=8.0)
    assert decide(up, (), fast, base_t).verdict == "pass"
    slower = side(report({RMSE: 11.0}, cost={THROUGHPUT: 12.0}, noise={THROUGHPUT: 0.17}))
    assert decide(up, (), slower, base_t).verdict == "fail"


def test_trade_off_condition_counts_the_baselines_noise_too():
    g = trade_off_gate({P95: Tolerance.parse("-25%")})
    # -37.5% measured; the baseline's noise 0.125 * 8 = 1 ms is 12.5% of it: -37.5% + 12.5% = -25%: met
    quiet = rmse_side(11.0, p95_latency_ms=5.0)
    noisy_base = side(report({RMSE: 8.0}, cost={P95: 8.0}, noise={P95: 0.125}))
    assert decide(g, (), quiet, noisy_base).verdict == "pass"
    noisier_base = side(report({RMSE: 8.0}, cost={P95: 8.0}, noise={P95: 0.1251}))
    assert decide(g, (), quiet, noisier_base).verdict == "fail"


@pytest.mark.parametrize(
    ("want", "low", "high", "met"),
    [
        (-0.25, -3.0, -2.0, True),  # the interval's high end (-2 / 8) meets -25% exactly
        (-0.25, -3.0, math.nextafter(-2.0, 0), False),
        (0.25, 2.0, 3.0, True),  # an increase: the interval's low end must meet it
        (0.25, math.nextafter(2.0, 0), 3.0, False),
        (0.0, 0.0, 1.0, True),  # a condition of 0% asks for no decrease: the low end must be >= 0
        (0.0, -1e-9, 1.0, False),
    ],
)
def test_trade_off_on_a_metric_with_an_interval_uses_its_conservative_end(want, low, high, met):
    g = GateConfig(
        metrics={P95: MetricRule(max_regression=Tolerance.parse("25%"))},
        trade_offs=(TradeOff(allow={P95: Tolerance.parse("50%")}, when={R2: Tolerance(want, True)}),),
    )
    # the point change alone is far beyond the threshold either way: only the interval decides
    cand = report({R2: 8.0 * (1 + 4 * want)}, cost={P95: 11.0})
    base = report({R2: 8.0}, cost={P95: 8.0})
    widened, applied = gate._trade_offs(g, cand, base, {R2: interval(low, high)})
    assert (P95 in widened) is met and bool(applied) is met


def test_trade_off_widens_only_when_it_allows_more_than_the_rule():
    base = rmse_side(8.0, p95_latency_ms=8.0)
    cand = rmse_side(10.0, p95_latency_ms=4.0)
    same = decide(trade_off_gate({P95: Tolerance.parse("-25%")}, allow="25%"), (), cand, base)
    assert same.trade_offs == [] and only(same).rule == "≤ 25% worse"
    less = decide(trade_off_gate({P95: Tolerance.parse("-25%")}, allow="10%"), (), cand, base)
    assert less.trade_offs == [] and less.verdict == "pass"


def test_trade_off_exactly_at_its_widened_allowance_passes():
    g = trade_off_gate({P95: Tolerance.parse("-25%")})
    base = rmse_side(8.0, p95_latency_ms=8.0)
    assert decide(g, (), rmse_side(12.0, p95_latency_ms=4.0), base).verdict == "pass"  # 50% worse
    beyond = rmse_side(math.nextafter(12.0, 13), p95_latency_ms=4.0)
    assert decide(g, (), beyond, base).verdict == "fail"


def test_trade_off_is_not_applied_without_the_condition_metric_or_on_a_zero_baseline():
    g = trade_off_gate({P95: Tolerance.parse("-25%")})
    assert decide(g, (), rmse_side(11.0), rmse_side(8.0, p95_latency_ms=8.0)).verdict == "fail"
    assert decide(g, (), rmse_side(11.0, p95_latency_ms=0.0), rmse_side(8.0)).verdict == "fail"
    zero = decide(g, (), rmse_side(11.0, p95_latency_ms=-1.0), rmse_side(8.0, p95_latency_ms=0.0))
    assert zero.verdict == "fail" and zero.trade_offs == []


# ----------------------------------------------------------------------------- reasons at the edges


def relative_reason(candidate: dict, baseline: dict | None, rule: MetricRule, slices=()):
    result = decide(
        rules(**{RMSE: rule}),
        slices,
        side(report(candidate)),
        side(report(baseline)) if baseline is not None else None,
    )
    return only(result)


TWO = Tolerance.parse("2%")


@pytest.mark.parametrize(
    ("baseline", "optional", "verdict", "reason"),
    [
        (None, False, "skip", "no baseline: the regression rule is not checked"),
        ({}, False, "fail", f"{RMSE} is missing from the baseline's metrics"),
        ({RMSE: None}, False, "fail", f"{RMSE} is not a finite number in the baseline (NaN or infinite)"),
        ({}, True, "skip", f"{RMSE} is missing from the baseline's metrics; optional, not checked"),
        (
            {RMSE: None},
            True,
            "skip",
            f"{RMSE} is not a finite number in the baseline (NaN or infinite); optional, not checked",
        ),
    ],
)
def test_a_regression_rule_without_a_baseline_value_says_why(baseline, optional, verdict, reason):
    check = relative_reason({RMSE: 1.0}, baseline, MetricRule(max_regression=TWO, optional=optional))
    assert (check.verdict, check.reason) == (verdict, reason)


def test_no_change_is_better_by_nothing_and_a_small_absolute_change_is_still_worse():
    same = relative_reason({RMSE: 8.0}, {RMSE: 8.0}, MetricRule(max_regression=TWO))
    assert same.reason == "0.0% better, within the allowed 2%"
    half = relative_reason({RMSE: 8.5}, {RMSE: 8.0}, MetricRule(max_regression=Tolerance.parse(1)))
    assert half.reason == "0.5 worse, within the allowed 1"


def test_a_relative_rule_on_a_zero_baseline_states_the_absolute_change():
    check = relative_reason({RMSE: 0.5}, {RMSE: 0.0}, MetricRule(max_regression=TWO))
    assert (check.verdict, check.reason) == ("fail", "0.5 worse, beyond the allowed 2%")


def test_the_resolution_note_states_the_allowed_amount_and_works_for_higher_is_better():
    _, notes = paired(11.0, interval(0.0, 5.0))
    assert "too small to resolve a tolerance of 25% (2): the 95% interval" in notes[0]
    # r2 change interval [-0.5, 0.1] -> worse [-0.1, 0.5] straddles the allowed 0.125
    check, notes = paired(0.25, interval(-0.5, 0.1), metric=R2, baseline=0.5, tolerance=0.125)
    assert check.verdict == "noise" and len(notes) == 1


def test_a_zero_tolerance_never_asks_for_more_rows():
    check, notes = paired(9.0, interval(-1.0, 3.0), tolerance="0%")
    assert check.verdict == "noise" and notes == []


def test_a_trade_off_needs_all_its_conditions_and_names_each_in_its_reason():
    g = trade_off_gate({P95: Tolerance.parse("-25%"), THROUGHPUT: Tolerance.parse("25%")})
    both = decide(
        g,
        (),
        rmse_side(11.0, p95_latency_ms=6.0, throughput_rows_per_s=10.0),
        rmse_side(8.0, p95_latency_ms=8.0, throughput_rows_per_s=8.0),
    )
    assert both.trade_offs == [
        f"{RMSE} may be up to 50% worse because p95_latency_ms changed -25.0% (needed ≤ -25%) and "
        "throughput_rows_per_s changed +25.0% (needed ≥ 25%)"
    ]
    one = decide(
        g,
        (),
        rmse_side(11.0, p95_latency_ms=6.0, throughput_rows_per_s=9.0),
        rmse_side(8.0, p95_latency_ms=8.0, throughput_rows_per_s=8.0),
    )
    assert one.trade_offs == [] and one.verdict == "fail"


@pytest.mark.parametrize(("throughput", "held"), [(8.5, True), (8.0, True), (7.5, False)])
def test_a_zero_condition_asks_for_no_decrease(throughput, held):
    g = trade_off_gate({THROUGHPUT: Tolerance.parse("0%")})
    cand = rmse_side(11.0, throughput_rows_per_s=throughput)
    result = decide(g, (), cand, rmse_side(8.0, throughput_rows_per_s=8.0))
    change = f"{(throughput - 8.0) / 8.0:+.1%}"
    expected = [f"{RMSE} may be up to 50% worse because throughput_rows_per_s changed {change} (needed ≥ 0%)"]
    assert result.trade_offs == (expected if held else [])


def test_a_later_trade_off_applies_when_an_earlier_one_does_not_and_the_largest_allowance_wins():
    g = GateConfig(
        metrics={RMSE: MetricRule(max_regression=Tolerance.parse("10%"))},
        trade_offs=(
            TradeOff(allow={RMSE: Tolerance.parse("90%")}, when={P95: Tolerance.parse("-50%")}),
            TradeOff(allow={RMSE: Tolerance.parse("50%")}, when={P95: Tolerance.parse("-25%")}),
            TradeOff(allow={RMSE: Tolerance.parse("30%")}, when={P95: Tolerance.parse("-25%")}),
        ),
    )
    result = decide(g, (), rmse_side(8.0, p95_latency_ms=6.0), rmse_side(8.0, p95_latency_ms=8.0))
    assert result.trade_offs == [
        f"{RMSE} may be up to 50% worse because p95_latency_ms changed -25.0% (needed ≤ -25%)"
    ]
    assert only(result).rule == "≤ 50% worse (trade-off)"


@pytest.mark.parametrize(
    ("rule", "allow", "baseline", "widened"),
    [
        (1, "20%", 8.0, True),  # 20% of 8 is 1.6, more than the rule's 1
        (2, "20%", 8.0, False),  # 1.6 is less than 2
        (0.15, "10%", None, False),  # no baseline value: 10% is taken of 1, less than 0.15
        (0.05, "10%", None, True),
    ],
)
def test_a_relative_allowance_is_compared_with_an_absolute_rule_at_the_baselines_value(
    rule, allow, baseline, widened
):
    g = GateConfig(
        metrics={RMSE: MetricRule(max_regression=Tolerance.parse(rule))},
        trade_offs=(TradeOff(allow={RMSE: Tolerance.parse(allow)}, when={P95: Tolerance.parse("-25%")}),),
    )
    base = side(report({RMSE: baseline}, cost={P95: 8.0}))
    result = decide(g, (), rmse_side(9.5, p95_latency_ms=6.0), base)
    assert only(result).rule == (f"≤ {allow} worse (trade-off)" if widened else f"≤ {rule:g} worse")
