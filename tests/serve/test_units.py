"""Pieces of the server on their own: the batcher's error isolation, validation, a model fitted
on a plain array (served from an array, and through a v2 [rows, columns] tensor)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from mlrelease.config import BatchingConfig
from mlrelease.serve.batching import Batcher, ModelFailed, Prediction, Table
from mlrelease.serve.schema import WHOLE_FROM, BadRequest, Validator, type_name
from mlrelease.signature import FieldSpec, Signature, infer_signature


def _predict(columns: dict[str, list]) -> np.ndarray:
    """Doubles x; raises on a poisoned value, as a model does on input it cannot take."""
    if -1 in columns["x"]:
        raise ValueError("x must not be -1")
    return np.array(columns["x"], dtype=float) * 2


def test_batcher_gathers_concurrent_requests_and_isolates_a_failing_one():
    calls: list[int] = []
    batcher = Batcher(
        _predict,
        lambda c, p, t: [[] for _ in p],
        BatchingConfig(max_wait_ms=2, max_rows=64),
        lambda r, n, s: calls.append(r),
    )

    async def main() -> list:
        return await asyncio.gather(
            *(batcher.submit({"x": [i]}, 1) for i in [1, 2, -1, 4, 5, 6]), return_exceptions=True
        )

    out = asyncio.run(main())
    batcher.close()
    assert [a.predictions for a in out if not isinstance(a, BaseException)] == [
        [2.0],
        [4.0],
        [8.0],
        [10.0],
        [12.0],
    ]
    assert isinstance(out[2], ModelFailed) and "must not be -1" in str(out[2])
    assert max(calls) > 1, "requests submitted together should share a model call"


def test_batcher_respects_max_rows():
    sizes: list[int] = []
    batcher = Batcher(
        _predict, lambda c, p, t: [[] for _ in p], BatchingConfig(max_rows=4), lambda r, n, s: sizes.append(n)
    )

    async def main() -> list:
        return await asyncio.gather(*(batcher.submit({"x": [i, i]}, 2) for i in range(10)))

    out = asyncio.run(main())
    batcher.close()
    assert [a.predictions for a in out] == [[2.0 * i, 2.0 * i] for i in range(10)]
    assert max(sizes) <= 4


def test_fast_predicts_run_on_the_event_loop_slow_ones_in_the_worker(example_service):
    """A predict measured under inline_max_ms runs on the event loop thread when the server is
    idle; one measured slower, or not measured yet, goes to the worker thread."""
    import threading
    import time

    from mlrelease.config import ServingConfig
    from mlrelease.serve.app import Features, ServerApp

    seen: list[str] = []

    def predict(columns: dict[str, list]) -> np.ndarray:
        seen.append(threading.current_thread().name)
        if len(columns["x"]) > 1:
            time.sleep(0.01)  # a 10 ms predict: too slow for the event loop
        return _predict(columns)

    batcher = Batcher(predict, lambda c, p, t: [[] for _ in p], BatchingConfig(inline_max_ms=1))
    assert asyncio.run(batcher.submit({"x": [3]}, 1)).predictions == [6.0]
    assert seen[-1].startswith("mlrelease-predict")  # first time: not measured, so the worker
    assert batcher.fast(1)
    asyncio.run(batcher.submit({"x": [4]}, 1))
    assert seen[-1] == "MainThread"
    batcher.warm({"x": [1, 2]}, 2)
    assert not batcher.fast(2)
    asyncio.run(batcher.submit({"x": [1, 2]}, 2))
    assert seen[-1].startswith("mlrelease-predict")
    batcher.close()

    never = Batcher(predict, lambda c, p, t: [[] for _ in p], BatchingConfig(inline_max_ms=0))
    for _ in range(2):
        asyncio.run(never.submit({"x": [3]}, 1))
        assert seen[-1].startswith("mlrelease-predict")
    never.close()

    # another client sent a request just now: the worker takes it, so the loop can read theirs
    chosen = Batcher(predict, lambda c, p, t: [[] for _ in p], BatchingConfig(inline_max_ms=1))
    chosen.warm({"x": [1]}, 1)
    asyncio.run(chosen.submit({"x": [3]}, 1, source=("127.0.0.1", 5001)))
    assert seen[-1] == "MainThread"
    asyncio.run(chosen.submit({"x": [3]}, 1, source=("127.0.0.1", 5002)))
    assert seen[-1].startswith("mlrelease-predict")
    chosen.close()

    for inline, limit in ((False, 0.0), (True, float("inf")), (None, 0.001)):
        app = ServerApp(example_service, ServingConfig(), features=Features(inline=inline))
        assert app.batcher.inline_max == limit
        app.shutdown()


def test_one_stalled_predict_keeps_a_fast_model_on_the_event_loop_a_slow_model_leaves_it():
    """The inline decision follows an estimate that a faster predict lowers at once and a slower
    one raises by RISE of the difference: one predict stalled past inline_max_ms (another process
    took the core) leaves the model on the event loop; a model slow every time leaves it within a
    few predicts, and one fast predict brings it back."""
    from mlrelease.serve.batching import RISE

    batcher = Batcher(_predict, lambda c, p, t: [[] for _ in p], BatchingConfig(inline_max_ms=1))
    batcher.note(100, 0.0002)
    batcher.note(100, 0.005)  # one stall, five times the budget
    assert batcher.cost[128] == pytest.approx(0.0002 + RISE * 0.0048)
    assert batcher.fast(100)
    slow = 0
    while batcher.fast(100):
        batcher.note(100, 0.005)
        slow += 1
    assert 1 <= slow <= 3  # slow every time: the worker within a few predicts
    batcher.note(100, 0.0002)
    assert batcher.fast(100) and batcher.cost[128] == 0.0002
    assert batcher.fast(1) is False  # other batch sizes keep their own estimate (none yet)
    batcher.close()


def test_a_connection_is_alone_until_another_sends_within_the_window():
    import time

    from mlrelease.serve.batching import ALONE_S

    batcher = Batcher(_predict, lambda c, p, t: [[] for _ in p], BatchingConfig())
    a, b = ("127.0.0.1", 1), ("127.0.0.1", 2)
    assert batcher.alone(None) and batcher.alone(a) and batcher.alone(a)
    assert not batcher.alone(b) and not batcher.alone(a)
    batcher.last_seen[b] = time.monotonic() - 2 * ALONE_S  # b went quiet
    assert batcher.alone(a) and b not in batcher.last_seen  # and is forgotten
    batcher.close()


def test_validator_lists_every_problem_and_normalises_values(example_service):
    v = Validator(example_service.signature, max_rows=10)
    row = {"area_m2": 70, "rooms": 3.0, "floor": 1, "year_built": 1990, "distance_to_centre_km": 2}
    cols = v.records(
        [{**row, "district": "Líšeň", "energy_class": "B", "has_balcony": 1, "has_elevator": 0}], "body"
    )
    assert cols["area_m2"] == [70.0] and cols["rooms"] == [3] and type(cols["rooms"][0]) is int
    with pytest.raises(BadRequest) as exc:
        v.records([{"area_m2": float("inf")}, "row"], "body")
    problems = exc.value.problems
    assert exc.value.status == 422
    assert {(p["row"], p["field"]) for p in problems} >= {(0, "area_m2"), (0, "rooms"), (1, None)}
    with pytest.raises(BadRequest) as exc:
        v.records([{}] * 11, "body")
    assert exc.value.status == 413


@pytest.fixture(scope="module")
def numeric_handoff(tmp_path_factory) -> Path:
    """A handoff whose model was fitted on a numpy array of 3 numeric features."""
    import skops.io as sio
    from sklearn.ensemble import HistGradientBoostingRegressor

    root = tmp_path_factory.mktemp("serve-numeric")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"a": rng.normal(0, 1, 400), "b": rng.normal(5, 2, 400), "c": rng.integers(0, 9, 400)}
    )
    frame["y"] = frame.a * 3 + frame.b + rng.normal(0, 0.1, 400)
    model = HistGradientBoostingRegressor(max_iter=20, random_state=0).fit(
        frame[["a", "b", "c"]].to_numpy(), frame.y
    )
    (root / "model").mkdir()
    sio.dump(model, root / "model" / "model.skops")
    frame.to_csv(root / "data.csv", index=False)
    config = {
        "version": 1,
        "model": {
            "name": "numeric",
            "task": "regression",
            "artifact": "model/model.skops",
            "target": "y",
            "features": ["a", "b", "c"],
            "trusted_types": ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"],
        },
        "validation": {"data": "data.csv"},
    }
    (root / "mlrelease.yaml").write_text(yaml.safe_dump(config))
    (root / "requirements.in").write_text("scikit-learn\n")
    return root


def test_array_model_is_served_from_an_array_and_a_v2_matrix(numeric_handoff, start_server):
    from mlrelease import config as cfgmod
    from mlrelease.serve.service import load_service

    cfg = cfgmod.load(str(numeric_handoff))
    service = load_service(cfg)
    assert service.array_input
    data = pd.read_csv(numeric_handoff / "data.csv").head(3)
    expected = service.model.estimator.predict(data[["a", "b", "c"]].to_numpy()).tolist()
    server = start_server(cfg, service)
    matrix = data[["a", "b", "c"]].to_numpy().tolist()
    body = {"inputs": [{"name": "input-0", "shape": [3, 3], "datatype": "FP32", "data": matrix}]}
    status, answer, _ = server.post("/v2/models/numeric/infer", body)
    assert status == 200, answer
    assert answer["outputs"][0]["data"] == pytest.approx(expected)
    status, answer, _ = server.post("/v1/models/numeric:predict", {"instances": matrix})
    assert status == 200 and answer["predictions"] == pytest.approx(expected)
    bad = {"inputs": [{"name": "input-0", "shape": [3, 2], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]}]}
    status, answer, _ = server.post("/v2/models/numeric/infer", bad)
    assert status == 400 and "[rows, 3]" in answer["error"]


def test_signature_inferred_without_evaluate_records_prediction_spread(example_service):
    sig = example_service.signature
    assert sig.prediction is not None and sig.prediction.max > sig.prediction.min > 0
    assert replace(sig, prediction=None) == infer_signature(
        pd.read_csv(Path(__file__).resolve().parents[2] / "examples/brno-houses/data/reference.csv"),
        sig.names,
        target="price",
        task="regression",
    )


# ---------------------------------------------------------------------------- validation
# The validator's answers, exactly: which values each column kind takes (the 64-bit and 2**53
# limits included), how a value is normalised, and the status, reason and problem list of every
# refusal, for rows given as objects, as lists and as named columns, one row at a time and as a
# batch (from ``WHOLE_FROM`` rows a column is checked whole first).

SIG = Signature(
    fields=(
        FieldSpec("note", "number", nullable=True),  # first: an absent value must not end the row
        FieldSpec("area", "number"),
        FieldSpec("rooms", "integer"),
        FieldSpec("new", "boolean"),
        FieldSpec("district", "string"),
    )
)
NAMES = [f.name for f in SIG.fields]
ROW: dict[str, Any] = {"note": 1.5, "area": 61.0, "rooms": 3, "new": True, "district": "Bohunice"}
BATCH = 6  # rows in a batch: enough for the whole-column check
assert BATCH > WHOLE_FROM


def _v(max_rows: int = 100) -> Validator:
    return Validator(SIG, max_rows=max_rows)


def _shapes(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The same rows as objects, as lists in signature order and as named columns."""
    v = _v()
    return {
        "records": lambda: v.records(rows, "records"),
        "rows": lambda: v.rows([[r[n] for n in NAMES] for r in rows], None, "instances"),
        "columns": lambda: v.columns({n: [r[n] for r in rows] for n in NAMES}, "inputs"),
    }


def _refused(call: Any) -> BadRequest:
    with pytest.raises(BadRequest) as exc:
        call()
    return exc.value


ACCEPTED = [
    # (field, value sent, value the model gets)
    ("rooms", -(2**63), -(2**63)),
    ("rooms", 2**63 - 1, 2**63 - 1),
    ("rooms", 3.0, 3),
    ("rooms", 2.0**53, 2**53),
    ("rooms", -(2.0**53), -(2**53)),
    ("area", 70, 70.0),
    ("area", -0.5, -0.5),
    ("new", False, False),
    ("new", 1, True),
    ("new", 0, False),
    ("note", None, None),
    ("district", "Líšeň", "Líšeň"),
]


@pytest.mark.parametrize("shape", ["records", "rows", "columns"])
@pytest.mark.parametrize("n", [1, BATCH])
@pytest.mark.parametrize(("field", "sent", "got"), ACCEPTED)
def test_each_kind_takes_its_values_up_to_the_limits_and_normalises_them(shape, n, field, sent, got):
    rows = [dict(ROW) for _ in range(n)]
    rows[-1][field] = sent
    cols = _shapes(rows)[shape]()
    want = {name: [ROW[name]] * n for name in NAMES}
    want[field][-1] = got
    assert cols == want and list(cols) == NAMES
    assert type(cols[field][-1]) is type(got)


INEXACT = " (beyond 2**53 a number with a fraction part is inexact)"
REFUSED = [
    # (field, value sent, the reason given)
    ("rooms", 2**63, "expected an integer within the 64-bit range, got 9223372036854775808"),
    ("rooms", -(2**63) - 1, "expected an integer within the 64-bit range, got -9223372036854775809"),
    (
        "rooms",
        2.0**53 + 2,
        f"expected an integer, got 9007199254740994.0{INEXACT}",
    ),
    (
        "rooms",
        -(2.0**53) - 2,
        f"expected an integer, got -9007199254740994.0{INEXACT}",
    ),
    ("rooms", 2.5, "expected an integer, got 2.5"),
    ("rooms", "3", "expected an integer, got string"),
    ("rooms", True, "expected an integer, got boolean"),
    ("rooms", None, "must not be null"),
    ("area", "big", "expected a number, got string"),
    ("area", True, "expected a number, got boolean"),
    ("area", float("inf"), "expected a finite number"),
    ("area", float("nan"), "expected a finite number"),
    ("area", None, "must not be null"),
    ("new", 2, "expected a boolean, got integer"),
    ("new", 1.0, "expected a boolean, got number"),
    ("new", "true", "expected a boolean, got string"),
    ("new", None, "must not be null"),
    ("district", 7, "expected a string, got integer"),
    ("district", 1.5, "expected a string, got number"),
    ("district", None, "must not be null"),
    ("note", "1.5", "expected a number, got string"),
]


@pytest.mark.parametrize("shape", ["records", "rows", "columns"])
@pytest.mark.parametrize("n", [1, BATCH])
@pytest.mark.parametrize(("field", "sent", "reason"), REFUSED)
def test_a_value_outside_its_kind_is_422_naming_row_field_and_reason(shape, n, field, sent, reason):
    rows = [dict(ROW, area=70 if i % 2 else 61.0) for i in range(n)]  # integers and floats mixed
    rows[-1][field] = sent
    exc = _refused(_shapes(rows)[shape])
    assert exc.status == 422
    assert exc.message == f"1 invalid value(s) in field(s) {field} of row(s) {n - 1}"
    (problem,) = exc.problems
    assert problem["value"] is sent or problem["value"] == sent
    assert problem == {"row": n - 1, "field": field, "error": reason, "value": problem["value"]}
    assert exc.total == 1


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ({"a": 1}, "<object>"),
        ([1, 2], "<array>"),
        ("x" * 80, "x" * 80),
        ("x" * 81, "x" * 77 + "..."),
    ],
)
def test_an_offending_value_is_shown_back_short(sent, shown):
    exc = _refused(lambda: _v().records([dict(ROW, area=sent)], "records"))
    assert exc.problems[0]["value"] == shown
    assert exc.problems[0]["error"] == f"expected a number, got {type_name(sent)}"


def test_type_names_are_json_names():
    assert [type_name(x) for x in (None, True, 1, 1.5, "s", [], {})] == [
        "null",
        "boolean",
        "integer",
        "number",
        "string",
        "array",
        "object",
    ]
    assert type_name((1,)) == "tuple"  # not a JSON value: its Python name


def test_a_valid_column_reaches_the_model_as_sent():
    """A column of one plain kind is checked whole and passed on without a copy per value."""
    sent = {
        "note": [1.5, 2.5, 3.5, 4.5, 5.5],
        "area": [61.0, 70.5, 55.0, 80.0, 90.0],
        "rooms": [3, -(2**63), 2**63 - 1, 1, 5],  # the 64-bit limits are plainly valid
        "new": [True, False, True, True, False],
        "district": ["Bohunice", "Líšeň", "Bystrc", "Komín", "Slatina"],
    }
    got = _v().columns(sent, "inputs")
    assert got == sent
    assert all(got[n] is sent[n] for n in NAMES)


def test_an_integer_column_with_a_float_is_normalised_value_by_value():
    """Not plain: 3.0 becomes 3, 1 becomes True, and an absent nullable column is nulls."""
    sent = {"area": [61, 70.5], "rooms": [3.0, 4], "new": [1, True], "district": ["A", "B"]}
    got = _v().columns(sent, "inputs")
    assert got == {
        "note": [None, None],
        "area": [61.0, 70.5],
        "rooms": [3, 4],
        "new": [True, True],
        "district": ["A", "B"],
    }
    assert [type(x) for x in got["rooms"] + got["area"]] == [int, int, float, float]


@pytest.mark.parametrize("n", [1, 2, BATCH])
def test_absent_values_are_null_where_nullable_else_missing(n):
    v = _v()
    present = ["area", "rooms", "new"]  # note (nullable) and district absent
    records = [{k: ROW[k] for k in present} for _ in range(n)]
    missing = [{"row": i, "field": "district", "error": "missing"} for i in range(n)]
    rows_of = ", ".join(map(str, range(n)))
    for call in (
        lambda: v.records(records, "records"),
        lambda: v.rows([[ROW[k] for k in present] for _ in range(n)], present, "dataframe_split.data"),
    ):
        exc = _refused(call)
        assert (exc.status, exc.problems) == (422, missing)
        assert exc.message == f"{n} invalid value(s) in field(s) district of row(s) {rows_of}"
    exc = _refused(lambda: v.columns({k: [ROW[k]] * n for k in present}, "inputs"))
    assert exc.problems == [{"row": None, "field": "district", "error": "missing"}]
    assert exc.message == "1 invalid value(s) in field(s) district"

    with_district = [*present, "district"]
    want = {"note": [None] * n, **{k: [ROW[k]] * n for k in with_district}}
    assert v.records([{k: ROW[k] for k in with_district}] * n, "records") == want
    assert v.rows([[ROW[k] for k in with_district]] * n, with_district, "dataframe_split.data") == want
    assert v.columns({k: [ROW[k]] * n for k in with_district}, "inputs") == want


def test_every_problem_of_every_row_is_listed():
    rows: list[Any] = [
        {"area": 61.0, "rooms": 3, "new": True},  # district missing, then a bad value after it
        "row",
        {"area": "big", "rooms": 3, "new": True, "district": 7},
        {**ROW},
    ]
    rows[0]["note"] = "n"
    exc = _refused(lambda: _v().records(rows, "dataframe_records"))
    assert exc.status == 422
    assert exc.problems == [
        {"row": 0, "field": "note", "error": "expected a number, got string", "value": "n"},
        {"row": 0, "field": "district", "error": "missing"},
        {"row": 1, "field": None, "error": "expected an object, got string"},
        {"row": 2, "field": "area", "error": "expected a number, got string", "value": "big"},
        {"row": 2, "field": "district", "error": "expected a string, got integer", "value": 7},
    ]
    assert exc.message == "5 invalid value(s) in field(s) area, district, note of row(s) 0, 1, 2"


@pytest.mark.parametrize("n", [3, BATCH])
def test_rows_that_are_not_lists_of_the_right_width_are_named(n):
    good = [ROW[k] for k in NAMES]
    rows: list[Any] = [list(good) for _ in range(n)]
    rows[1] = 5
    rows[2] = good[:2]
    exc = _refused(lambda: _v().rows(rows, None, "instances"))
    assert exc.status == 422
    assert exc.problems == [
        {"row": 1, "field": None, "error": "expected a list of 5 values, got integer"},
        {"row": 2, "field": None, "error": "expected a list of 5 values, got 2 values"},
    ]
    assert exc.message == "2 invalid value(s) of row(s) 1, 2"
    records: list[Any] = [dict(ROW) for _ in range(n)]
    records[1] = "row"
    exc = _refused(lambda: _v().records(records, "records"))
    assert exc.problems == [{"row": 1, "field": None, "error": "expected an object, got string"}]


def test_a_batch_whose_every_row_is_too_long_is_refused_row_by_row():
    rows = [[ROW[k] for k in NAMES] + ["extra"] for _ in range(BATCH)]
    exc = _refused(lambda: _v().rows(rows, None, "instances"))
    assert exc.problems == [
        {"row": i, "field": None, "error": "expected a list of 5 values, got 6 values"} for i in range(BATCH)
    ]


@pytest.mark.parametrize(
    ("call", "status", "message"),
    [
        (
            lambda v: v.records({"a": 1}, "dataframe_records"),
            400,
            "dataframe_records: expected a list of objects, got object",
        ),
        (lambda v: v.records(None, "body"), 400, "body: expected a list of objects, got null"),
        (lambda v: v.rows("1,2", None, "instances"), 400, "instances: expected a list of rows, got string"),
        (lambda v: v.columns([[1.0]], "inputs"), 400, "inputs: expected an object of columns, got array"),
        (lambda v: v.columns(None, "inputs"), 400, "inputs: expected an object of columns, got null"),
        (lambda v: v.records([], "records"), 400, "the request has no rows"),
        (lambda v: v.rows([], None, "instances"), 400, "the request has no rows"),
        (lambda v: v.columns({"other": [1, 2]}, "inputs"), 400, "the request has no rows"),
        (lambda v: v.columns({}, "inputs"), 400, "the request has no rows"),
        (
            lambda v: v.records([ROW] * 11, "records"),
            413,
            "the request has 11 rows; this server takes at most 10 per request",
        ),
        (
            lambda v: v.rows([[1]] * 11, None, "instances"),
            413,
            "the request has 11 rows; this server takes at most 10 per request",
        ),
        (
            lambda v: v.rows([[1]], [1], "dataframe_split.data"),
            400,
            "dataframe_split.data: column names must be strings",
        ),
    ],
    ids=[
        "records-object",
        "records-null",
        "rows-string",
        "columns-array",
        "columns-null",
        "records-none",
        "rows-none",
        "columns-unknown-only",
        "columns-empty",
        "records-over-limit",
        "rows-over-limit",
        "column-name-number",
    ],
)
def test_a_body_of_the_wrong_shape_or_size_is_refused_with_the_reason(call, status, message):
    exc = _refused(lambda: call(_v(max_rows=10)))
    assert (exc.status, exc.message, exc.problems) == (status, message, [])


def test_the_row_limit_is_inclusive():
    v = _v(max_rows=BATCH)
    assert len(v.records([ROW] * BATCH, "records")["area"]) == BATCH
    assert len(v.columns({n: [ROW[n]] * BATCH for n in NAMES}, "inputs")["area"]) == BATCH


def test_a_column_that_is_not_a_list_is_400_naming_it():
    data: dict[str, Any] = {n: [ROW[n]] * 2 for n in NAMES}
    data["area"] = 61.0
    data["other"] = "not a column of the model: ignored"
    exc = _refused(lambda: _v().columns(data, "inputs"))
    assert (exc.status, exc.message) == (400, "inputs: each column must be a list")
    assert exc.problems == [{"row": None, "field": "area", "error": "expected a list of values"}]


def test_columns_of_different_lengths_are_400_with_each_length():
    data: dict[str, Any] = {n: [ROW[n]] * 2 for n in NAMES}
    data["rooms"] = [3, 4, 5]
    data["other"] = [1, 2, 3, 4]  # not a column of the model: its length does not count
    exc = _refused(lambda: _v().columns(data, "v2 inputs"))
    assert (exc.status, exc.message) == (400, "v2 inputs: the columns have different lengths")
    assert exc.problems == [
        {"row": None, "field": n, "error": "3 values" if n == "rooms" else "2 values"} for n in NAMES
    ]
    del data["other"]
    data["rooms"] = [3, 4]
    assert len(_v().columns(data, "inputs")["rooms"]) == 2


def test_a_value_problem_in_a_named_column_names_its_row():
    data: dict[str, Any] = {"area": [61.0, "big"], "rooms": [3, 4]}  # new and district absent
    exc = _refused(lambda: _v().columns(data, "inputs"))
    assert exc.status == 422
    assert exc.problems == [
        {"row": 1, "field": "area", "error": "expected a number, got string", "value": "big"},
        {"row": None, "field": "new", "error": "missing"},
        {"row": None, "field": "district", "error": "missing"},
    ]
    assert exc.message == "3 invalid value(s) in field(s) area, district, new of row(s) 1"


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (["area", "area", *NAMES[2:]], "csv: column(s) area named more than once; name each column once"),
        (
            ["area", "area", "rooms", "rooms"],
            "csv: column(s) area, rooms named more than once; name each column once",
        ),
    ],
)
def test_a_column_named_twice_is_400_with_how_often(columns, message):
    exc = _refused(lambda: _v().rows([[1.0] * len(columns)], columns, "csv"))
    assert (exc.status, exc.message) == (400, message)
    twice = sorted({c for c in columns if columns.count(c) > 1})
    assert exc.problems == [
        {"row": None, "field": c, "error": f"named {columns.count(c)} times"} for c in twice
    ]


@pytest.mark.parametrize(
    ("bad_rows", "listed"),
    [
        (20, "0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19"),
        (21, "0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19..."),
    ],
)
def test_the_reason_lists_the_first_twenty_rows_and_counts_all(bad_rows, listed):
    rows = [dict(ROW, area="big") for _ in range(bad_rows)]
    exc = _refused(lambda: _v().records(rows, "records"))
    assert exc.message == f"{bad_rows} invalid value(s) in field(s) area of row(s) {listed}"
    assert exc.total == bad_rows == len(exc.problems)


def test_a_batch_for_a_signature_of_optional_fields_keeps_its_values():
    """Every field nullable: a valid batch keeps what was sent, not nulls."""
    v = Validator(
        Signature(fields=(FieldSpec("a", "number", nullable=True), FieldSpec("b", "string", nullable=True))),
        10,
    )
    want = {"a": [float(i) for i in range(BATCH)], "b": [str(i) for i in range(BATCH)]}
    rows = [{"a": a, "b": b} for a, b in zip(want["a"], want["b"], strict=True)]
    assert v.records(rows, "records") == want
    assert v.rows([[r["a"], r["b"]] for r in rows], None, "instances") == want
    assert v.rows([[r["b"], r["a"]] for r in rows], ["b", "a"], "dataframe_split.data") == want
    assert v.columns(want, "inputs") == want
    assert v.rows([[r["b"]] for r in rows], ["b"], "dataframe_split.data") == {
        "a": [None] * BATCH,
        "b": want["b"],
    }


@pytest.mark.parametrize(
    ("spec", "values"),
    [
        (FieldSpec("area", "number"), [61.0, 70.5, 55.0, 80.0, 90.0, 44.5]),
        (FieldSpec("district", "string"), ["Bohunice", "Líšeň", "Bystrc", "Komín", "Slatina", "Řečkovice"]),
    ],
)
def test_a_model_of_one_feature_takes_a_batch_of_records(spec, values):
    v = Validator(Signature(fields=(spec,)), 10)
    assert v.records([{spec.name: x, "other": 1} for x in values], "records") == {spec.name: values}
    assert v.records([{spec.name: x} for x in values[:2]], "records") == {spec.name: values[:2]}


@pytest.mark.parametrize("n", [1, BATCH])
def test_a_missing_field_neither_hides_the_fields_after_it_nor_becomes_null(n):
    """rooms is absent (a required field in the middle); district after it is a number."""
    v = _v()
    present = ["note", "area", "new", "district"]
    sent = {"note": 1.5, "area": 61.0, "new": True, "district": 7}
    want = [
        problem
        for i in range(n)
        for problem in (
            {"row": i, "field": "rooms", "error": "missing"},
            {"row": i, "field": "district", "error": "expected a string, got integer", "value": 7},
        )
    ]
    for call in (
        lambda: v.records([dict(sent) for _ in range(n)], "records"),
        lambda: v.rows([[sent[k] for k in present] for _ in range(n)], present, "dataframe_split.data"),
    ):
        exc = _refused(call)
        assert (exc.status, exc.problems) == (422, want)
    exc = _refused(lambda: v.columns({k: [sent[k]] * n for k in present}, "inputs"))
    assert exc.problems[0] == {"row": None, "field": "rooms", "error": "missing"}

    sent["district"] = "Bohunice"  # now only rooms is wrong: absent, and required
    for call in (
        lambda: v.records([dict(sent) for _ in range(n)], "records"),
        lambda: v.rows([[sent[k] for k in present] for _ in range(n)], present, "dataframe_split.data"),
        lambda: v.columns({k: [sent[k]] * n for k in present}, "inputs"),
    ):
        exc = _refused(call)
        assert exc.status == 422 and {p["field"] for p in exc.problems} == {"rooms"}


def test_the_outlier_checks_get_the_table_the_predictor_read():
    table = Table(np.array([[1.0], [2.0]]), {"x": 0})
    got: list[Table | None] = []

    def check(columns: dict[str, list], values: np.ndarray, read: Table | None) -> list[list[str]]:
        got.append(read)
        return [[] for _ in values]

    batcher = Batcher(
        lambda c: Prediction(np.array(c["x"], dtype=float), None, table), check, BatchingConfig()
    )
    assert asyncio.run(batcher.submit({"x": [1, 2]}, 2)).predictions == [1.0, 2.0]
    batcher.close()
    assert got == [table]


def test_the_example_service_hands_over_the_inputs_its_trees_read(example_service):
    columns = example_service.example_columns(5)
    columns["area_m2"] = [55.5, None, 70.0, 1e6, 12.0]
    prediction = example_service.predict_answer(columns)
    assert prediction.table is not None
    numeric = [f.name for f in example_service.signature.fields if f.kind != "string"]
    assert sorted(prediction.table.at) == sorted(numeric)
    for name in numeric:
        read = prediction.table.matrix[:, prediction.table.at[name]]
        assert np.array_equal(read, np.array(columns[name], dtype=float), equal_nan=True)
