"""The outlier guard at its thresholds: an input exactly ``input_z`` robust deviations away is not
flagged, the next float beyond is; predictions exactly at a bound are not flagged, beyond it are;
the single-row path and the batch path agree row for row."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from mlrelease.config import Bounds, OutlierConfig
from mlrelease.serve.outliers import OutlierGuard, PredictionBounds, prediction_bounds
from mlrelease.signature import FieldSpec, PredictionStats, Signature

# median 100, scaled MAD 10: the default z of 6 puts the thresholds at exactly 40 and 160
AREA = FieldSpec("area_m2", "number", median=100.0, mad=10.0)
DISTRICT = FieldSpec("district", "string", categories=("Bystrc", "Líšeň"))
SIGNATURE = Signature(fields=(AREA, DISTRICT))
FAR = "input_far:area_m2"

ROWS = [
    (160.0, []),  # exactly 6 deviations above: not beyond the threshold
    (math.nextafter(160.0, math.inf), [FAR]),
    (40.0, []),  # exactly 6 below
    (math.nextafter(40.0, 0.0), [FAR]),
    (159.0, []),
    (161.0, [FAR]),
    (None, []),  # a missing value is not an outlier
    (100, []),  # an integer
    (1000, [FAR]),
]


def guard(cfg: OutlierConfig | None = None, signature: Signature = SIGNATURE) -> OutlierGuard:
    return OutlierGuard(cfg or OutlierConfig(), signature)


def columns(areas: list, districts: list | None = None) -> dict[str, list]:
    return {"area_m2": areas, "district": districts or ["Bystrc"] * len(areas)}


@pytest.mark.parametrize(("area", "flags"), ROWS, ids=[repr(a) for a, _ in ROWS])
def test_one_row_is_flagged_only_beyond_the_input_z_threshold(area, flags):
    assert guard().check(columns([area]), np.array([1.0])) == [flags]


def test_a_batch_flags_exactly_the_rows_beyond_the_threshold():
    areas = [a for a, _ in ROWS]
    got = guard().check(columns(areas), np.ones(len(areas)))
    assert got == [f for _, f in ROWS]


def test_the_configured_input_z_moves_the_threshold():
    """z = 3: 130 is exactly at it, 131 beyond; for one row and in a batch."""
    g = guard(OutlierConfig(input_z=3))
    assert g.check(columns([130.0]), np.array([1.0])) == [[]]
    assert g.check(columns([131.0]), np.array([1.0])) == [[FAR]]
    assert g.check(columns([130.0, 131.0, 69.0, 70.0]), np.ones(4)) == [[], [FAR], [FAR], []]
    assert guard(OutlierConfig(input_z=20)).check(columns([161.0, 301.0]), np.ones(2)) == [[], [FAR]]


def test_a_column_without_spread_in_the_reference_is_never_far():
    flat = Signature(fields=(FieldSpec("area_m2", "number", median=100.0, mad=0.0), DISTRICT))
    assert guard(signature=flat).check(columns([1e9, -1e9]), np.ones(2)) == [[], []]


def test_unseen_categories_are_flagged_per_row():
    got = guard().check(columns([100.0] * 3, ["Bystrc", "Praha", None]), np.ones(3))
    assert got == [[], ["unseen_category:district"], []]


@pytest.mark.parametrize(
    ("prediction", "flag"),
    [
        (5.0e7, None),  # exactly at the configured max
        (math.nextafter(5.0e7, math.inf), "prediction_above_max"),
        (1.0e6, None),  # exactly at the configured min
        (math.nextafter(1.0e6, 0.0), "prediction_below_min"),
        (math.inf, "prediction_not_finite"),
        (math.nan, "prediction_not_finite"),
    ],
)
def test_predictions_are_flagged_only_beyond_their_bounds(prediction, flag):
    cfg = OutlierConfig(prediction=Bounds(min=1.0e6, max=5.0e7))
    one = guard(cfg).check(columns([100.0]), np.array([prediction]))
    assert one == [[flag] if flag else []]
    batch = guard(cfg).check(columns([100.0, 100.0]), np.array([3.0e6, prediction]))
    assert batch == [[], [flag] if flag else []]


def test_learned_bounds_widen_the_validation_spread_by_the_margin():
    stats = Signature(fields=(AREA,), prediction=PredictionStats(min=10.0, max=20.0, p01=11.0, p99=19.0))
    assert prediction_bounds(OutlierConfig(), stats) == PredictionBounds(5.0, 25.0)  # 0.5 * (20 - 10)
    # a configured side replaces the learned one; the other side is still learned (margin 1.0 * 10)
    wide = OutlierConfig(learn_margin=1.0)
    upper, lower = replace(wide, prediction=Bounds(max=40.0)), replace(wide, prediction=Bounds(min=-5.0))
    assert prediction_bounds(upper, stats) == PredictionBounds(0.0, 40.0)
    assert prediction_bounds(lower, stats) == PredictionBounds(-5.0, 30.0)
    configured = prediction_bounds(OutlierConfig(prediction=Bounds(min=1.0, max=2.0)), stats)
    assert configured == PredictionBounds(1.0, 2.0)
    # without validation predictions only what is configured bounds them
    unknown = Signature(fields=(AREA,))
    assert prediction_bounds(OutlierConfig(), unknown) == PredictionBounds(None, None)
    capped = OutlierConfig(prediction=Bounds(max=3.0))
    assert prediction_bounds(capped, unknown) == PredictionBounds(None, 3.0)
    g = OutlierGuard(OutlierConfig(), stats)
    assert g.check({"area_m2": [100.0] * 3}, np.array([25.0, 25.5, 4.5])) == [
        [],
        ["prediction_above_max"],
        ["prediction_below_min"],
    ]


def test_a_disabled_guard_flags_nothing():
    g = OutlierGuard(OutlierConfig(input_z=0.1), SIGNATURE, enabled=False)
    assert g.check(columns([1e9]), np.array([math.nan])) == [[]]


def test_label_predictions_get_no_prediction_flags():
    assert guard().check(columns([100.0]), np.array(["high"])) == [[]]
    assert guard().check(columns([100.0, 1000.0]), np.array(["high", "low"])) == [[], [FAR]]


def test_integer_predictions_are_checked_like_float_ones():
    cfg = OutlierConfig(prediction=Bounds(min=1, max=5))
    for predictions in ([9], [3, 9, 0]):
        flags = guard(cfg).check(columns([100.0] * len(predictions)), np.array(predictions, dtype=np.int64))
        expected = {9: ["prediction_above_max"], 0: ["prediction_below_min"], 3: []}
        assert flags == [expected[p] for p in predictions]


def test_a_batch_flags_each_prediction_by_the_side_it_left():
    """Exactly at a bound is inside in a batch as on one row; NaN is not finite, not below."""
    g = guard(OutlierConfig(prediction=Bounds(min=1.0, max=5.0)))
    got = g.check(columns([100.0] * 5), np.array([1.0, 5.0, math.nan, 5.5, 0.5]))
    assert got == [[], [], ["prediction_not_finite"], ["prediction_above_max"], ["prediction_below_min"]]
    upper_only = guard(OutlierConfig(prediction=Bounds(max=5.0)))
    assert upper_only.check(columns([100.0] * 2), np.array([-1e300, 6.0])) == [[], ["prediction_above_max"]]
    lower_only = guard(OutlierConfig(prediction=Bounds(min=1.0)))
    assert lower_only.check(columns([100.0] * 2), np.array([1e300, 0.0])) == [[], ["prediction_below_min"]]
