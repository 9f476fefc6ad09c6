"""The request path's whole-batch shortcuts answer exactly what their value-by-value forms
answer: validation of whole columns, outlier flags of a batch, histograms observed once per
request, and the request log line rendered from pre-rendered parts."""

from __future__ import annotations

import io
import json
import random
import time
from dataclasses import replace
from typing import Any

import numpy as np
import orjson
import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from mlrelease.config import Bounds, OutlierConfig
from mlrelease.serve.logs import LABELS, Clock, RequestLog, rfc3339
from mlrelease.serve.metrics import FastHistogram
from mlrelease.serve.outliers import OutlierGuard
from mlrelease.serve.schema import BadRequest, Validator
from mlrelease.signature import FieldSpec, PredictionStats, Signature

SIG = Signature(
    fields=(
        FieldSpec("area", "number", min=20, max=200, median=60, mad=20),
        FieldSpec("rooms", "integer", min=1, max=7, median=3, mad=1),
        FieldSpec("note", "number", nullable=True),
        FieldSpec("district", "string", categories=("Bohunice", "Líšeň")),
        FieldSpec("new", "boolean"),
    ),
    target="price",
    task="regression",
    prediction=PredictionStats(min=1e6, max=1e7, p01=1.1e6, p99=9e6),
)


def _row(rng: random.Random) -> dict[str, Any]:
    return {
        "area": rng.choice([55.5, 70, 1e4, 5, 61.25]),
        "rooms": rng.choice([1, 3, 3.0, 40]),
        "note": rng.choice([None, 1, 2.5]),
        "district": rng.choice(["Bohunice", "Líšeň", "Nowhere"]),
        "new": rng.choice([True, False, 0, 1]),
        "extra": "ignored",
    }


def _one_by_one(v: Validator, rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {name: [] for name in v.names}
    for row in rows:
        for name, values in v.records([row], "body").items():
            out[name].extend(values)
    return out


@pytest.mark.parametrize("seed", range(20))
def test_a_batch_validates_to_the_columns_its_rows_validate_to_one_by_one(seed):
    rng = random.Random(seed)
    v = Validator(SIG, max_rows=100)
    rows = [_row(rng) for _ in range(rng.choice([4, 5, 17]))]
    if seed % 2:  # all plainly valid: the whole-column way answers
        for row in rows:
            row.update(note=2.5, rooms=3, new=True)
    want = _one_by_one(v, rows)
    for got in (
        v.records(rows, "body"),
        v.rows([[r[n] for n in v.names] for r in rows], None, "instances"),
        v.columns({n: [r[n] for r in rows] for n in v.names}, "inputs"),
    ):
        assert got == want
        assert [[type(x) for x in col] for col in got.values()] == [
            [type(x) for x in col] for col in want.values()
        ]


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("big", "expected a number, got string"),
        (True, "expected a number, got boolean"),
        (float("nan"), "expected a finite number"),
        (float("inf"), "expected a finite number"),
        (None, "must not be null"),
    ],
)
def test_one_bad_value_in_a_batch_is_named_by_row_and_field(value, error):
    v = Validator(SIG, max_rows=100)
    rows = [[61.0, 3, 1.0, "Bohunice", True] for _ in range(10)]
    rows[7][0] = value
    with pytest.raises(BadRequest) as exc:
        v.rows(rows, None, "instances")
    assert exc.value.status == 422
    assert exc.value.problems == [{"row": 7, "field": "area", "error": error, "value": value}]


def test_finite_numbers_whose_sum_overflows_are_accepted_whole_and_an_infinity_among_them_is_not():
    v = Validator(SIG, max_rows=100)
    rows = [[1.7e308, 3, -1.7e308 if i % 3 == 0 else 1.0, "Bohunice", True] for i in range(6)]
    assert v.rows(rows, None, "instances")["area"] == [1.7e308] * 6
    rows[5][2] = float("inf")  # the column's sum is NaN, as with the overflow above
    with pytest.raises(BadRequest) as exc:
        v.rows(rows, None, "instances")
    assert [(p["row"], p["field"]) for p in exc.value.problems] == [(5, "note")]


def test_an_integer_beyond_64_bits_in_a_batch_is_refused():
    v = Validator(SIG, max_rows=100)
    rows = [[61.0, 3, 1.0, "Bohunice", True] for _ in range(6)]
    rows[4][1] = 2**63
    with pytest.raises(BadRequest) as exc:
        v.rows(rows, None, "instances")
    assert [(p["row"], p["field"]) for p in exc.value.problems] == [(4, "rooms")]


def test_an_absent_nullable_column_is_nulls_in_a_batch():
    v = Validator(SIG, max_rows=100)
    names = ["area", "rooms", "district", "new"]
    rows = [[61.0, 3, "Bohunice", True] for _ in range(5)]
    want = {
        "area": [61.0] * 5,
        "rooms": [3] * 5,
        "note": [None] * 5,
        "district": ["Bohunice"] * 5,
        "new": [True] * 5,
    }
    assert v.rows(rows, names, "dataframe_split.data") == want
    assert v.columns({n: [r[j] for r in rows] for j, n in enumerate(names)}, "inputs") == want


def test_the_flags_of_a_batch_are_the_flags_of_its_rows_one_by_one():
    cfg = OutlierConfig(prediction=Bounds(min=1e6, max=2e7), inputs={"rooms": Bounds(max=6)})
    guard = OutlierGuard(cfg, SIG)
    rng = random.Random(1)
    columns: dict[str, list[Any]] = {
        "area": [rng.choice([60.0, 1e4, -500.0, 61.0]) for _ in range(200)],
        "rooms": [rng.choice([3, 9, 2]) for _ in range(200)],
        "note": [rng.choice([None, 1.0]) for _ in range(200)],
        "district": [rng.choice(["Bohunice", "Nowhere", "Líšeň"]) for _ in range(200)],
        "new": [True] * 200,
    }
    preds = np.array([rng.choice([5e6, 3e7, 1.0, float("nan"), float("inf")]) for _ in range(200)])
    batch = guard.check(columns, preds)
    one_by_one = [
        guard.check({k: [v[i]] for k, v in columns.items()}, preds[i : i + 1])[0] for i in range(200)
    ]
    assert batch == one_by_one
    seen = {f for row in batch for f in row}
    assert seen >= {
        "input_far:area",
        "input_below_min:area",
        "input_above_max:rooms",
        "unseen_category:district",
        "prediction_above_max",
        "prediction_below_min",
        "prediction_not_finite",
    }
    assert batch[0] is not batch[1]


def test_a_batch_clear_of_every_numeric_bound_but_one_edge_value_is_flagged_as_that_row_alone():
    """Batches are cleared by one comparison against each column's narrowest bounds; a value on
    or one step beside a bound gets the flags its row gets checked alone."""
    guard = OutlierGuard(OutlierConfig(inputs={"rooms": Bounds(min=1.5, max=6)}), SIG)
    edges: list[tuple[str, float]] = []
    for name, median, mad in guard.numeric:
        edges += [(name, median - guard.z * mad), (name, median + guard.z * mad)]
    edges += [(r.name, b) for r in guard.ranges for b in (r.min, r.max) if b is not None]
    normal = {"area": 60.0, "rooms": 3, "note": 1.0, "district": "Bohunice", "new": True}
    flagged = 0
    for name, edge in edges:
        for value in (np.nextafter(edge, -np.inf), edge, np.nextafter(edge, np.inf)):
            columns = {k: [v] * 6 for k, v in normal.items()}
            columns[name][3] = float(value)
            preds = np.full(6, 5e6)
            batch = guard.check(columns, preds)
            alone = guard.check({k: [v[3]] for k, v in columns.items()}, preds[:1])[0]
            assert batch == [[], [], [], alone, [], []], (name, value)
            flagged += bool(alone)
    assert flagged >= len(edges)  # one side of each edge is out


@pytest.mark.parametrize("odd", [float("inf"), float("-inf"), float("nan"), 2e7 + 1, 1e6 - 1])
@pytest.mark.parametrize("bounds", [Bounds(min=1e6, max=2e7), Bounds(min=1e6), Bounds(max=2e7)])
def test_one_odd_prediction_among_good_ones_is_flagged(odd, bounds):
    guard = OutlierGuard(OutlierConfig(prediction=bounds), replace(SIG, prediction=None))
    columns = {"area": [60.0] * 5, "rooms": [3] * 5, "note": [1.0] * 5, "district": ["Bohunice"] * 5}
    preds = np.array([5e6, 5e6, odd, 5e6, 5e6])
    flags = guard.check({**columns, "new": [True] * 5}, preds)
    alone = guard.check({k: [v[0]] for k, v in {**columns, "new": [True]}.items()}, preds[2:3])[0]
    assert flags == [[], [], alone, [], []]
    above = bounds.max is not None and odd > bounds.max
    below = bounds.min is not None and odd < bounds.min
    assert bool(alone) == (not np.isfinite(odd) or above or below)


def _exposition(registry: CollectorRegistry) -> list[str]:
    return [line for line in generate_latest(registry).decode().splitlines() if "_created" not in line]


@pytest.mark.parametrize("buckets", [(0.001, 0.01, 0.1, 1), (-1e3, -1, 0, 1, 1e3)])
def test_a_fast_histogram_exposes_what_prometheus_clients_histogram_would(buckets):
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    fast = FastHistogram("x_seconds", "help", buckets, ours, ("route",))
    slow = Histogram("x_seconds", "help", ["route"], buckets=buckets, registry=theirs)
    plain_fast = FastHistogram("y_value", "help", buckets, ours)
    plain_slow = Histogram("y_value", "help", buckets=buckets, registry=theirs)
    values = [*buckets, 0.0005, 0.05, 5.0, -2.0, 1e9, 0.1]  # on the bounds too
    for i, x in enumerate(values):
        route = "/a" if i % 2 else "/b"
        fast.labels(route).observe(x)
        slow.labels(route).observe(x)
        plain_slow.observe(x)
    plain_fast.observe_many(np.array(values))
    assert _exposition(ours) == _exposition(theirs)
    names = {line.split("{")[0].split(" ")[0] for line in generate_latest(ours).decode().splitlines()}
    assert "x_seconds_created" in names and "y_value_created" in names


def test_the_clock_writes_what_datetime_writes():
    clock = Clock()
    rng = random.Random(2)
    now = time.time()
    edges = [now // 1 + 0.9999995, now // 1 + 0.9999994, now // 1 + 0.0000005, now // 1 + 2.5e-6]
    stamps = edges + [now + rng.random() * 1e4 for _ in range(20_000)]
    assert [clock(t) for t in stamps] == [rfc3339(t) for t in stamps]


KEYS = [
    "severity",
    "message",
    "time",
    LABELS,
    "httpRequest",
    "logging.googleapis.com/trace",
    "logging.googleapis.com/spanId",
    "logging.googleapis.com/trace_sampled",
    "schema",
    "rows",
    "sampled",
    "inputs",
    "predictions",
    "flags",
    "outlier_rows",
]


def test_request_lines_are_compact_json_with_the_documented_keys_in_order():
    stream = io.StringIO()
    log = RequestLog("m", "v1", stream=stream)
    base = {
        "method": "POST",
        "url": "/predict",
        "route": "/predict",
        "status": 200,
        "latency": 0.0012,
        "response_size": 90,
        "request_size": 80,
        "rows": 2,
        "predictions": [1.5, 2.5],
        "sampled": True,
        "columns": {"a": [1.0, 2.0], "b": ["x", "ž"]},
    }
    log.put({**base, "t": 1.0, "flags": [[], []]})
    log.put({**base, "t": 2.0, "flags": [[], ["input_far:a"]]})
    log.put({**base, "t": 3.0, "flags": [[], []], "trace_header": "105445aa7843bc8bf206b12000100000/7;o=1"})
    log.close()
    lines = [ln for ln in stream.getvalue().splitlines() if ln]
    request = [ln for ln in lines if '"event":"request"' in ln]
    assert len(request) == 3 and len(lines) == 4  # and the outlier line of the second
    for raw in request:
        line = json.loads(raw)
        assert orjson.dumps(line).decode() == raw
        assert list(line) == [k for k in KEYS if k in line]
        assert line["inputs"] == [{"a": 1.0, "b": "x"}, {"a": 2.0, "b": "ž"}]
    outliers = [json.loads(raw)[LABELS]["outlier"] for raw in request]
    assert outliers == ["false", "true", "false"]
    assert [json.loads(raw)["severity"] for raw in request] == ["INFO", "WARNING", "INFO"]
    assert json.loads(request[2])["logging.googleapis.com/spanId"] == "7"


def test_a_batch_whose_only_outlier_is_above_a_range_is_flagged():
    guard = OutlierGuard(OutlierConfig(inputs={"rooms": Bounds(max=6)}), SIG)
    columns: dict[str, list[Any]] = {
        "area": [60.0] * 5,
        "rooms": [3, 3, 9, 3, 3],  # z = 6: not far; above the configured 6
        "note": [None] * 5,
        "district": ["Bohunice"] * 5,
        "new": [True] * 5,
    }
    assert guard.check(columns, np.full(5, 5e6)) == [[], [], ["input_above_max:rooms"], [], []]


def test_a_batch_hands_back_its_rows_only_when_the_columns_hold_their_values_unchanged():
    v = Validator(SIG, 100)
    plain = [{"area": 55.5, "rooms": 3, "note": 1.5, "district": "Bohunice", "new": True}] * 4
    columns, sent = v.read_records(plain, "records")
    assert sent is plain and columns == _one_by_one(v, plain)
    # each normalised on the way, or a null (checked value by value)
    for change in ({"area": 70}, {"rooms": 3.0}, {"new": 1}, {"note": None}):
        rows = [plain[0], {**plain[0], **change}, plain[0], plain[0]]
        columns, sent = v.read_records(rows, "records")
        assert sent is None and columns == _one_by_one(v, rows)
    missing = [{k: x for k, x in plain[0].items() if k != "note"}] * 4  # a nullable field left out
    assert v.read_records(missing, "records")[1] is None


def test_a_signature_without_fields_takes_empty_rows():
    assert Validator(Signature(()), 10).records([{}] * 4, "body") == {}


def test_a_batch_hands_back_its_rows_only_when_they_have_exactly_the_fields_in_order():
    v = Validator(SIG, 100)
    row = {"area": 55.5, "rooms": 3, "note": 1.5, "district": "Bohunice", "new": True}
    other = {"rooms": 4, "area": 60.5, "note": None, "district": "Líšeň", "new": False}
    plain = [row, {k: other[k] for k in row}, row, row]
    reordered = [row, other, row, row]  # one row in another order
    extra = [row, {**row, "kitchen": 1}, row, row]  # a field the model does not take
    assert v.read_records(plain, "records") == (_one_by_one(v, plain), None)  # a null in it
    plain[1]["note"] = 2.5
    assert v.read_records(plain, "records")[1] is plain
    for rows in ([row, {**other, "note": 2.5}, row, row], extra):
        columns, sent = v.read_records(rows, "records")
        assert sent is None and columns == _one_by_one(v, rows)
    assert v.read_records(reordered, "records") == (_one_by_one(v, reordered), None)


def test_a_line_that_cannot_be_formatted_is_logged_as_an_error_and_the_caller_goes_on():
    stream = io.StringIO()
    log = RequestLog("m", "v1", stream=stream)
    log.put({"t": 1.0, "method": "POST", "url": "/predict", "route": "/predict"})  # no status
    log.put({"t": 2.0, "method": "GET", "url": "/x", "route": "/x", "status": 404, "latency": 0.001})
    log.close()
    first, second = (json.loads(ln) for ln in stream.getvalue().splitlines() if ln)
    assert first["severity"] == "ERROR" and first["message"].startswith("log line dropped: KeyError")
    assert second["httpRequest"]["status"] == 404


def test_sent_records_are_logged_only_when_they_are_the_columns_records():
    stream = io.StringIO()
    log = RequestLog("m", "v1", stream=stream)
    columns = {"a": [1.0, 2.0], "b": ["x", "ž"]}
    base = {"method": "POST", "url": "/predict", "route": "/predict", "status": 200, "latency": 0.001}
    base |= {"rows": 2, "predictions": [1.5, 2.5], "sampled": True, "columns": columns, "flags": [[], []]}
    exact = [{"a": 1.0, "b": "x"}, {"a": 2.0, "b": "ž"}]
    for t, sent in enumerate(
        [
            None,
            exact,
            [{"b": "x", "a": 1.0}, {"b": "ž", "a": 2.0}],  # another order
            [{"a": 1.0, "b": "x", "c": 0}, {"a": 2.0, "b": "ž", "c": 0}],  # an extra key
        ]
    ):
        log.put({**base, "t": float(t), **({"records": sent} if sent is not None else {})})
    log.close()
    lines = [ln for ln in stream.getvalue().splitlines() if ln]
    assert len(lines) == 4
    assert len({ln.split('"time"')[1].split(",", 1)[1] for ln in lines}) == 1  # byte for byte, past the time
    assert [list(r) for r in json.loads(lines[2])["inputs"]] == [["a", "b"], ["a", "b"]]
