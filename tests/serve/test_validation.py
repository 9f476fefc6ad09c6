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

from mlrelease.serve.batching import Answer
from mlrelease.serve.protocols import (
    Answers,
    KServeV1,
    MLflow,
    Native,
    OpenInferenceV2,
    Protocol,
    label_datatype,
)
from mlrelease.serve.schema import BadRequest, Validator
from mlrelease.signature import FieldSpec, Signature

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


# ---------------------------------------------------------------------------- protocols in process
# Each protocol object on its own, on a small signature: the exact columns every request shape it
# accepts parses to, the status and reason of every malformed envelope, and each answer's shape.

P_SIG = Signature(
    fields=(
        FieldSpec("area", "number"),
        FieldSpec("rooms", "integer"),
        FieldSpec("new", "boolean"),
        FieldSpec("district", "string"),
        FieldSpec("note", "number", nullable=True),
    )
)
P_NAMES = "area, rooms, new, district, note"
P_ROWS: Rows = [
    {"area": 61.0, "rooms": 3, "new": True, "district": "A"},
    {"area": 70, "rooms": 4.0, "new": 0, "district": "B", "note": 1.5},
]
P_LISTS = [[61.0, 3, True, "A", None], [70, 4.0, 0, "B", 1.5]]
P_WANT = {
    "area": [61.0, 70.0],
    "rooms": [3, 4],
    "new": [True, False],
    "district": ["A", "B"],
    "note": [None, 1.5],
}
P_CSV = b"area,rooms,new,district,note\n61,3,true,A,\n70.0,4, 0 ,B,1.5\n"


def _refused(call: Callable[[], Any]) -> BadRequest:
    with pytest.raises(BadRequest) as exc:
        call()
    return exc.value


def _proto(cls: type[Protocol], task: str = "regression", classes: list[Any] | None = None, **kw: Any) -> Any:
    return cls(
        Validator(P_SIG, max_rows=10), Answers(task, classes, **{"kserve_v1": "labels", **kw}), "m", "7"
    )


def _tensor(name: str, data: list[Any], datatype: str, shape: list[int] | None = None) -> dict[str, Any]:
    return {"name": name, "shape": shape or [len(data)], "datatype": datatype, "data": data}


def _v2_inputs(**override: dict[str, Any]) -> list[dict[str, Any]]:
    types = {"area": "FP64", "rooms": "INT64", "new": "BOOL", "district": "BYTES", "note": "FP64"}
    tensors = [_tensor(n, P_WANT[n], types[n]) for n in types]
    return [{**t, **override.get(t["name"], {})} for t in tensors]


def _b(body: Any) -> bytes:
    return json.dumps(body).encode()


PARSED = [
    # (protocol, body, content type): each parses to P_WANT
    (Native, _b(P_ROWS), b""),
    (Native, _b({"records": P_ROWS}), b"application/json"),
    (Native, _b(P_ROWS), b"application/vnd.mlrelease+json"),
    (KServeV1, _b({"instances": P_ROWS}), b"application/json"),
    (KServeV1, _b({"instances": P_LISTS}), b"application/json"),
    (KServeV1, _b({"inputs": P_ROWS}), b"application/json"),
    (KServeV1, _b({"inputs": P_WANT}), b"application/json"),
    (KServeV1, _b({"instances": P_ROWS, "inputs": "ignored when instances are there"}), b""),
    (OpenInferenceV2, _b({"inputs": _v2_inputs()}), b"application/json"),
    (
        OpenInferenceV2,  # numbers of any numeric datatype; [rows, 1] columns; an extra input
        _b(
            {
                "inputs": [
                    *_v2_inputs(
                        area={"datatype": "INT32", "shape": [2, 1], "data": [[61], [70]]},
                        rooms={"datatype": "FP32", "data": [3.0, 4.0]},
                        new={"datatype": "UINT8", "data": [1, 0]},
                    ),
                    _tensor("other", ["x", "y", "z"], "BYTES"),
                ]
            }
        ),
        b"",
    ),
    (OpenInferenceV2, _b({"inputs": [_tensor("other", [1.0], "FP64"), *_v2_inputs()]}), b""),
    (OpenInferenceV2, _b({"inputs": [_tensor("input-0", P_LISTS, "BYTES", [2, 5])]}), b""),
    (
        OpenInferenceV2,
        _b({"inputs": [_tensor("x", [x for row in P_LISTS for x in row], "FP64", [2, 5])]}),
        b"",
    ),
    (
        MLflow,
        _b(
            {
                "dataframe_split": {
                    "columns": ["note", "district", "new", "rooms", "area"],
                    "data": [r[::-1] for r in P_LISTS],
                }
            }
        ),
        b"application/json",
    ),
    (MLflow, _b({"dataframe_split": {"data": P_LISTS}}), b""),
    (MLflow, _b({"dataframe_split": {"columns": None, "data": P_LISTS}}), b""),
    (MLflow, _b({"dataframe_records": P_ROWS}), b""),
    (MLflow, _b({"instances": P_ROWS}), b""),
    (MLflow, _b({"instances": P_LISTS}), b""),
    (MLflow, _b({"inputs": P_WANT}), b""),
    (MLflow, _b({"inputs": P_ROWS}), b""),
    (MLflow, P_CSV, b"text/csv"),
    (MLflow, P_CSV, b"application/csv"),
    (
        MLflow,
        b"\xef\xbb\xbf\n" + P_CSV.replace(b"\n61", b"\n\n61") + b"\n\n",
        b"text/csv",
    ),  # BOM, blank lines
    (MLflow, P_CSV.replace(b"true", b" TRUE").replace(b" 0 ", b"0"), b"text/csv"),
    (
        MLflow,
        P_CSV.replace(b"true", b"1")
        .replace(b"note\n", b"note,extra\n")
        .replace(b",\n7", b",,1\n7")
        .replace(b"1.5\n", b"1.5,x\n"),
        b"text/csv",
    ),
]


@pytest.mark.parametrize(("cls", "raw", "ctype"), PARSED)
def test_every_request_shape_parses_to_the_signatures_columns(cls, raw, ctype):
    request = _proto(cls).parse(raw, ctype)
    assert request.columns == P_WANT and list(request.columns) == P_SIG.names
    assert [type(x) for x in request.columns["rooms"] + request.columns["area"]] == [int, int, float, float]
    assert request.rows == 2 and request.id is None and request.records is None
    assert request.choice == (("predict",) if cls is OpenInferenceV2 else False)


def test_a_batch_of_records_sent_unchanged_is_kept_for_the_log():
    rows = [{"area": 61.0, "rooms": 3, "new": True, "district": "A", "note": 1.5}] * 6
    for raw in (_b(rows), _b({"records": rows})):
        request = _proto(Native).parse(raw, b"")
        assert request.records == rows and request.rows == 6
    assert _proto(KServeV1).parse(_b({"instances": rows}), b"").records is None


@pytest.mark.parametrize(
    ("sent", "echoed"),
    [("req-1", "req-1"), ("", ""), (5, None), (None, None)],
    ids=["id", "empty", "number", "none"],
)
def test_v2_echoes_a_string_request_id_only(sent, echoed):
    body: dict[str, Any] = {"inputs": _v2_inputs()}
    if sent is not None:
        body["id"] = sent
    proto = _proto(OpenInferenceV2)
    request = proto.parse(_b(body), b"")
    assert request.id == echoed
    answer = json.loads(proto.answer(request, Answer([1.0, 2.0], [[], []]), []))
    assert answer == {
        "model_name": "m",
        "model_version": "7",
        **({"id": echoed} if echoed is not None else {}),
        "outputs": [{"name": "predict", "datatype": "FP64", "shape": [2], "data": [1.0, 2.0]}],
    }
    assert list(answer)[:2] == ["model_name", "model_version"]


def _malformed_json_reason(raw: bytes) -> str:
    import orjson

    with pytest.raises(orjson.JSONDecodeError) as exc:
        orjson.loads(raw)
    return f"malformed JSON: {exc.value}"


REGRESSION = "this model is a regression; it has no class probabilities"
ONE_OF = "expected exactly one of dataframe_split, dataframe_records, instances, inputs"
MATRIX_REASON = (
    "input 'x' is not a column of the model; a single tensor must have shape [rows, 5] "
    f"with the columns in this order: {P_NAMES}"
)
DATATYPES = "BOOL, BYTES, FP16, FP32, FP64, INT16, INT32, INT64, INT8, UINT16, UINT32, UINT64, UINT8"
ROWS_OK = {"instances": P_ROWS}
V2_ENVELOPE = 'expected an object {"inputs": [{"name", "shape", "datatype", "data"}, ...]}'
REFUSALS = [
    # (protocol, body, content type, status, reason, problems)
    (
        Native,
        b"[]",
        b"text/plain",
        415,
        "Content-Type 'text/plain' is not supported; send application/json",
        [],
    ),
    (
        MLflow,
        b"{}",
        b"text/tab-separated-values",
        415,
        "Content-Type 'text/tab-separated-values' is not supported; send application/json",
        [],
    ),
    (Native, b'[{"area": 61,', b"", 400, _malformed_json_reason(b'[{"area": 61,'), []),
    (
        Native,
        _b({"rows": P_ROWS}),
        b"",
        400,
        'expected a list of records ([{"field": value, ...}]) or {"records": [...]}',
        [],
    ),
    (
        Native,
        b"5",
        b"",
        400,
        'expected a list of records ([{"field": value, ...}]) or {"records": [...]}',
        [],
    ),
    (Native, _b({"records": {"area": 61}}), b"", 400, "records: expected a list of objects, got object", []),
    (
        Native,
        _b({"records": P_ROWS, "probabilities": "yes"}),
        b"",
        400,
        "probabilities: expected true or false",
        [],
    ),
    (
        Native,
        _b({"records": P_ROWS, "probabilities": True}),
        b"",
        400,
        f"probabilities: {REGRESSION}",
        [],
    ),
    (KServeV1, _b(P_ROWS), b"", 400, 'expected an object {"instances": [...]}', []),
    (KServeV1, _b({"rows": P_ROWS}), b"", 400, 'expected an object with "instances": [...]', []),
    (KServeV1, _b({"instances": "x"}), b"", 400, "instances: expected a list of rows", []),
    (KServeV1, _b({"inputs": 5}), b"", 400, "inputs: expected a list of rows", []),
    (KServeV1, _b({"instances": []}), b"", 400, "instances: the request has no rows", []),
    (
        KServeV1,
        _b({"inputs": [P_ROWS[0], P_LISTS[1]]}),
        b"",
        400,
        f"inputs: expected rows that are all objects or all lists in column order ({P_NAMES})",
        [],
    ),
    (
        KServeV1,
        _b({"instances": [5, 6]}),
        b"",
        400,
        f"instances: expected rows that are all objects or all lists in column order ({P_NAMES})",
        [],
    ),
    (KServeV1, _b({**ROWS_OK, "parameters": [1]}), b"", 400, "parameters: expected an object", []),
    (
        KServeV1,
        _b({**ROWS_OK, "parameters": "predict_proba"}),
        b"",
        400,
        "parameters: expected an object",
        [],
    ),
    (
        KServeV1,
        _b({**ROWS_OK, "parameters": {"predict_proba": 1}}),
        b"",
        400,
        "parameters.predict_proba: expected true or false",
        [],
    ),
    (
        KServeV1,
        _b({**ROWS_OK, "parameters": {"predict_proba": True}}),
        b"",
        400,
        f"parameters.predict_proba: {REGRESSION}",
        [],
    ),
    (OpenInferenceV2, _b([_v2_inputs()]), b"", 400, V2_ENVELOPE, []),
    (OpenInferenceV2, _b({}), b"", 400, V2_ENVELOPE, []),
    (OpenInferenceV2, _b({"inputs": {"area": [1]}}), b"", 400, V2_ENVELOPE, []),
    (OpenInferenceV2, _b({"inputs": []}), b"", 400, V2_ENVELOPE, []),
    (
        OpenInferenceV2,
        _b({"inputs": [5]}),
        b"",
        400,
        "inputs[0]: expected an object with name, shape, datatype and data",
        [],
    ),
    (
        OpenInferenceV2,
        _b({"inputs": [{"name": "area"}]}),
        b"",
        400,
        "inputs[0]: missing shape, datatype, data",
        [],
    ),
    (
        OpenInferenceV2,
        _b({"inputs": [*_v2_inputs()[:1], {"shape": [2], "datatype": "FP64", "data": [1, 2]}]}),
        b"",
        400,
        "inputs[1]: missing name",
        [],
    ),
    (
        OpenInferenceV2,
        _b({"inputs": _v2_inputs(area={"name": 5})}),
        b"",
        400,
        "inputs[0].name: expected a string",
        [],
    ),
    *[
        (
            OpenInferenceV2,
            _b({"inputs": _v2_inputs(rooms={"shape": shape})}),
            b"",
            400,
            "inputs[1] (rooms).shape: expected a list of non-negative integers",
            [],
        )
        for shape in ("2", [-1], [2.0], [True], [2, None])
    ],
    (
        OpenInferenceV2,
        _b({"inputs": _v2_inputs(new={"datatype": "FP128"})}),
        b"",
        400,
        f"inputs[2] (new).datatype: expected one of {DATATYPES}, got 'FP128'",
        [],
    ),
    (
        OpenInferenceV2,
        _b({"inputs": _v2_inputs(new={"datatype": "F" * 50})}),
        b"",
        400,
        f"inputs[2] (new).datatype: expected one of {DATATYPES}, got {'F' * 40!r}",
        [],
    ),
    (
        OpenInferenceV2,
        _b({"inputs": _v2_inputs(new={"datatype": 64})}),
        b"",
        400,
        f"inputs[2] (new).datatype: expected one of {DATATYPES}, got integer",
        [],
    ),
    (
        OpenInferenceV2,
        _b({"inputs": _v2_inputs(note={"shape": [2, 1, 1]})}),
        b"",
        400,
        "inputs[4] (note).shape: 3 dimensions; expected 1 or 2",
        [],
    ),
    (
        OpenInferenceV2,
        _b({"inputs": _v2_inputs(area={"shape": [3]})}),
        b"",
        400,
        "inputs[0] (area): shape [3] holds 3 values, data has 2",
        [],
    ),
    (
        OpenInferenceV2,
        _b({"inputs": _v2_inputs(area={"shape": [1, 3]})}),
        b"",
        400,
        "inputs[0] (area): shape [1, 3] holds 3 values, data has 2",
        [],
    ),
    (
        OpenInferenceV2,
        _b({"inputs": _v2_inputs(area={"shape": [3, 1]})}),
        b"",
        400,
        "inputs[0] (area): shape [3, 1] holds 3 values, data has 2",
        [],
    ),
    (
        OpenInferenceV2,
        _b({"inputs": _v2_inputs(area={"shape": []})}),
        b"",
        400,
        "inputs[0] (area): shape [] holds 1 values, data has 2",
        [],
    ),
    (
        OpenInferenceV2,
        _b({"inputs": _v2_inputs(area={"shape": [0], "data": []})}),
        b"",
        400,
        "inputs: the columns have different lengths",
        [{"row": None, "field": n, "error": f"{0 if n == 'area' else 2} values"} for n in P_SIG.names],
    ),
    (
        OpenInferenceV2,
        _b({"inputs": [{**t, "shape": [0], "data": []} for t in _v2_inputs()]}),
        b"",
        400,
        "the request has no rows",
        [],
    ),
    (
        OpenInferenceV2,
        _b({"inputs": [*_v2_inputs(), _tensor("rooms", [3, 4], "INT64")]}),
        b"",
        400,
        "inputs[5] (rooms): the input is also inputs[1]; send each input once",
        [{"row": None, "field": "rooms", "error": "sent more than once"}],
    ),
    (
        OpenInferenceV2,
        _b({"inputs": _v2_inputs(area={"shape": [1, 2], "data": [[61.0, 70.0]]})}),
        b"",
        422,
        "1 input tensor(s) do not fit the model",
        [{"row": None, "field": "area", "error": "shape [1, 2]: expected [rows] or [rows, 1]"}],
    ),
    (
        OpenInferenceV2,
        _b(
            {
                "inputs": _v2_inputs(
                    area={"datatype": "BYTES"},
                    rooms={"datatype": "BOOL"},
                    new={"datatype": "BYTES"},
                    district={"datatype": "FP64"},
                    note={"datatype": "BOOL"},
                )
            }
        ),
        b"",
        422,
        "5 input tensor(s) do not fit the model",
        [
            {"row": None, "field": "area", "error": "datatype BYTES does not fit a number column; send FP64"},
            {
                "row": None,
                "field": "rooms",
                "error": "datatype BOOL does not fit a integer column; send INT64",
            },
            {"row": None, "field": "new", "error": "datatype BYTES does not fit a boolean column; send BOOL"},
            {
                "row": None,
                "field": "district",
                "error": "datatype FP64 does not fit a string column; send BYTES",
            },
            {"row": None, "field": "note", "error": "datatype BOOL does not fit a number column; send FP64"},
        ],
    ),
    *[
        (
            OpenInferenceV2,
            _b({"inputs": [_tensor("x", [1.0] * 8, "FP64", shape)]}),
            b"",
            400,
            MATRIX_REASON,
            [],
        )
        for shape in ([8], [2, 4], [1, 8])
    ],
    (
        OpenInferenceV2,
        _b({"inputs": _v2_inputs(), "outputs": "predict"}),
        b"",
        400,
        'outputs: expected a list of {"name": ...} objects',
        [],
    ),
    (
        OpenInferenceV2,
        _b({"inputs": _v2_inputs(), "outputs": []}),
        b"",
        400,
        'outputs: expected a list of {"name": ...} objects',
        [],
    ),
    (
        OpenInferenceV2,
        _b({"inputs": _v2_inputs(), "outputs": [{"name": "predict"}, {"name": "proba"}]}),
        b"",
        400,
        "outputs[1].name: 'proba' is not an output of this model (predict)",
        [],
    ),
    (
        OpenInferenceV2,
        _b({"inputs": _v2_inputs(), "outputs": ["predict"]}),
        b"",
        400,
        "outputs[0].name: None is not an output of this model (predict)",
        [],
    ),
    (
        OpenInferenceV2,
        _b({"inputs": _v2_inputs(), "outputs": [{"name": "predict_proba"}]}),
        b"",
        400,
        f"outputs[0].name: 'predict_proba' is not an output of this model (predict); {REGRESSION}",
        [],
    ),
    (
        OpenInferenceV2,  # one tensor named for a column is that column, not a [rows, columns] tensor
        _b({"inputs": _v2_inputs()[:1]}),
        b"",
        422,
        "3 invalid value(s) in field(s) district, new, rooms",
        [{"row": None, "field": n, "error": "missing"} for n in ("rooms", "new", "district")],
    ),
    (
        OpenInferenceV2,  # every tensor is checked, past one that does not fit
        _b(
            {
                "inputs": _v2_inputs(
                    area={"shape": [1, 2], "data": [[61.0, 70.0]]},
                    new={"shape": [2, 2], "data": [1, 0, 1, 0]},
                    district={"datatype": "FP64"},
                )
            }
        ),
        b"",
        422,
        "3 input tensor(s) do not fit the model",
        [
            {"row": None, "field": "area", "error": "shape [1, 2]: expected [rows] or [rows, 1]"},
            {"row": None, "field": "new", "error": "shape [2, 2]: expected [rows] or [rows, 1]"},
            {
                "row": None,
                "field": "district",
                "error": "datatype FP64 does not fit a string column; send BYTES",
            },
        ],
    ),
    (
        KServeV1,
        _b({"inputs": {**P_WANT, "area": 61.0}}),
        b"",
        400,
        "inputs: each column must be a list",
        [{"row": None, "field": "area", "error": "expected a list of values"}],
    ),
    (
        MLflow,
        _b({"instances": {**P_WANT, "rooms": [3]}}),
        b"",
        400,
        "instances: the columns have different lengths",
        [{"row": None, "field": n, "error": f"{1 if n == 'rooms' else 2} values"} for n in P_SIG.names],
    ),
    (
        MLflow,  # a short row is named, and the rows after it are still read
        P_CSV.replace(b",B,1.5", b",B") + b"big,5,1,C,\n",
        b"text/csv",
        422,
        "2 invalid value(s) in field(s) area of row(s) 1, 2",
        [
            {"row": 1, "field": None, "error": "expected a list of 5 values, got 4 values"},
            {"row": 2, "field": "area", "error": "expected a number, got string", "value": "big"},
        ],
    ),
    (
        MLflow,
        _b([P_ROWS]),
        b"",
        400,
        "expected an object with one of: dataframe_split, dataframe_records, instances, inputs",
        [],
    ),
    (
        MLflow,
        _b({"records": P_ROWS}),
        b"",
        400,
        f"{ONE_OF}, got none",
        [],
    ),
    (
        MLflow,
        _b({"instances": P_ROWS, "inputs": P_ROWS}),
        b"",
        400,
        f"{ONE_OF}, got instances, inputs",
        [],
    ),
    (
        MLflow,
        _b({"dataframe_split": {"data": P_LISTS}, "dataframe_records": P_ROWS}),
        b"",
        400,
        f"{ONE_OF}, got dataframe_split, dataframe_records",
        [],
    ),
    *[
        (
            MLflow,
            _b({"dataframe_split": split}),
            b"",
            400,
            'dataframe_split: expected {"columns": [...], "data": [[...], ...]}',
            [],
        )
        for split in (P_LISTS, {"columns": ["area"]}, {"data": {"area": [1]}})
    ],
    (
        MLflow,
        _b({"dataframe_split": {"columns": "area", "data": P_LISTS}}),
        b"",
        400,
        "dataframe_split.columns: expected a list of column names",
        [],
    ),
    (
        MLflow,
        _b({"dataframe_split": {"columns": ["area", 5], "data": P_LISTS}}),
        b"",
        400,
        "dataframe_split.data: column names must be strings",
        [],
    ),
    (
        MLflow,
        _b({"dataframe_records": P_LISTS[0]}),
        b"",
        422,
        "5 invalid value(s) of row(s) 0, 1, 2, 3, 4",
        [
            {"row": i, "field": None, "error": f"expected an object, got {t}"}
            for i, t in enumerate(["number", "integer", "boolean", "string", "null"])
        ],
    ),
    (
        MLflow,
        _b({"dataframe_records": {"area": 1}}),
        b"",
        400,
        "dataframe_records: expected a list of objects, got object",
        [],
    ),
    (MLflow, _b({"instances": "x"}), b"", 400, "instances: expected a list of rows", []),
    (MLflow, _b({"inputs": []}), b"", 400, "inputs: the request has no rows", []),
    (
        MLflow,
        b"area,rooms\n\xff,2\n",
        b"text/csv",
        400,
        "the CSV body is not UTF-8: invalid start byte at byte 11",
        [],
    ),
    (
        MLflow,
        b"area\rrooms\n1,2\n",
        b"text/csv",
        400,
        "the CSV body cannot be read: new-line character seen in unquoted field - "
        "do you need to open the file in universal-newline mode?",
        [],
    ),
    (MLflow, b"", b"text/csv", 400, "the CSV body is empty; expected a header row and data rows", []),
    (MLflow, b"\n\r\n\n", b"text/csv", 400, "the CSV body is empty; expected a header row and data rows", []),
    (MLflow, P_CSV.split(b"\n")[0] + b"\n", b"text/csv", 400, "the request has no rows", []),
    (
        MLflow,
        b"area,area\n1,2\n",
        b"text/csv",
        400,
        "csv: column(s) area named more than once; name each column once",
        [{"row": None, "field": "area", "error": "named 2 times"}],
    ),
    (
        MLflow,
        P_CSV.replace(b",B,1.5", b",B"),
        b"text/csv",
        422,
        "1 invalid value(s) of row(s) 1",
        [{"row": 1, "field": None, "error": "expected a list of 5 values, got 4 values"}],
    ),
]


@pytest.mark.parametrize(("cls", "raw", "ctype", "status", "reason", "problems"), REFUSALS)
def test_a_malformed_request_is_refused_with_the_status_and_the_reason_naming_the_key(
    cls, raw, ctype, status, reason, problems
):
    exc = _refused(lambda: _proto(cls).parse(raw, ctype))
    assert (exc.status, exc.message, exc.problems) == (status, reason, problems)


CSV_VALUES = [
    # (column, cell, the reason the validator gives, the value shown back)
    ("area", "big", "expected a number, got string", "big"),
    ("area", "", "must not be null", None),
    ("area", "1,5", None, None),  # quoted below: a decimal comma is text
    ("rooms", "2.5", "expected an integer, got 2.5", 2.5),
    ("rooms", "three", "expected an integer, got string", "three"),
    ("rooms", "", "must not be null", None),
    ("new", "yes", "expected a boolean, got string", "yes"),
    ("new", "2", "expected a boolean, got string", "2"),
    ("new", " ", "must not be null", None),
    ("district", "", "must not be null", None),
]


@pytest.mark.parametrize(("column", "cell", "reason", "shown"), CSV_VALUES)
def test_a_csv_cell_is_read_as_its_columns_kind_and_refused_naming_row_and_field(column, cell, reason, shown):
    names = P_SIG.names
    row = {"area": "61", "rooms": "3", "new": "true", "district": "A", "note": ""}
    row[column] = f'"{cell}"' if "," in cell else cell
    raw = (
        ",".join(names) + "\n" + P_CSV.decode().split("\n")[1] + "\n" + ",".join(row[n] for n in names)
    ).encode()
    exc = _refused(lambda: _proto(MLflow).parse(raw, b"text/csv"))
    problem = {"row": 1, "field": column, "error": reason or "expected a number, got string"}
    problem["value"] = shown if reason else cell
    assert (exc.status, exc.problems) == (422, [problem])


@pytest.mark.parametrize(
    ("cells", "want"),
    [
        (("1", "0", "TRUE", " False "), [True, False, True, False]),
        (("true", "false", "1", "0"), [True, False, True, False]),
    ],
)
def test_csv_booleans_are_true_false_one_and_zero_in_any_case(cells, want):
    lines = ["area,rooms,new,district"] + [f"1,2,{c},A" for c in cells]
    request = _proto(MLflow).parse("\n".join(lines).encode(), b"text/csv")
    assert request.columns["new"] == want
    assert request.columns["rooms"] == [2] * 4 and type(request.columns["rooms"][0]) is int


def test_a_csv_request_takes_the_default_answer():
    clf = _proto(MLflow, "classification", ["a", "b"])
    assert clf.parse(P_CSV, b"text/csv").choice is True
    assert (
        _proto(MLflow, "classification", ["a", "b"], probabilities=False).parse(P_CSV, b"text/csv").choice
        is False
    )


def test_nested_tensor_data_is_read_in_row_major_order():
    from mlrelease.serve.protocols import _flatten

    assert _flatten(5) == [5]
    assert _flatten([1, 2]) == [1, 2]
    assert _flatten([[1, [2, 3]], 4, [[5], 6]]) == [1, 2, 3, 4, 5, 6]
    assert _flatten([[], [[1]], 2]) == [1, 2]
    rows = [[61.0, [3, True]], ["A", None, [70.0]], 4.0, [[False, "B"], 1.5]]
    request = _proto(OpenInferenceV2).parse(_b({"inputs": [_tensor("t", rows, "BYTES", [2, 5])]}), b"")
    assert request.columns == P_WANT


# ---------------------------------------------------------------------------- answers


def _answered(
    proto: Any, raw: bytes, answer: Answer, outlier_rows: list[int] | None = None
) -> dict[str, Any]:
    body = proto.answer(proto.parse(raw, b""), answer, outlier_rows or [])
    return json.loads(body)


CLASSES = ["high", "low"]
LABELS = ["low", "high"]
PROBA = [[0.25, 0.75], [0.5, 0.5]]


def test_native_answers_model_version_predictions_flags_and_outlier_rows_in_order():
    answer = _answered(_proto(Native), _b(P_ROWS), Answer([1.5, 2.5], [[], ["input_far:area"]]), [1])
    assert list(answer.items()) == [
        ("model", "m"),
        ("version", "7"),
        ("predictions", [1.5, 2.5]),
        ("flags", [[], ["input_far:area"]]),
        ("outlier_rows", [1]),
    ]
    clf = _proto(Native, "classification", CLASSES)
    answer = _answered(clf, _b(P_ROWS), Answer(LABELS, [[], []], PROBA))
    assert list(answer.items()) == [
        ("model", "m"),
        ("version", "7"),
        ("predictions", LABELS),
        ("probabilities", PROBA),
        ("classes", CLASSES),
        ("flags", [[], []]),
        ("outlier_rows", []),
    ]
    lean = _answered(clf, _b({"records": P_ROWS, "probabilities": False}), Answer(LABELS, [[], []], PROBA))
    assert list(lean) == ["model", "version", "predictions", "flags", "outlier_rows"]
    asked = _proto(Native, "classification", CLASSES, probabilities=False)
    assert "probabilities" not in _answered(asked, _b(P_ROWS), Answer(LABELS, [[], []], PROBA))
    again = _answered(asked, _b({"records": P_ROWS, "probabilities": True}), Answer(LABELS, [[], []], PROBA))
    assert again["probabilities"] == PROBA
    # a classifier whose model gave no probabilities this time answers labels alone
    assert "probabilities" not in _answered(clf, _b(P_ROWS), Answer(LABELS, [[], []], None))
    # a regression may say it wants none
    assert _proto(Native).parse(_b({"records": P_ROWS, "probabilities": False}), b"").choice is False


def test_kserve_v1_answers_labels_or_probability_rows():
    body = _b({"instances": P_ROWS})
    assert _answered(_proto(KServeV1), body, Answer([1.5, 2.5], [[], []])) == {"predictions": [1.5, 2.5]}
    clf = _proto(KServeV1, "classification", CLASSES)
    assert _answered(clf, body, Answer(LABELS, [[], []], PROBA)) == {"predictions": LABELS}
    for params in ({"predict_proba": True}, {"predict_proba": True, "other": 1}):
        asked = _b({"instances": P_ROWS, "parameters": params})
        assert _answered(clf, asked, Answer(LABELS, [[], []], PROBA)) == {"predictions": PROBA}
    by_config = _proto(KServeV1, "classification", CLASSES, kserve_v1="probabilities")
    for params in (None, {}, {"other": 1}):
        sent = _b({"instances": P_ROWS, **({"parameters": params} if params is not None else {})})
        assert _answered(by_config, sent, Answer(LABELS, [[], []], PROBA)) == {"predictions": PROBA}
    declined = _b({"instances": P_ROWS, "parameters": {"predict_proba": False}})
    assert _answered(by_config, declined, Answer(LABELS, [[], []], PROBA)) == {"predictions": LABELS}
    assert _answered(
        clf, _b({"instances": P_ROWS, "parameters": {"other": 1}}), Answer(LABELS, [[], []], PROBA)
    ) == {"predictions": LABELS}
    no_proba = _proto(KServeV1, "classification", None, kserve_v1="probabilities")
    assert _answered(no_proba, body, Answer(LABELS, [[], []])) == {"predictions": LABELS}


def test_v2_answers_the_outputs_asked_for_in_the_order_asked():
    clf = _proto(OpenInferenceV2, "classification", CLASSES)
    inputs = _v2_inputs()
    predict = {"name": "predict", "datatype": "BYTES", "shape": [2], "data": LABELS}
    proba = {"name": "predict_proba", "datatype": "FP64", "shape": [2, 2], "data": [0.25, 0.75, 0.5, 0.5]}
    cases = [
        (None, [predict, proba]),
        ([{"name": "predict_proba"}, {"name": "predict"}], [proba, predict]),
        ([{"name": "predict"}, {"name": "predict"}], [predict]),
        ([{"name": "predict_proba", "parameters": {}}], [proba]),
    ]
    for outputs, want in cases:
        body = {"inputs": inputs, **({"outputs": outputs} if outputs is not None else {})}
        assert _answered(clf, _b(body), Answer(LABELS, [[], []], PROBA))["outputs"] == want
    bad = {"inputs": inputs, "outputs": [{"name": "proba"}]}
    exc = _refused(lambda: clf.parse(_b(bad), b""))
    assert exc.message == "outputs[0].name: 'proba' is not an output of this model (predict, predict_proba)"
    lean = _proto(OpenInferenceV2, "classification", CLASSES, probabilities=False)
    assert _answered(lean, _b({"inputs": inputs}), Answer(LABELS, [[], []], PROBA))["outputs"] == [predict]
    bad = {"inputs": inputs, "outputs": [{"name": "predict_proba"}]}
    exc = _refused(lambda: _proto(OpenInferenceV2, "classification", None).parse(_b(bad), b""))
    assert exc.message == (
        "outputs[0].name: 'predict_proba' is not an output of this model (predict); "
        "this classifier gives no class probabilities (no predict_proba or classes_)"
    )


def test_mlflow_answers_a_dataframe_of_label_and_class_probabilities_or_a_list():
    body = _b({"dataframe_records": P_ROWS})
    assert _answered(_proto(MLflow), body, Answer([1.5, 2.5], [[], []])) == {"predictions": [1.5, 2.5]}
    clf = _proto(MLflow, "classification", CLASSES)
    assert _answered(clf, body, Answer(LABELS, [[], []], PROBA)) == {
        "predictions": [
            {"prediction": "low", "proba:high": 0.25, "proba:low": 0.75},
            {"prediction": "high", "proba:high": 0.5, "proba:low": 0.5},
        ]
    }
    assert _answered(clf, body, Answer(LABELS, [[], []], None)) == {"predictions": LABELS}
    lean = _proto(MLflow, "classification", CLASSES, probabilities=False)
    assert _answered(lean, body, Answer(LABELS, [[], []], PROBA)) == {"predictions": LABELS}
    # probabilities that do not match the classes or the rows are an error, never a cut answer
    for proba in ([[0.2, 0.3, 0.5], [0.5, 0.25, 0.25]], [[0.25, 0.75]], [*PROBA, [0.5, 0.5]]):
        with pytest.raises(ValueError, match="zip"):
            _answered(clf, body, Answer(LABELS, [[], []], proba))


@pytest.mark.parametrize("cls", [Native, KServeV1, OpenInferenceV2])
def test_errors_carry_the_reason_and_the_problems_with_their_count(cls):
    proto = _proto(cls)
    assert json.loads(proto.error(BadRequest(400, "bad"))) == {"error": "bad"}
    problem = {"row": 0, "field": "area", "error": "missing"}
    assert json.loads(proto.error(BadRequest(422, "bad", [problem]))) == {
        "error": "bad",
        "problems": [problem],
        "problem_count": 1,
    }
    assert json.loads(proto.error(BadRequest(422, "bad", [problem], total=150)))["problem_count"] == 150


def test_mlflow_errors_carry_its_error_code_and_message():
    proto = _proto(MLflow)
    problem = {"row": 0, "field": "area", "error": "missing"}
    for status, code in (
        (400, "BAD_REQUEST"),
        (413, "BAD_REQUEST"),
        (415, "BAD_REQUEST"),
        (422, "INVALID_PARAMETER_VALUE"),
    ):
        assert json.loads(proto.error(BadRequest(status, "bad"))) == {"error_code": code, "message": "bad"}
    assert json.loads(proto.error(BadRequest(422, "bad", [problem], total=3))) == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": "bad",
        "problems": [problem],
        "problem_count": 3,
    }


@pytest.mark.parametrize(
    ("task", "classes", "datatype"),
    [
        ("regression", None, "FP64"),
        ("regression", ["a"], "FP64"),
        ("classification", None, "BYTES"),
        ("classification", [], "BYTES"),
        ("classification", [False, True], "BOOL"),
        ("classification", [0, 1, 2], "INT64"),
        ("classification", [0.5, 1.5], "FP64"),
        ("classification", [0, 1.5], "FP64"),
        ("classification", ["a", "b"], "BYTES"),
        ("classification", [0, "b"], "BYTES"),
        ("classification", [False, 1], "BYTES"),
    ],
)
def test_the_v2_label_datatype_is_the_type_of_the_classes(task, classes, datatype):
    assert label_datatype(task, classes) == datatype
    answers = Answers(task, classes, kserve_v1="labels")
    assert answers.v2_outputs()[0] == {"name": "predict", "datatype": datatype, "shape": [-1]}


@pytest.mark.parametrize(
    ("classes", "predictions", "datatype", "data"),
    [
        ([0, 1], [1.0, 0], "INT64", [1, 0]),
        ([0.5, 1.5], [1, 0.5], "FP64", [1.0, 0.5]),
        ([False, True], [1, 0], "BOOL", [True, False]),
        (["a", "b"], ["b", 1], "BYTES", ["b", "1"]),
        ([0, 1], ["x", 1], "BYTES", ["x", "1"]),  # the model answered other than its classes say
        ([0.5, 1.5], [None, 0.5], "BYTES", ["None", "0.5"]),
    ],
)
def test_v2_labels_are_converted_to_their_datatype_or_sent_as_text(classes, predictions, datatype, data):
    out = Answers("classification", classes, kserve_v1="labels").v2_labels(predictions)
    assert out == {"name": "predict", "datatype": datatype, "shape": [2], "data": data}
    assert [type(x) for x in out["data"]] == [type(x) for x in data]


def test_regression_labels_are_floats():
    out = Answers("regression", None, kserve_v1="labels").v2_labels([1, 2.5])
    assert out["data"] == [1.0, 2.5] and type(out["data"][0]) is float


@pytest.mark.parametrize(
    ("classes", "kw", "default", "v1_default", "outputs"),
    [
        (None, {}, False, False, ["predict"]),
        (["a", "b", "c"], {}, True, False, ["predict", "predict_proba"]),
        (["a", "b", "c"], {"probabilities": False}, False, False, ["predict"]),
        (["a", "b", "c"], {"kserve_v1": "probabilities"}, True, True, ["predict", "predict_proba"]),
        (None, {"kserve_v1": "probabilities"}, False, False, ["predict"]),
    ],
)
def test_what_answers_carry_when_a_request_does_not_say(classes, kw, default, v1_default, outputs):
    answers = Answers("classification", classes, **{"kserve_v1": "labels", **kw})
    assert (answers.default, answers.v1_default) == (default, v1_default)
    described = answers.v2_outputs()
    assert [o["name"] for o in described] == outputs
    if "predict_proba" in outputs:
        assert described[1] == {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 3]}
    assert answers.v2_choice(None) == tuple(outputs)


def test_asking_for_probabilities_takes_only_booleans():
    answers = Answers("classification", ["a"], kserve_v1="labels")
    assert answers.asked(True, "p") is True and answers.asked(False, "p") is False
    for value in (1, 0, "true", None):
        assert _refused(lambda value=value: answers.asked(value, "p")).message == "p: expected true or false"
    assert Answers("regression", None, kserve_v1="labels").asked(False, "p") is False
