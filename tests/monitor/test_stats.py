"""The drift statistics equal scipy's, PSI equals a hand computation, and a window drawn from
the reference's own distribution almost never alerts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from mlrelease.monitor import stats
from mlrelease.monitor.drift import Settings, Thresholds, compare_window, prepare


def _features(rng: np.random.Generator, n: int, shift: float = 0.0) -> dict[str, np.ndarray]:
    """Five columns with the shapes real data has: skewed, heavy-tailed, tied, categorical."""
    return {
        "normal": rng.normal(shift, 1.0, n),
        "lognormal": rng.lognormal(0.0 + shift, 1.0, n),
        "age": rng.integers(18, 31, n).astype(np.float64) + round(shift * 10),  # many ties
        "t3": rng.standard_t(3, n) + shift,
        "district": rng.choice(np.array(["A", "B", "C", "D"], dtype=object), n, p=[0.4, 0.3, 0.2, 0.1]),
    }


SIZES = [(50, 40), (1000, 1000), (2000, 700), (9000, 10_000), (30_000, 12_000), (12_000, 30_000)]


@pytest.mark.parametrize(("n1", "n2"), SIZES)
@pytest.mark.parametrize("shift", [0.0, 0.15])
def test_ks_and_wasserstein_equal_scipy_on_every_feature(n1: int, n2: int, shift: float) -> None:
    rng = np.random.default_rng(n1 * 7 + n2)
    ref, cur = _features(rng, n1), _features(rng, n2, shift)
    for name in ("normal", "lognormal", "age", "t3"):
        ours = stats.numeric(stats.SortedColumn.of(ref[name]), stats.SortedColumn.of(cur[name]))
        theirs = sps.ks_2samp(ref[name], cur[name])
        assert ours.ks_statistic == pytest.approx(float(theirs.statistic), abs=1e-9, rel=0), name
        assert ours.ks_pvalue == pytest.approx(float(theirs.pvalue), abs=1e-9, rel=1e-9), name
        assert ours.ks_method == ("exact" if max(n1, n2) <= 10_000 else "asymp")
        w = sps.wasserstein_distance(ref[name], cur[name])
        assert ours.wasserstein == pytest.approx(w, rel=1e-9, abs=1e-12), name
        assert ours.wasserstein_relative == pytest.approx(w / np.std(ref[name]), rel=1e-9)


def test_ks_with_missing_values_equals_scipy_on_the_present_ones() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=500), rng.normal(0.2, size=400)
    a[::7] = np.nan
    b[::5] = np.nan
    ra, rb = stats.SortedColumn.of(a), stats.SortedColumn.of(b)
    assert ra.missing == 72 and rb.missing == 80
    assert rb.missing_rate == pytest.approx(80 / 400)
    theirs = sps.ks_2samp(a[~np.isnan(a)], b[~np.isnan(b)])
    ours = stats.numeric(ra, rb)
    assert ours.ks_statistic == pytest.approx(theirs.statistic, abs=1e-12)
    assert ours.ks_pvalue == pytest.approx(theirs.pvalue, abs=1e-12)


def test_psi_equals_a_hand_computed_value() -> None:
    """Reference 1..10, 4 bins at its quartiles 3.25, 5.5, 7.75: reference counts 3,2,2,3.

    Current [1, 2, 3, 4, 9, 9, 9, 10, 10, 10] falls 3,1,0,6 into the same bins; the empty bin
    takes the 1e-4 floor. PSI = sum((c - r) ln(c / r)) over shares:
    (0.3-0.3)ln1 + (0.1-0.2)ln(0.5) + (0.0001-0.2)ln(0.0001/0.2) + (0.6-0.3)ln2
    = 0 + 0.06931 + 1.51942 + 0.20794 = 1.79668.
    """
    ref = stats.SortedColumn.of(np.arange(1, 11, dtype=float))
    cur = stats.SortedColumn.of(np.array([1, 2, 3, 4, 9, 9, 9, 10, 10, 10], dtype=float))
    st = stats.numeric(ref, cur, bins=4)
    assert st.bin_edges == (3.25, 5.5, 7.75)
    assert st.reference_shares == (0.3, 0.2, 0.2, 0.3)
    assert st.current_shares == (0.3, 0.1, 0.0, 0.6)
    hand = -0.1 * math.log(0.5) + (0.0001 - 0.2) * math.log(0.0001 / 0.2) + 0.3 * math.log(2)
    assert hand == pytest.approx(1.79668, abs=1e-5)
    assert st.psi == pytest.approx(hand, rel=1e-12)


def test_categorical_psi_by_hand_and_chi2_equal_scipy_with_unseen_categories_named() -> None:
    ref = np.array(["a"] * 50 + ["b"] * 30 + ["c"] * 20 + [None] * 5, dtype=object)
    values = ["a"] * 20 + ["b"] * 30 + ["c"] * 30 + ["z"] * 15 + ["y"] * 5 + [float("nan")] * 10
    cur = np.array(values, dtype=object)
    st = stats.categorical(stats.CategoryCounts.of(ref), stats.CategoryCounts.of(cur))
    assert st.unseen == {"z": 15, "y": 5}
    assert st.categories == ("a", "b", "c", "z", "y")
    r = np.array([0.5, 0.3, 0.2, 1e-4, 1e-4])
    c = np.array([0.2, 0.3, 0.3, 0.15, 0.05])
    assert st.psi == pytest.approx(float(np.sum((c - r) * np.log(c / r))), rel=1e-12)
    table = pd.crosstab(
        pd.Series(["ref"] * 100 + ["cur"] * 100),
        pd.Series([v for v in ref if v is not None] + [v for v in cur if isinstance(v, str)]),
    )
    theirs = sps.chi2_contingency(table.to_numpy())
    assert st.chi2 == pytest.approx(theirs.statistic, rel=1e-12)
    assert st.chi2_pvalue == pytest.approx(theirs.pvalue, rel=1e-9, abs=1e-300)
    assert st.chi2_dof == 4
    assert stats.CategoryCounts.of(cur).missing_rate == pytest.approx(10 / 110)


def test_chi2_on_two_categories_equals_scipy_with_yates_correction() -> None:
    ref = np.array(["m"] * 60 + ["f"] * 40, dtype=object)
    cur = np.array(["m"] * 45 + ["f"] * 55, dtype=object)
    st = stats.categorical(stats.CategoryCounts.of(ref), stats.CategoryCounts.of(cur))
    theirs = sps.chi2_contingency(np.array([[60, 40], [45, 55]]))
    assert (st.chi2, st.chi2_pvalue) == pytest.approx((theirs.statistic, theirs.pvalue), rel=1e-12)


def test_holm_matches_the_step_down_definition() -> None:
    assert stats.holm([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.5])


def test_a_shift_of_half_a_standard_deviation_alerts_and_a_twentieth_does_not() -> None:
    rng = np.random.default_rng(11)
    ref = _features(rng, 5000)
    settings = Settings()
    prepared = prepare(ref, list(ref), settings)
    big = compare_window(prepared, _features(rng, 5000, shift=0.5), 5000, 5000, settings)
    large_ref = _features(rng, 200_000)
    prepared_large = prepare(large_ref, ["normal", "t3"], settings)
    small = compare_window(prepared_large, _features(rng, 200_000, shift=0.05), 200_000, 200_000, settings)
    by = {c.name: c for c in big.columns}
    assert by["normal"].verdict == "alert"
    assert by["t3"].verdict == "warn"  # t with 3 dof: sd 1.7, so 0.5 is 0.29 sd, PSI ~0.1
    assert by["age"].verdict == "alert" and by["district"].verdict == "ok"
    assert big.verdict == "alert"
    # 200k rows make the tiny shift highly significant, but its effect is below every threshold
    tiny = {c.name: c for c in small.columns}
    assert tiny["normal"].pvalue_adjusted is not None and tiny["normal"].pvalue_adjusted < 1e-9
    assert small.verdict == "ok", [(c.name, c.reason) for c in small.columns]


def test_too_few_values_are_insufficient_never_an_alert() -> None:
    rng = np.random.default_rng(5)
    ref = _features(rng, 1000)
    settings = Settings(default=Thresholds(min_samples=100))
    out = compare_window(prepare(ref, list(ref), settings), _features(rng, 60, shift=3.0), 1000, 60, settings)
    assert {c.verdict for c in out.columns} == {"insufficient"}
    assert out.verdict == "ok"


FALSE_ALARM_SEEDS = 200


def test_windows_from_the_reference_distribution_almost_never_alert() -> None:
    """Over 200 seeds, 5 columns each, at the default thresholds, with 150 to 2000 current rows."""
    settings = Settings()
    alerts = warns = flagged_columns = raw_significant = 0
    for seed in range(FALSE_ALARM_SEEDS):
        rng = np.random.default_rng(10_000 + seed)
        n_cur = int(rng.integers(150, 2001))
        ref = _features(rng, 2000)
        out = compare_window(prepare(ref, list(ref), settings), _features(rng, n_cur), 2000, n_cur, settings)
        alerts += out.verdict == "alert"
        warns += out.verdict == "warn"
        flagged_columns += len(out.drifted)
        raw_significant += sum(c.pvalue is not None and c.pvalue < settings.alpha for c in out.columns)
    print(
        f"false alarms over {FALSE_ALARM_SEEDS} seeds: {alerts} alert, {warns} warn,"
        f" {flagged_columns} columns;"
        f" {raw_significant} of {5 * FALSE_ALARM_SEEDS} columns had an uncorrected p < {settings.alpha}"
    )
    assert raw_significant > 0  # the tests do fire by chance: the verdict rule is what holds them back
    assert alerts == 0
    assert warns <= 2


def test_thresholds_per_feature_come_from_the_config(tmp_path) -> None:
    from mlrelease import config
    from mlrelease.monitor.drift import settings_from

    (tmp_path / "mlrelease.yaml").write_text(
        "model: {name: m, task: regression, artifact: m.skops}\n"
        "monitoring:\n"
        "  drift: {alert: 0.3, correction: bh, features: {age: {warn: 0.05, min_samples: 20}}}\n"
        "  outliers: {alert: 0.1}\n"
    )
    s = settings_from(config.load(tmp_path, check_files=False))
    assert s.default == Thresholds(0.1, 0.3, 0.33, 0.46, 100)
    assert s.for_feature("age") == Thresholds(0.05, 0.3, 0.33, 0.46, 20)
    assert (s.correction, s.outlier_warn, s.outlier_alert) == ("bh", 0.01, 0.1)
    assert settings_from(None) == Settings()


def test_a_misspelt_threshold_names_the_key(tmp_path) -> None:
    from mlrelease import config
    from mlrelease.errors import ConfigError

    (tmp_path / "mlrelease.yaml").write_text(
        "model: {name: m, task: regression, artifact: m.skops}\n"
        "monitoring:\n  drift: {features: {age: {alrt: 0.3}}}\n"
    )
    with pytest.raises(ConfigError) as err:
        config.load(tmp_path, check_files=False)
    assert "monitoring.drift.features.age" in err.value.render()


def test_small_windows_from_the_reference_distribution_do_not_alert_on_noise() -> None:
    """40 to 120 rows (min_samples lowered to 30): PSI alone crosses its thresholds by chance in
    most windows; the Holm-corrected p-value lets through at most its family-wise rate (5%, so
    about 10 of 200 windows; measured: 3 alert, 8 warn)."""
    settings = Settings(default=Thresholds(min_samples=30))
    alerts = warns = effect_only = 0
    for seed in range(FALSE_ALARM_SEEDS):
        rng = np.random.default_rng(20_000 + seed)
        n_cur = int(rng.integers(40, 121))
        ref = _features(rng, 2000)
        out = compare_window(prepare(ref, list(ref), settings), _features(rng, n_cur), 2000, n_cur, settings)
        alerts += out.verdict == "alert"
        warns += out.verdict == "warn"
        effect_only += any(c.psi is not None and c.psi >= 0.1 for c in out.columns)
    print(
        f"small windows, {FALSE_ALARM_SEEDS} seeds: {alerts} alert, {warns} warn; PSI >= 0.1 in {effect_only}"
    )
    assert effect_only > 100  # without the significance rule these would have warned or alerted
    assert alerts <= 6
    assert alerts + warns <= 16  # 5% of 200 plus two binomial standard deviations


@pytest.mark.parametrize("n", [141, 2_000, 60_000, 500_000])
@pytest.mark.parametrize("nx2", [0.5, 2.2, 4.0, 9.0, 50.0, 369.0, 400.0])
def test_kstwo_tail_equals_scipy_on_either_side_of_its_cutoffs(n: int, nx2: float) -> None:
    """The vectorised Smirnov sum replaces scipy's term-by-term one; the answer must not move."""
    x = math.sqrt(nx2 / n)
    theirs = float(sps.kstwo.sf(x, n))
    # below 1e-300 both are subnormal noise (scipy itself answers 1.7e-321 at n = 60000)
    assert stats.kstwo_sf(x, n) == pytest.approx(theirs, rel=1e-11, abs=1e-300)


@pytest.mark.parametrize("shift", [0.0, 0.02])
def test_ks_and_wasserstein_equal_scipy_when_the_merged_order_spans_several_chunks(shift: float) -> None:
    n1, n2 = 200_000, 150_000
    assert n1 + n2 > 1.3 * stats.CHUNK
    rng = np.random.default_rng(11)
    ref, cur = _features(rng, n1), _features(rng, n2, shift)
    for name in ("normal", "age"):  # continuous, and ties across chunk borders
        ours = stats.numeric(stats.SortedColumn.of(ref[name]), stats.SortedColumn.of(cur[name]))
        theirs = sps.ks_2samp(ref[name], cur[name])
        assert ours.ks_statistic == float(theirs.statistic), name
        assert ours.ks_pvalue == pytest.approx(float(theirs.pvalue), abs=1e-9, rel=1e-9), name
        w = sps.wasserstein_distance(ref[name], cur[name])
        assert ours.wasserstein == pytest.approx(w, rel=1e-9, abs=1e-12), name


def test_missing_values_given_as_none_count_as_missing() -> None:
    col = stats.SortedColumn.of(np.array([3.0, None, 1.0, None], dtype=object))
    assert col.values.dtype == np.float64
    assert col.values.tolist() == [1.0, 3.0]
    assert (col.missing, col.missing_rate) == (2, 0.5)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 9, 10, 11, 12, 40])
def test_quantiles_and_psi_edges_equal_numpy_on_small_references(n: int) -> None:
    """With fewer values than bins the top edges interpolate between the last two values."""
    values = np.random.default_rng(n).normal(size=n)
    col = stats.SortedColumn.of(values)
    q = np.linspace(0.0, 1.0, 21)
    assert col.quantile(q) == pytest.approx(np.quantile(values, q), rel=1e-12, abs=1e-12)
    edges = stats.psi_edges(col, 10)
    assert edges == pytest.approx(np.unique(np.quantile(values, np.arange(1, 10) / 10)), rel=1e-12)


def test_psi_uses_the_reference_deciles_unless_told() -> None:
    ref = np.arange(1.0, 101.0)
    st = stats.numeric(stats.SortedColumn.of(ref), stats.SortedColumn.of(ref[::-1]))
    assert st.bin_edges == pytest.approx(tuple(np.quantile(ref, np.arange(1, 10) / 10)))
    assert st.reference_shares == st.current_shares == (0.1,) * 10
    assert st.psi == 0.0


def test_a_one_value_reference_has_one_edge_and_an_infinite_relative_wasserstein() -> None:
    """Reference [5]: bins (<= 5, > 5) hold 1, 0; current [5, 6, 7] holds 1/3, 2/3.
    PSI = (1/3 - 1) ln(1/3) + (2/3 - 1e-4) ln((2/3) / 1e-4); the reference's spread is 0."""
    st = stats.numeric(
        stats.SortedColumn.of(np.array([5.0])), stats.SortedColumn.of(np.array([5.0, 6.0, 7.0]))
    )
    assert (st.n_reference, st.n_current) == (1, 3)
    assert st.bin_edges == (5.0,)
    assert st.reference_shares == (1.0, 0.0)
    assert st.current_shares == pytest.approx((1 / 3, 2 / 3))
    hand = (1 / 3 - 1) * math.log(1 / 3) + (2 / 3 - 1e-4) * math.log((2 / 3) / 1e-4)
    assert st.psi == pytest.approx(hand, rel=1e-12)
    assert st.wasserstein == pytest.approx(1.0)  # |6 - 5| / 3 + |7 - 5| / 3
    assert st.wasserstein_relative == math.inf
    same = stats.numeric(stats.SortedColumn.of(np.array([5.0])), stats.SortedColumn.of(np.array([5.0, 5.0])))
    assert (same.wasserstein, same.wasserstein_relative, same.psi) == (0.0, 0.0, 0.0)
    apart = stats.numeric(stats.SortedColumn.of(np.array([5.0])), stats.SortedColumn.of(np.array([6.0])))
    assert (apart.reference_shares, apart.current_shares) == ((1.0, 0.0), (0.0, 1.0))
    assert apart.psi == pytest.approx(2 * (1 - 1e-4) * math.log(1 / 1e-4), rel=1e-12)


def test_a_reference_of_only_missing_values_has_no_psi_edges() -> None:
    edges = stats.psi_edges(stats.SortedColumn.of(np.array([np.nan, np.nan])), 10)
    assert edges.shape == (0,)


@pytest.mark.parametrize(("ref", "cur"), [([], [1.0, 2.0]), ([1.0, 2.0], []), ([np.nan], [1.0])])
def test_an_empty_sample_is_refused(ref: list[float], cur: list[float]) -> None:
    with pytest.raises(ValueError, match=r"^both samples need at least one value$"):
        stats.numeric(stats.SortedColumn.of(np.array(ref)), stats.SortedColumn.of(np.array(cur)))


def test_when_the_exact_p_value_fails_the_asymptotic_one_is_reported_as_scipy_does() -> None:
    """At 10000 a side with D = 1e-4 scipy's exact recursion answers a probability above 1, so
    ``ks_2samp`` warns and switches to the asymptotic distribution."""
    ref = np.arange(10_000, dtype=np.float64)
    cur = ref + 0.5
    with pytest.warns(RuntimeWarning, match="Exact calculation unsuccessful"):
        theirs = sps.ks_2samp(ref, cur)
    ours = stats.numeric(stats.SortedColumn.of(ref), stats.SortedColumn.of(cur))
    assert ours.ks_statistic == pytest.approx(1e-4, rel=1e-12) == float(theirs.statistic)
    assert ours.ks_method == "asymp"
    assert ours.ks_pvalue == float(theirs.pvalue)


@pytest.mark.parametrize("n", [7, 10, 37, 141, 1000])
@pytest.mark.parametrize("x", [0.01, 0.05, 0.1, 0.3, 0.5, 0.7, 0.99])
def test_smirnov_tail_equals_scipy_for_every_size_and_deviation(n: int, x: float) -> None:
    from scipy import special

    assert stats.smirnov_sf(n, x) == pytest.approx(float(special.smirnov(n, x)), rel=1e-11, abs=1e-300)


def test_ks_and_wasserstein_equal_scipy_when_the_current_side_spans_several_chunks() -> None:
    rng = np.random.default_rng(17)
    ref, cur = rng.normal(size=1000), rng.normal(0.1, size=stats.CHUNK + 40_000)
    ours = stats.numeric(stats.SortedColumn.of(ref), stats.SortedColumn.of(cur))
    theirs = sps.ks_2samp(ref, cur)
    assert ours.ks_statistic == float(theirs.statistic)
    assert ours.ks_pvalue == pytest.approx(float(theirs.pvalue), rel=1e-9)
    assert ours.wasserstein == pytest.approx(sps.wasserstein_distance(ref, cur), rel=1e-9)


def test_categories_come_most_frequent_first_ties_by_name_and_absent_ones_count_zero() -> None:
    """Reference b 5, c 5, a 3; current b 4, z 2 (c and a absent, z unseen)."""
    ref = stats.CategoryCounts.of(np.array(["a"] * 3 + ["c"] * 5 + ["b"] * 5, dtype=object))
    cur = stats.CategoryCounts.of(np.array(["z", "b", "b", "z", "b", "b"], dtype=object))
    st = stats.categorical(ref, cur)
    assert st.categories == ("b", "c", "a", "z")
    assert st.reference_counts == (5, 5, 3, 0)
    assert st.current_counts == (4, 0, 0, 2)
    assert (st.n_reference, st.n_current) == (13, 6)
    assert st.unseen == {"z": 2}
    r = np.array([5 / 13, 5 / 13, 3 / 13, 1e-4])
    c = np.array([4 / 6, 1e-4, 1e-4, 2 / 6])
    assert st.psi == pytest.approx(float(np.sum((c - r) * np.log(c / r))), rel=1e-12)
    theirs = sps.chi2_contingency(np.array([[5, 5, 3, 0], [4, 0, 0, 2]]))
    assert (st.chi2, st.chi2_pvalue, st.chi2_dof) == (
        pytest.approx(theirs.statistic),
        pytest.approx(theirs.pvalue),
        3,
    )


@pytest.mark.parametrize("n_current", [4, 0])
def test_a_single_category_is_no_evidence_of_drift(n_current: int) -> None:
    ref = stats.CategoryCounts.of(np.array(["a"] * 10, dtype=object))
    cur = stats.CategoryCounts.of(np.array(["a"] * n_current, dtype=object))
    st = stats.categorical(ref, cur)
    assert (st.chi2, st.chi2_pvalue, st.chi2_dof) == (0.0, 1.0, 0)
    assert st.categories == ("a",) and st.current_counts == (n_current,)


@pytest.mark.parametrize(
    ("pvalues", "adjusted"),
    [
        ([0.6, 0.7], [1.0, 1.0]),  # 2 x 0.6 capped at 1, and never below an earlier step
        ([0.02, 0.3, 0.5], [0.06, 0.6, 0.6]),
        ([0.5, 0.01, 0.2], [0.5, 0.03, 0.4]),
        ([0.04], [0.04]),
        ([], []),
    ],
)
def test_holm_adjusted_p_values_by_hand(pvalues: list[float], adjusted: list[float]) -> None:
    assert stats.holm(pvalues) == pytest.approx(adjusted, rel=1e-12)


@pytest.mark.parametrize(
    ("n", "nx2"),
    [
        (140, 4.0),
        (141, 2.19),
        (1000, 0.5**2 * 1000),
        (200, 0.5**2 * 200),
        (1000, 0.7**2 * 1000),
        (60_000, 1.0),
    ],
)
def test_kstwo_tail_outside_the_smirnov_region_is_scipys_to_the_bit(n: int, nx2: float) -> None:
    """At n <= 140, n x^2 < 2.2 or x >= 0.5 scipy uses other formulas (Durbin's matrix, the
    exact two-sided tail), which differ from the doubled one-sided sum by 1e-15 to 1e-5."""
    x = 0.5 if nx2 == 0.25 * n else math.sqrt(nx2 / n)
    assert stats.kstwo_sf(x, n) == float(sps.kstwo.sf(x, n))


def test_a_date_column_has_the_same_categories_typed_or_as_objects() -> None:
    """The reference reaches CategoryCounts as its own array, the current window as objects:
    a datetime64 column must count under the same names both ways, or every date is 'unseen'."""
    dates = np.array(["2024-01-01", "2024-01-01", "2024-02-01"], dtype="datetime64[ns]")
    typed, objects = stats.CategoryCounts.of(dates), stats.CategoryCounts.of(dates.astype(object))
    assert typed.counts == objects.counts
    assert stats.categorical(typed, objects).unseen == {}
