"""Every request shape the server accepts refuses a type-invalid value with a 4xx naming the field,
never a 200 and never a 5xx; malformed v2 tensors are 400 with a reason.

The shapes are built from the same rows (``native.json``) so each case differs from a body that
gets a 200 in exactly one value.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from servekit import payload

NAME = "brno-house-prices"
V2_TYPE = {"number": "FP64", "integer": "INT64", "boolean": "BOOL", "string": "BYTES"}
Body = tuple[str, bytes, str]  # route, body, content type
Rows = list[dict[str, Any]]


def _json(route: str, body: Any) -> Body:
    return route, json.dumps(body).encode(), "application/json"


def _columns(rows: Rows, names: list[str]) -> dict[str, list[Any]]:
    return {n: [r[n] for r in rows] for n in names}


def _v2_columns(rows: Rows, names: list[str], kinds: dict[str, str]) -> Body:
    inputs = [
        {"name": n, "shape": [len(rows)], "datatype": V2_TYPE[kinds[n]], "data": [r[n] for r in rows]}
        for n in names
    ]
    return _json(f"/v2/models/{NAME}/infer", {"inputs": inputs})


def _v2_matrix(rows: Rows, names: list[str], kinds: dict[str, str]) -> Body:
    data = [[r[n] for n in names] for r in rows]
    tensor = {"name": "input-0", "shape": [len(rows), len(names)], "datatype": "BYTES", "data": data}
    return _json(f"/v2/models/{NAME}/infer", {"inputs": [tensor]})


def _csv(rows: Rows, names: list[str], kinds: dict[str, str]) -> Body:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(names)
    for r in rows:
        writer.writerow(["" if r[n] is None else r[n] for n in names])
    return "/invocations", out.getvalue().encode(), "text/csv"


V1 = f"/v1/models/{NAME}:predict"
SHAPES: dict[str, Callable[[Rows, list[str], dict[str, str]], Body]] = {
    "records": lambda rows, names, kinds: _json("/predict", rows),
    "records-key": lambda rows, names, kinds: _json("/predict", {"records": rows}),
    "v1-instances-objects": lambda rows, names, kinds: _json(V1, {"instances": rows}),
    "v1-instances-lists": lambda rows, names, kinds: _json(
        V1, {"instances": [[r[n] for n in names] for r in rows]}
    ),
    "v1-inputs-objects": lambda rows, names, kinds: _json(V1, {"inputs": rows}),
    "v1-inputs-columns": lambda rows, names, kinds: _json(V1, {"inputs": _columns(rows, names)}),
    "v2-tensor-per-column": _v2_columns,
    "v2-one-tensor": _v2_matrix,
    "mlflow-dataframe-split": lambda rows, names, kinds: _json(
        "/invocations", {"dataframe_split": {"columns": names, "data": [[r[n] for n in names] for r in rows]}}
    ),
    "mlflow-dataframe-records": lambda rows, names, kinds: _json("/invocations", {"dataframe_records": rows}),
    "mlflow-instances": lambda rows, names, kinds: _json("/invocations", {"instances": rows}),
    "mlflow-inputs": lambda rows, names, kinds: _json("/invocations", {"inputs": _columns(rows, names)}),
    "mlflow-csv": _csv,
}


@pytest.fixture(scope="module")
def kinds(example_service) -> dict[str, str]:
    return {f.name: f.kind for f in example_service.signature.fields}


def send(server, body: Body) -> tuple[int, dict[str, Any]]:
    route, data, ctype = body
    status, _, raw = server.request("POST", route, data, {"Content-Type": ctype})
    return status, json.loads(raw)


def named_fields(answer: dict[str, Any]) -> set[str]:
    return {p["field"] for p in answer.get("problems", []) if p.get("field")}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_shape_scores_the_valid_rows(module_server, kinds, shape):
    """The baseline each invalid case differs from by one value: a 200."""
    status, answer = send(module_server, SHAPES[shape](payload("native.json"), list(kinds), kinds))
    assert status == 200, answer


@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_word_in_a_numeric_column_is_422_naming_the_field_in_every_shape(module_server, kinds, shape):
    rows = payload("native.json")
    rows[1]["area_m2"] = "big"
    status, answer = send(module_server, SHAPES[shape](rows, list(kinds), kinds))
    assert status == 422, answer
    assert named_fields(answer) == {"area_m2"}
    assert "area_m2" in answer.get("error", answer.get("message"))
    (problem,) = answer["problems"]
    assert problem["row"] == 1 and problem["value"] == "big"


@pytest.mark.parametrize("shape", [s for s in SHAPES if s != "mlflow-csv"])
def test_a_number_in_a_string_column_is_422_naming_the_field(module_server, kinds, shape):
    rows = payload("native.json")
    rows[0]["district"] = 7
    status, answer = send(module_server, SHAPES[shape](rows, list(kinds), kinds))
    assert status == 422, answer
    assert named_fields(answer) == {"district"}


@pytest.mark.parametrize("shape", ["mlflow-dataframe-split", "mlflow-csv"])
def test_a_column_named_twice_is_400_so_neither_copy_goes_unchecked(module_server, kinds, shape):
    """With the second copy ignored, ``"big"`` there was never looked at and the row was priced."""
    rows = [{**r, "area_m2#2": "big"} for r in payload("native.json")]
    route, data, ctype = SHAPES[shape](rows, [*kinds, "area_m2#2"], {**kinds, "area_m2#2": "string"})
    data = data.replace(b"area_m2#2", b"area_m2")
    status, answer = send(module_server, (route, data, ctype))
    assert status == 400, answer
    assert named_fields(answer) == {"area_m2"}
    assert "area_m2 named more than once" in answer.get("error", answer.get("message"))


def test_a_v2_input_sent_twice_is_400(module_server, kinds):
    route, data, ctype = _v2_columns(payload("native.json"), list(kinds), kinds)
    body = json.loads(data)
    body["inputs"].append({**body["inputs"][0], "data": ["big", "big"]})
    status, answer = send(module_server, (route, json.dumps(body).encode(), ctype))
    assert status == 400, answer
    assert named_fields(answer) == {"area_m2"} and "inputs[9] (area_m2)" in answer["error"]


def reason(answer: dict[str, Any]) -> str:
    return answer.get("error", answer.get("message", ""))


@pytest.mark.parametrize("route", [V1, "/invocations"], ids=["v1-inputs", "mlflow-inputs"])
def test_named_columns_not_lists_or_of_different_lengths_are_400_naming_the_fields(
    module_server, kinds, route
):
    """Only named columns (``{"inputs": {"area_m2": [...], ...}}``) can be a scalar or disagree
    in length; the reason says which, under the key the client sent."""
    columns = _columns(payload("native.json"), list(kinds))
    scalar = {**columns, "area_m2": columns["area_m2"][0]}
    status, answer = send(module_server, _json(route, {"inputs": scalar}))
    assert status == 400, answer
    assert reason(answer) == "inputs: each column must be a list"
    assert answer["problems"] == [{"row": None, "field": "area_m2", "error": "expected a list of values"}]

    longer = {**columns, "rooms": [*columns["rooms"], 3]}
    status, answer = send(module_server, _json(route, {"inputs": longer}))
    assert status == 400, answer
    assert reason(answer) == "inputs: the columns have different lengths"
    assert answer["problems"] == [
        {"row": None, "field": n, "error": "3 values" if n == "rooms" else "2 values"} for n in kinds
    ]


@pytest.mark.parametrize(
    ("route", "body", "want"),
    [
        ("/predict", {"records": {"area_m2": 61}}, "records: expected a list of objects, got object"),
        (
            "/invocations",
            {"dataframe_records": 5},
            "dataframe_records: expected a list of objects, got integer",
        ),
        ("/predict", [], "the request has no rows"),
        ("/invocations", {"inputs": {}}, "the request has no rows"),
    ],
    ids=["records-object", "dataframe-records-number", "records-empty", "mlflow-inputs-empty"],
)
def test_a_body_without_rows_is_400_with_the_reason(module_server, route, body, want):
    status, answer = send(module_server, _json(route, body))
    assert status == 400, answer
    assert reason(answer) == want


V2_ROUTE = f"/v2/models/{NAME}/infer"


DEEP = '"<990 deep>"'  # written out as text: json.dumps itself recurses


@pytest.mark.parametrize(
    ("tensor", "reason"),
    [
        ({"datatype": ["FP64"]}, "datatype: expected one of BOOL"),
        ({"datatype": {"t": "FP64"}}, "got object"),
        ({"datatype": 64}, "got integer"),
        ({"data": "<990 deep>"}, "shape [2] holds 2 values, data has 1"),
        ({"shape": [2] * 200_000}, "200000 dimensions; expected 1 or 2"),
        ({"shape": [2, 1, 1]}, "3 dimensions"),
        ({"shape": ["2"]}, "shape: expected a list of non-negative integers"),
        ({"name": ["area_m2"]}, "name: expected a string"),
    ],
    ids=[
        "datatype-list",
        "datatype-object",
        "datatype-number",
        "data-990-deep",
        "shape-200k-dims",
        "shape-3-dims",
        "shape-string",
        "name-list",
    ],
)
def test_malformed_v2_tensors_are_400_with_the_reason(module_server, kinds, tensor, reason):
    route, data, ctype = _v2_columns(payload("native.json"), list(kinds), kinds)
    body = json.loads(data)
    body["inputs"][0].update(tensor)
    text = json.dumps(body).replace(DEEP, "[" * 990 + "60.6" + "]" * 990)
    status, answer = send(module_server, (route, text.encode(), ctype))
    assert status == 400, answer
    assert reason in answer["error"]


# ---------------------------------------------------------------------------- property


def _not_a_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return True
    return False


JSON_SCALAR_JUNK = st.one_of(
    st.none(), st.booleans(), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
)
INVALID_JSON = {
    "number": st.one_of(JSON_SCALAR_JUNK, st.text(max_size=12), st.lists(st.integers(), max_size=2)),
    "integer": st.one_of(
        JSON_SCALAR_JUNK,
        st.text(max_size=12),
        st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not x.is_integer()),
        st.integers(min_value=2**63, max_value=2**64 - 1),
        st.lists(st.integers(), max_size=2),
    ),
    "string": st.one_of(
        JSON_SCALAR_JUNK,
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        st.lists(st.text(max_size=3), max_size=2),
    ),
}
# A CSV cell is text: invalid is text that does not parse as the column's type, or empty (null).
# (NUL cannot be in a CSV cell at all: the reader refuses the body, 400. A lone surrogate cannot be
# in UTF-8 at all: a body is bytes, and one that is not UTF-8 is its own case.)
CSV_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
INVALID_CSV = {
    "number": CSV_TEXT.filter(_not_a_number),
    "integer": st.one_of(
        CSV_TEXT.filter(_not_a_number),
        st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not x.is_integer()).map(repr),
    ),
    "string": st.just(""),
}


@st.composite
def one_invalid_value(draw, kinds: dict[str, str]):
    shape = draw(st.sampled_from(list(SHAPES)))
    field = draw(st.sampled_from(list(kinds)))
    row = draw(st.integers(0, 1))
    kind = kinds[field]
    if shape == "mlflow-csv":
        value = draw(INVALID_CSV[kind])
    else:
        junk = INVALID_JSON[kind]
        if shape.startswith("v2"):  # a list inside a tensor's data is more data, not a value
            junk = junk.filter(lambda v: not isinstance(v, list))
        value = draw(junk)
    return shape, field, row, value


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_a_well_shaped_body_with_one_invalid_value_never_gets_a_200(module_server, kinds, data):
    shape, field, row, value = data.draw(one_invalid_value(kinds))
    rows = payload("native.json")
    rows[row][field] = value
    status, answer = send(module_server, SHAPES[shape](rows, list(kinds), kinds))
    assert 400 <= status < 500, (shape, field, value, answer)
    assert field in named_fields(answer), (shape, field, value, answer)


@pytest.mark.parametrize(
    "body",
    [
        ("/invocations", b"area_m2,rooms\n\xff\xfe,2\n", "text/csv"),
        ("/invocations", b'{"dataframe_records": [{"district": "\xed\xa0\x80"}]}', "application/json"),
        ("/predict", b'[{"district": "\xc3"}]', "application/json"),
        ("/predict", b'[{"district": "\\ud800"}]', "application/json"),
    ],
    ids=["csv-not-utf8", "json-encoded-surrogate", "json-cut-utf8", "json-escaped-lone-surrogate"],
)
def test_a_body_that_is_not_utf8_text_is_4xx_with_a_reason(module_server, body):
    status, answer = send(module_server, body)
    assert 400 <= status < 500, answer
    reason = answer.get("error") or answer.get("message")  # MLflow's shape names it message
    assert reason and ("UTF-8" in reason or "surrogate" in reason), answer
