"""The request formats the server understands, each turned into validated columns.

- ours, ``POST /predict``: ``[{"area_m2": 70, ...}]`` or ``{"records": [...]}``;
- KServe v1, ``POST /v1/models/<name>:predict``: ``{"instances": [...]}`` (objects, or lists in
  the signature's column order; ``inputs`` is accepted as a synonym, as KServe does);
- Open Inference Protocol v2, ``POST /v2/models/<name>/infer``: ``{"inputs": [{"name",
  "shape", "datatype", "data"}]}``, one tensor per column, or one ``[N, columns]`` tensor of
  numbers in the signature's order;
- MLflow's scoring server, ``POST /invocations``: ``dataframe_split``, ``dataframe_records``,
  ``instances`` or ``inputs`` in JSON, or a CSV body with a header row (``text/csv``).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from mlrelease.serve.schema import BadRequest, Validator, type_name
from mlrelease.signature import Signature

Columns = dict[str, list[Any]]

V2_NUMERIC = {
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "FP16",
    "FP32",
    "FP64",
}
V2_DATATYPES = {*V2_NUMERIC, "BOOL", "BYTES"}
MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def v2_datatype(kind: str) -> str:
    return {"number": "FP64", "integer": "INT64", "boolean": "BOOL", "string": "BYTES"}[kind]


def parse_native(body: Any, v: Validator) -> Columns:
    if isinstance(body, dict) and "records" in body:
        return v.records(body["records"], "records")
    if isinstance(body, list):
        return v.records(body, "body")
    raise BadRequest(400, 'expected a list of records ([{"field": value, ...}]) or {"records": [...]}')


def _rows_or_records(data: Any, v: Validator, where: str) -> Columns:
    if isinstance(data, dict):
        return v.columns(data, where)
    if not isinstance(data, list):
        raise BadRequest(400, f"{where}: expected a list of rows")
    if data and all(type(r) is dict for r in data):
        return v.records(data, where)
    if data and all(type(r) is list for r in data):
        return v.rows(data, None, where)
    if not data:
        raise BadRequest(400, f"{where}: the request has no rows")
    raise BadRequest(
        400,
        f"{where}: expected rows that are all objects or all lists in column order ({', '.join(v.names)})",
    )


def parse_kserve_v1(body: Any, v: Validator) -> Columns:
    if not isinstance(body, dict):
        raise BadRequest(400, 'expected an object {"instances": [...]}')
    key = "instances" if "instances" in body else "inputs" if "inputs" in body else None
    if key is None:
        raise BadRequest(400, 'expected an object with "instances": [...]')
    return _rows_or_records(body[key], v, key)


def _flatten(data: Any) -> list[Any]:
    """The values of a (possibly nested) tensor in row-major order. A loop, not recursion: JSON
    nested a thousand deep (which the parser takes) would overflow Python's stack."""
    if not isinstance(data, list):
        return [data]
    if not any(isinstance(x, list) for x in data):
        return data
    out: list[Any] = []
    stack = [iter(data)]
    while stack:
        for x in stack[-1]:
            if isinstance(x, list):
                stack.append(iter(x))
                break
            out.append(x)
        else:
            stack.pop()
    return out


def _v2_tensor(t: Any, i: int) -> tuple[str, list[int], str, list[Any]]:
    if not isinstance(t, dict):
        raise BadRequest(400, f"inputs[{i}]: expected an object with name, shape, datatype and data")
    missing = [k for k in ("name", "shape", "datatype", "data") if k not in t]
    if missing:
        raise BadRequest(400, f"inputs[{i}]: missing {', '.join(missing)}")
    name, shape, dtype, data = t["name"], t["shape"], t["datatype"], t["data"]
    if not isinstance(name, str):
        raise BadRequest(400, f"inputs[{i}].name: expected a string")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise BadRequest(400, f"inputs[{i}] ({name}).shape: expected a list of non-negative integers")
    if not isinstance(dtype, str) or dtype not in V2_DATATYPES:
        got = repr(dtype[:40]) if isinstance(dtype, str) else type_name(dtype)
        raise BadRequest(
            400,
            f"inputs[{i}] ({name}).datatype: expected one of {', '.join(sorted(V2_DATATYPES))}, got {got}",
        )
    if len(shape) > 2:  # a column is [rows] or [rows, 1]; one tensor of all columns [rows, columns]
        raise BadRequest(400, f"inputs[{i}] ({name}).shape: {len(shape)} dimensions; expected 1 or 2")
    flat = _flatten(data)
    size = shape[0] * shape[1] if len(shape) == 2 else shape[0] if shape else 1
    if len(flat) != size:
        raise BadRequest(
            400, f"inputs[{i}] ({name}): shape {shape} holds {size} values, data has {len(flat)}"
        )
    return name, shape, dtype, flat


def parse_v2(body: Any, v: Validator, sig: Signature) -> Columns:
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or not body["inputs"]:
        raise BadRequest(400, 'expected an object {"inputs": [{"name", "shape", "datatype", "data"}, ...]}')
    tensors = [_v2_tensor(t, i) for i, t in enumerate(body["inputs"])]
    first: dict[str, int] = {}
    for i, t in enumerate(tensors):
        j = first.setdefault(t[0], i)
        if j != i:  # one copy would be read and the other ignored, unchecked
            raise BadRequest(
                400,
                f"inputs[{i}] ({t[0]}): the input is also inputs[{j}]; send each input once",
                [{"row": None, "field": t[0], "error": "sent more than once"}],
            )
    names = set(sig.names)
    if len(tensors) == 1 and tensors[0][0] not in names:
        name, shape, dtype, flat = tensors[0]
        width = len(sig.fields)
        if len(shape) != 2 or shape[1] != width:
            raise BadRequest(
                400,
                f"input {name!r} is not a column of the model; a single tensor must have shape "
                f"[rows, {width}] with the columns in this order: {', '.join(sig.names)}",
            )
        rows = [flat[r * width : (r + 1) * width] for r in range(shape[0])]
        return v.rows(rows, None, f"inputs[0] ({name})")
    problems = []
    columns: dict[str, list[Any]] = {}
    for name, shape, dtype, flat in tensors:
        if name not in names:
            continue  # extra inputs are ignored, as extra record fields are
        if len(shape) == 2 and shape[1] != 1:
            problems.append(
                {"row": None, "field": name, "error": f"shape {shape}: expected [rows] or [rows, 1]"}
            )
            continue
        kind = sig.field(name).kind
        want = v2_datatype(kind)
        fits = (
            dtype == want
            or (kind in ("number", "integer") and dtype in V2_NUMERIC)
            or (kind == "boolean" and dtype in V2_NUMERIC)
        )
        if not fits:
            problems.append(
                {
                    "row": None,
                    "field": name,
                    "error": f"datatype {dtype} does not fit a {kind} column; send {want}",
                }
            )
            continue
        columns[name] = flat
    if problems:
        raise BadRequest(422, f"{len(problems)} input tensor(s) do not fit the model", problems)
    return v.columns(columns, "inputs")


def parse_mlflow(body: Any, v: Validator) -> Columns:
    if not isinstance(body, dict):
        raise BadRequest(400, f"expected an object with one of: {', '.join(MLFLOW_KEYS)}")
    keys = [k for k in MLFLOW_KEYS if k in body]
    if len(keys) != 1:
        raise BadRequest(
            400,
            f"expected exactly one of {', '.join(MLFLOW_KEYS)}, got {', '.join(keys) or 'none'}",
        )
    key = keys[0]
    data = body[key]
    if key == "dataframe_split":
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise BadRequest(400, 'dataframe_split: expected {"columns": [...], "data": [[...], ...]}')
        columns = data.get("columns")
        if columns is not None and not isinstance(columns, list):
            raise BadRequest(400, "dataframe_split.columns: expected a list of column names")
        return v.rows(data["data"], columns, "dataframe_split.data")
    if key == "dataframe_records":
        return v.records(data, "dataframe_records")
    return _rows_or_records(data, v, key)


def parse_csv(raw: bytes, v: Validator, sig: Signature) -> Columns:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadRequest(400, f"the CSV body is not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        table = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise BadRequest(400, f"the CSV body cannot be read: {exc}") from None
    table = [r for r in table if r]
    if not table:
        raise BadRequest(400, "the CSV body is empty; expected a header row and data rows")
    header, rows = table[0], table[1:]
    kinds = {f.name: f.kind for f in sig.fields}
    converters = [_csv_converter(kinds.get(h)) for h in header]
    width = len(header)
    out = []
    for row in rows:
        if len(row) != width:
            out.append(row)  # the validator names the row and the width
            continue
        out.append([conv(x) for conv, x in zip(converters, row, strict=True)])
    return v.rows(out, header, "csv")


def _csv_converter(kind: str | None):
    def number(s: str) -> Any:
        if s == "":
            return None
        try:
            return float(s)
        except ValueError:
            return s

    def integer(s: str) -> Any:
        if s == "":
            return None
        try:
            return int(s)
        except ValueError:
            return number(s)

    def boolean(s: str) -> Any:
        low = s.strip().lower()
        if low == "":
            return None
        return {"true": True, "false": False, "1": True, "0": False}.get(low, s)

    def string(s: str) -> Any:
        return None if s == "" else s

    return {"number": number, "integer": integer, "boolean": boolean}.get(kind or "", string)
