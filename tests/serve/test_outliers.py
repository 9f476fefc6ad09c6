"""The outlier guard's input checks: the reference's range per column (with a margin, or bounds
from the config) beside the robust z score, on one row and on a batch, and over real sockets."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from servekit import payload, with_serving

from mlrelease.config import Bounds, OutlierConfig
from mlrelease.errors import ConfigError
from mlrelease.serve.batching import Table
from mlrelease.serve.outliers import OutlierGuard
from mlrelease.signature import FieldSpec, Signature

# A skewed column as a listing site's floor areas are: most near the median, a long right tail.
AREA = FieldSpec("floor_area_m2", "number", min=356.0, max=5000.0, median=1000.0, mad=980.0)
SIGNATURE = Signature((AREA, FieldSpec("rooms", "integer", min=1.0, max=7.0, median=3.0, mad=1.48)))
SPAN = AREA.max - AREA.min
LOW = AREA.min - 0.5 * SPAN  # -1966: the learned lower bound with the default margin
HIGH = AREA.max + 0.5 * SPAN  # 7322
DEFAULT = OutlierConfig()
Z_HIGH = AREA.median + 6 * AREA.mad  # 6880: the z threshold, inside the range


def flags_of(values: list[float | None], cfg: OutlierConfig = DEFAULT) -> list[list[str]]:
    guard = OutlierGuard(cfg, SIGNATURE)
    columns = {"floor_area_m2": values, "rooms": [3] * len(values)}
    one_by_one = [
        guard.check({k: [v[i]] for k, v in columns.items()}, np.zeros(1))[0] for i in range(len(values))
    ]
    batch = guard.check(columns, np.zeros(len(values)))
    assert batch == one_by_one  # the single-row shortcut and the vectorised batch agree
    assert guard.check(columns, np.zeros(len(values)), as_read(columns)) == batch  # the model's table
    return batch


def as_read(columns: dict[str, list]) -> Table:
    """The columns as a predictor's table: float64, in its own order, beside a column of codes."""
    names = list(columns)[::-1]
    matrix = np.column_stack(
        [np.zeros(len(columns[names[0]]))] + [np.array(columns[n], dtype=float) for n in names]
    )
    return Table(matrix, {n: j + 1 for j, n in enumerate(names)})


def test_a_batch_is_checked_on_the_inputs_the_model_read():
    guard = OutlierGuard(DEFAULT, SIGNATURE)
    columns = {"floor_area_m2": [1000.0, 1000.0, 1000.0], "rooms": [3, 3, 3]}
    read = as_read({"floor_area_m2": [1000.0, -2400.0, 1000.0], "rooms": [3, 3, 40]})
    want = [[], ["input_below_min:floor_area_m2"], ["input_far:rooms", "input_above_max:rooms"]]
    assert guard.check(columns, np.zeros(3), read) == want
    moved = Table(read.matrix[:, ::-1], {n: read.matrix.shape[1] - 1 - j for n, j in read.at.items()})
    assert guard.check(columns, np.zeros(3), moved) == want  # another model's layout, same values
    assert guard.check(columns, np.zeros(3), read) == want
    lacking = Table(read.matrix, {"floor_area_m2": read.at["floor_area_m2"]})  # rooms was encoded
    assert guard.check(columns, np.zeros(3), lacking) == [[]] * 3  # from the columns themselves


def test_an_impossible_value_on_a_skewed_column_is_flagged_though_its_z_is_small():
    z = abs(-2400 - AREA.median) / AREA.mad
    assert z < OutlierConfig().input_z  # 3.47: the z score alone lets it through
    assert flags_of([-2400.0]) == [["input_below_min:floor_area_m2"]]


def test_range_boundaries_just_inside_and_just_outside_on_both_sides():
    below, inside_low = np.nextafter(LOW, -np.inf), LOW
    inside_high, above = HIGH, np.nextafter(HIGH, np.inf)
    got = flags_of([below, inside_low, 1000.0, inside_high, above, None])
    assert got[0] == ["input_below_min:floor_area_m2"]
    assert got[1] == [] and got[2] == [] and got[5] == []
    assert "input_far:floor_area_m2" in got[3] and "input_above_max:floor_area_m2" not in got[3]
    assert "input_above_max:floor_area_m2" in got[4]


def test_z_threshold_boundaries_inside_the_range():
    at, past = Z_HIGH, np.nextafter(Z_HIGH, np.inf)
    assert at < HIGH
    assert flags_of([at, past]) == [[], ["input_far:floor_area_m2"]]


def test_configured_bounds_replace_the_learned_range_on_their_side_only():
    cfg = OutlierConfig(inputs={"floor_area_m2": Bounds(min=10.0)})
    got = flags_of([9.999, 10.0, 7322.0, 7323.0], cfg)
    assert got == [["input_below_min:floor_area_m2"], [], ["input_far:floor_area_m2"], got[3]]
    assert "input_above_max:floor_area_m2" in got[3]  # the learned upper side still holds
    assert flags_of([-1000.0], cfg) == [["input_below_min:floor_area_m2"]]  # inside the learned range


def test_the_margin_is_configurable_and_zero_means_the_reference_range():
    cfg = OutlierConfig(input_range_margin=0)
    assert flags_of([355.9, 356.0, 5000.0, 5000.1], cfg) == [
        ["input_below_min:floor_area_m2"],
        [],
        [],
        ["input_above_max:floor_area_m2"],
    ]


@pytest.mark.parametrize(
    ("name", "why"), [("floor_area", "is not an input"), ("city", "is not a numeric input")]
)
def test_bounds_for_a_column_the_model_does_not_take_are_a_config_error(name, why):
    sig = Signature((*SIGNATURE.fields, FieldSpec("city", "string", categories=("Brno",))))
    with pytest.raises(ConfigError) as err:
        OutlierGuard(OutlierConfig(inputs={name: Bounds(max=1.0)}), sig)
    assert str(err.value) == f"serving.outliers.inputs.{name}: {name!r} {why} of the model"
    assert err.value.hint == "numeric inputs: floor_area_m2, rooms"


def test_configured_upper_bound_keeps_the_learned_lower_side():
    cfg = OutlierConfig(inputs={"floor_area_m2": Bounds(max=6000.0)})
    assert flags_of([LOW, np.nextafter(LOW, -np.inf), 6000.0, 6000.5], cfg) == [
        [],
        ["input_below_min:floor_area_m2"],
        [],
        ["input_above_max:floor_area_m2"],
    ]


# a column whose reference range is unknown (median and spread only), as a hand-written signature has
FLOORS = FieldSpec("floors", "integer", median=3.0, mad=1.0)


@pytest.mark.parametrize(
    ("bounds", "values", "expected"),
    [
        (Bounds(min=1.0), [0.0, 1.0, 5.0], [["input_below_min:floors"], [], []]),
        (Bounds(max=5.0), [1.0, 5.0, 6.0], [[], [], ["input_above_max:floors"]]),
    ],
    ids=["min-only", "max-only"],
)
def test_one_configured_side_bounds_a_column_without_a_reference_range(bounds, values, expected):
    guard = OutlierGuard(OutlierConfig(inputs={"floors": bounds}, input_z=100), Signature((FLOORS,)))
    assert [guard.check({"floors": [v]}, np.zeros(1))[0] for v in values] == expected
    assert guard.check({"floors": values}, np.zeros(len(values))) == expected


def test_a_reference_range_known_on_one_side_only_learns_no_range():
    half = Signature((FieldSpec("floors", "integer", min=1.0, median=3.0, mad=1.0),))
    guard = OutlierGuard(OutlierConfig(), half)
    assert guard.ranges == []
    assert guard.check({"floors": [-1e6, 3]}, np.zeros(2)) == [["input_far:floors"], []]


def test_an_integer_column_far_from_its_median_is_flagged():
    """rooms: median 3, MAD 1.48, so z 6 puts the threshold at 11.88; the range is widened away."""
    rooms = OutlierGuard(OutlierConfig(input_range_margin=10), SIGNATURE)
    assert rooms.check({"floor_area_m2": [1000.0, 1000.0], "rooms": [11, 12]}, np.zeros(2)) == [
        [],
        ["input_far:rooms"],
    ]
    assert rooms.check({"floor_area_m2": [1000.0], "rooms": [12]}, np.zeros(1)) == [["input_far:rooms"]]


def test_a_small_spread_below_one_is_still_a_spread():
    tight = Signature((FieldSpec("ratio", "number", median=0.5, mad=0.1),))
    guard = OutlierGuard(OutlierConfig(), tight)  # thresholds 0.5 -+ 6 * 0.1: -0.1 and 1.1
    for values in ([1.0, 1.2], [0.0, -0.2]):  # each side alone in its batch
        assert guard.check({"ratio": values}, np.zeros(2)) == [[], ["input_far:ratio"]]


@pytest.mark.parametrize(
    ("bounds", "values", "expected"),
    [
        (Bounds(min=1.0), [1e300, 1.0, 0.5], [[], [], ["input_below_min:floors"]]),
        (Bounds(max=5.0), [-1e300, 5.0, 5.5], [[], [], ["input_above_max:floors"]]),
    ],
    ids=["min-only", "max-only"],
)
def test_a_column_with_one_configured_side_and_nothing_learned_is_open_on_the_other(bounds, values, expected):
    bare = Signature((FieldSpec("floors", "integer"),))  # no range, no median: only what is configured
    guard = OutlierGuard(OutlierConfig(inputs={"floors": bounds}), bare)
    assert guard.check({"floors": values}, np.zeros(len(values))) == expected
    assert guard.check({"floors": values[:2]}, np.zeros(2)) == [[], []]


def test_a_text_column_without_recorded_categories_is_never_an_unseen_category():
    sig = Signature((FieldSpec("listing_id", "string"), FieldSpec("city", "string", categories=("Brno",))))
    guard = OutlierGuard(OutlierConfig(), sig)
    rows = {"listing_id": ["BRN-1", "BRN-2"], "city": ["Brno", "Praha"]}
    assert guard.check(rows, np.zeros(2)) == [[], ["unseen_category:city"]]
    assert guard.check({k: v[:1] for k, v in rows.items()}, np.zeros(1)) == [[]]


def test_over_sockets_an_impossible_balcony_count_and_a_configured_bound_are_flagged(
    start_server, example_cfg, example_service
):
    cfg = with_serving(
        example_cfg,
        outliers=replace(example_cfg.serving.outliers, inputs={"area_m2": Bounds(min=20.0)}),
    )
    server = start_server(cfg, example_service)
    rows = payload("native.json")
    rows[0]["has_balcony"] = 2  # z about 2.1 (median 1, MAD 0.48), yet outside [0, 1] by a whole unit
    rows[1]["area_m2"] = 19.5  # z about 1.9; under the configured minimum of 20
    status, answer, headers = server.post("/predict", rows)
    assert status == 200, answer
    assert answer["flags"] == [["input_above_max:has_balcony"], ["input_below_min:area_m2"]]
    assert answer["outlier_rows"] == [0, 1] and headers["x-outlier-rows"] == "0,1"


def test_serve_refuses_bounds_for_an_unknown_column_with_exit_2(tmp_path):
    import shutil
    import subprocess
    import sys

    from servekit import REPO

    from mlrelease.serve import runner

    handoff = tmp_path / "clf"
    shutil.copytree(REPO / "tests" / "fixtures" / "eval-classification", handoff)
    config = handoff / "mlrelease.yaml"
    config.write_text(config.read_text() + "serving:\n  outliers:\n    inputs:\n      x3: {min: 0}\n")
    cmd = [sys.executable, "-m", "mlrelease", "serve", "-c", str(handoff), "--port", str(runner.free_port())]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "serving.outliers.inputs.x3: 'x3' is not an input of the model" in done.stderr
    assert "numeric inputs: x1, x2" in done.stderr and "Traceback" not in done.stderr
