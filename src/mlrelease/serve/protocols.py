"""The request formats the server understands: one object per wire protocol, which parses a
request's body to validated columns and renders the answer and the errors in its own shape.

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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson

from mlrelease.serve.batching import Answer, Columns
from mlrelease.serve.schema import BadRequest, Validator, type_name
from mlrelease.signature import Signature

JSON = b"application/json"
CSV_TYPES = (b"text/csv", b"application/csv")
Choice = bool | tuple[str, ...]  # whether probabilities come; for v2, the output names

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


@dataclass(frozen=True)
class Request:
    """A parsed request: its validated columns, its row count and what its answer carries."""

    columns: Columns
    rows: int
    choice: Choice
    id: str | None = None  # v2's request id, echoed in the answer
    # the body's row objects when they are exactly the records of ``columns`` (the fields in
    # the signature's order, every value unchanged): the log writes them as the request's
    # inputs instead of building the records again
    records: list[dict[str, Any]] | None = None


class Protocol:
    """How one wire protocol reads a request and writes its answer and its errors.

    ``parse`` turns the raw body into a ``Request`` (raising ``BadRequest`` with the status and
    the message the client gets); ``answer`` and ``error`` render JSON bodies."""

    name: ClassVar[str]
    route: ClassVar[str]  # the route template, as metrics and log lines name it

    def __init__(self, validator: Validator, answers: Answers, model: str, version: str):
        self.v = validator
        self.signature = validator.signature
        self.answers = answers
        self.model = model
        self.version = version

    def parse(self, raw: bytes, ctype: bytes) -> Request:
        if ctype and ctype != JSON and not ctype.endswith(b"+json"):
            raise BadRequest(
                415,
                f"Content-Type {ctype.decode('latin-1')!r} is not supported; send application/json",
            )
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(400, f"malformed JSON: {exc}") from None
        columns, records = self.read(data)
        request_id = self.request_id(data)
        return Request(columns, _rows(columns), self.choose(data), request_id, records)

    def read(self, data: Any) -> tuple[Columns, list[dict[str, Any]] | None]:
        """The validated columns, and the row objects they came from unchanged, if any."""
        return self.columns(data), None

    def columns(self, data: Any) -> Columns:
        raise NotImplementedError

    def request_id(self, data: Any) -> str | None:
        return None

    def choose(self, data: Any) -> Choice:
        return self.answers.default

    def answer(self, request: Request, answer: Answer, outlier_rows: list[int]) -> bytes:
        raise NotImplementedError

    def error(self, exc: BadRequest) -> bytes:
        return orjson.dumps(_problems({"error": exc.message}, exc))

    def _with_proba(self, request: Request, answer: Answer) -> bool:
        return bool(request.choice) and answer.probabilities is not None


def _problems(body: dict[str, Any], exc: BadRequest) -> dict[str, Any]:
    if exc.problems:
        body["problems"] = exc.problems
        body["problem_count"] = exc.total if exc.total is not None else len(exc.problems)
    return body


def _rows(columns: Columns) -> int:
    return len(next(iter(columns.values()), []))


class Native(Protocol):
    """``POST /predict``: ``[{...}, ...]`` or ``{"records": [...], "probabilities": bool}``."""

    name = "native"
    route = "/predict"

    def read(self, data: Any) -> tuple[Columns, list[dict[str, Any]] | None]:
        if isinstance(data, dict) and "records" in data:
            return self.v.read_records(data["records"], "records")
        if isinstance(data, list):
            return self.v.read_records(data, "body")
        raise BadRequest(400, 'expected a list of records ([{"field": value, ...}]) or {"records": [...]}')

    def choose(self, data: Any) -> Choice:
        if isinstance(data, dict) and "probabilities" in data:
            return self.answers.asked(data["probabilities"], "probabilities")
        return self.answers.default

    def answer(self, request: Request, answer: Answer, outlier_rows: list[int]) -> bytes:
        out: dict[str, Any] = {"model": self.model, "version": self.version}
        out["predictions"] = answer.predictions
        if self._with_proba(request, answer):
            out["probabilities"] = answer.probabilities
            out["classes"] = self.answers.classes
        out["flags"] = answer.flags
        out["outlier_rows"] = outlier_rows
        return orjson.dumps(out)


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


class KServeV1(Protocol):
    """KServe v1, ``POST /v1/models/<name>:predict``: ``{"instances": [...]}`` (or ``inputs``)."""

    name = "v1"
    route = "/v1/models/{name}:predict"

    def columns(self, data: Any) -> Columns:
        if not isinstance(data, dict):
            raise BadRequest(400, 'expected an object {"instances": [...]}')
        key = "instances" if "instances" in data else "inputs" if "inputs" in data else None
        if key is None:
            raise BadRequest(400, 'expected an object with "instances": [...]')
        return _rows_or_records(data[key], self.v, key)

    def choose(self, data: dict[str, Any]) -> Choice:  # a body ``columns`` took: an object
        params = data.get("parameters")
        if params is None:
            return self.answers.v1_default
        if not isinstance(params, dict):
            raise BadRequest(400, "parameters: expected an object")
        if "predict_proba" in params:
            return self.answers.asked(params["predict_proba"], "parameters.predict_proba")
        return self.answers.v1_default

    def answer(self, request: Request, answer: Answer, outlier_rows: list[int]) -> bytes:
        with_proba = self._with_proba(request, answer)
        return orjson.dumps({"predictions": answer.probabilities if with_proba else answer.predictions})


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


class OpenInferenceV2(Protocol):
    """Open Inference Protocol v2, ``POST /v2/models/<name>[/versions/<version>]/infer``: one
    tensor per column, or one ``[rows, columns]`` tensor in the signature's order."""

    name = "v2"
    route = "/v2/models/{name}/infer"

    def columns(self, data: Any) -> Columns:
        if not isinstance(data, dict) or not isinstance(data.get("inputs"), list) or not data["inputs"]:
            raise BadRequest(
                400, 'expected an object {"inputs": [{"name", "shape", "datatype", "data"}, ...]}'
            )
        tensors = [_v2_tensor(t, i) for i, t in enumerate(data["inputs"])]
        first: dict[str, int] = {}
        for i, t in enumerate(tensors):
            j = first.setdefault(t[0], i)
            if j != i:  # one copy would be read and the other ignored, unchecked
                raise BadRequest(
                    400,
                    f"inputs[{i}] ({t[0]}): the input is also inputs[{j}]; send each input once",
                    [{"row": None, "field": t[0], "error": "sent more than once"}],
                )
        sig = self.signature
        names = set(sig.names)
        if len(tensors) == 1 and tensors[0][0] not in names:
            return self._matrix(*tensors[0])
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
        return self.v.columns(columns, "inputs")

    def _matrix(self, name: str, shape: list[int], dtype: str, flat: list[Any]) -> Columns:
        sig = self.signature
        width = len(sig.fields)
        if len(shape) != 2 or shape[1] != width:
            raise BadRequest(
                400,
                f"input {name!r} is not a column of the model; a single tensor must have shape "
                f"[rows, {width}] with the columns in this order: {', '.join(sig.names)}",
            )
        rows = [flat[r * width : (r + 1) * width] for r in range(shape[0])]
        return self.v.rows(rows, None, f"inputs[0] ({name})")

    def request_id(self, data: Any) -> str | None:
        request_id = data.get("id")
        return request_id if isinstance(request_id, str) else None

    def choose(self, data: dict[str, Any]) -> Choice:  # a body ``columns`` took: an object
        return self.answers.v2_choice(data.get("outputs"))

    def answer(self, request: Request, answer: Answer, outlier_rows: list[int]) -> bytes:
        out: dict[str, Any] = {"model_name": self.model, "model_version": self.version}
        if request.id is not None:
            out["id"] = request.id
        outputs = []
        assert isinstance(request.choice, tuple)
        for name in request.choice:
            if name == LABELS_OUTPUT:
                outputs.append(self.answers.v2_labels(answer.predictions))
            else:
                outputs.append(self.answers.v2_proba(answer.probabilities))
        out["outputs"] = outputs
        return orjson.dumps(out)


class MLflow(Protocol):
    """MLflow's scoring server, ``POST /invocations``: ``dataframe_split``,
    ``dataframe_records``, ``instances`` or ``inputs`` in JSON, or CSV with a header row."""

    name = "mlflow"
    route = "/invocations"

    def parse(self, raw: bytes, ctype: bytes) -> Request:
        if ctype in CSV_TYPES:
            columns = parse_csv(raw, self.v, self.signature)
            return Request(columns, _rows(columns), self.answers.default)
        return super().parse(raw, ctype)

    def columns(self, data: Any) -> Columns:
        if not isinstance(data, dict):
            raise BadRequest(400, f"expected an object with one of: {', '.join(MLFLOW_KEYS)}")
        keys = [k for k in MLFLOW_KEYS if k in data]
        if len(keys) != 1:
            raise BadRequest(
                400,
                f"expected exactly one of {', '.join(MLFLOW_KEYS)}, got {', '.join(keys) or 'none'}",
            )
        key = keys[0]
        body = data[key]
        if key == "dataframe_split":
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise BadRequest(400, 'dataframe_split: expected {"columns": [...], "data": [[...], ...]}')
            columns = body.get("columns")
            if columns is not None and not isinstance(columns, list):
                raise BadRequest(400, "dataframe_split.columns: expected a list of column names")
            return self.v.rows(body["data"], columns, "dataframe_split.data")
        if key == "dataframe_records":
            return self.v.records(body, "dataframe_records")
        return _rows_or_records(body, self.v, key)

    def answer(self, request: Request, answer: Answer, outlier_rows: list[int]) -> bytes:
        proba = answer.probabilities
        if self._with_proba(request, answer) and proba is not None:  # a DataFrame answer, as records
            keys = [f"{PROBA_PREFIX}{c}" for c in self.answers.classes or []]
            return orjson.dumps(
                {
                    "predictions": [
                        {"prediction": label, **dict(zip(keys, row, strict=True))}
                        for label, row in zip(answer.predictions, proba, strict=True)
                    ]
                }
            )
        return orjson.dumps({"predictions": answer.predictions})

    def error(self, exc: BadRequest) -> bytes:
        code = "INVALID_PARAMETER_VALUE" if exc.status == 422 else "BAD_REQUEST"
        return orjson.dumps(_problems({"error_code": code, "message": exc.message}, exc))


PROTOCOLS: tuple[type[Protocol], ...] = (Native, MLflow, KServeV1, OpenInferenceV2)


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


def _csv_converter(kind: str | None) -> Callable[[str], Any]:
    def number(s: str) -> Any:
        if s == "":
            return None
        try:
            return float(s)
        except ValueError:
            return s

    def integer(s: str) -> Any:
        try:
            return int(s)
        except ValueError:  # "" too: number makes it a null
            return number(s)

    def boolean(s: str) -> Any:
        low = s.strip().lower()
        if low == "":
            return None
        return {"true": True, "false": False, "1": True, "0": False}.get(low, s)

    def string(s: str) -> Any:
        return None if s == "" else s

    return {"number": number, "integer": integer, "boolean": boolean}.get(kind or "", string)


# ----------------------------------------------------------------------------- answers

LABELS_OUTPUT = "predict"  # the v2 output tensor names MLServer's scikit-learn runtime uses
PROBA_OUTPUT = "predict_proba"
PROBA_PREFIX = "proba:"  # MLflow answer columns, as in predictions.parquet and golden.parquet


def label_datatype(task: str, classes: list[Any] | None) -> str:
    """The v2 datatype of the ``predict`` output: FP64 for a regression; for a classifier the
    type of its classes (BYTES when they are strings or the model does not say them)."""
    if task == "regression":
        return "FP64"
    kinds = {type(c) for c in classes or []}
    if not kinds:
        return "BYTES"
    if kinds == {bool}:
        return "BOOL"
    if kinds == {int}:
        return "INT64"
    if kinds <= {int, float}:
        return "FP64"
    return "BYTES"


def _as_datatype(values: list[Any], datatype: str) -> list[Any]:
    if datatype == "FP64":
        return [float(v) for v in values]
    if datatype == "INT64":
        return [int(v) for v in values]
    if datatype == "BOOL":
        return [bool(v) for v in values]
    return [str(v) for v in values]


class Answers:
    """What a classifier's answers carry, in each protocol, and which parts a request asks for.

    A regression answers values. A classifier answers labels and, when ``classes`` is known
    (the model has ``predict_proba`` and ``classes_``), the class probabilities in that order:

    - ``/predict``: ``predictions`` (labels), ``probabilities`` (one row per input) and ``classes``;
      a body ``{"records": [...], "probabilities": false}`` leaves them out (true asks for them);
    - KServe v1: ``predictions`` holds the labels, or the probability rows when
      ``serving.classification.kserve_v1`` is ``probabilities`` or the request says
      ``"parameters": {"predict_proba": true}`` (KServe's scikit-learn server's PREDICT_PROBA);
    - Open Inference Protocol v2: a ``predict`` tensor (labels, [rows]) and a ``predict_proba``
      tensor (FP64, [rows, classes]), as MLServer's scikit-learn runtime names them; a request's
      ``outputs: [{"name": ...}]`` chooses among them;
    - MLflow: ``predictions`` as records ``{"prediction": label, "proba:<class>": p, ...}``
      (a DataFrame answer, one column per class), or a plain list of labels without them.

    ``probabilities`` (``serving.classification.probabilities``) says whether answers carry the
    probabilities when a request does not say.
    """

    def __init__(
        self,
        task: str,
        classes: list[Any] | None,
        *,
        probabilities: bool = True,
        kserve_v1: str,
    ):
        self.task = task
        self.classes = classes
        self.label_type = label_datatype(task, classes)
        self.default = classes is not None and probabilities
        self.v1_default = classes is not None and kserve_v1 == "probabilities"

    def v2_outputs(self) -> list[dict[str, Any]]:
        """The outputs a v2 answer carries when the request names none, as model metadata."""
        out = [{"name": LABELS_OUTPUT, "datatype": self.label_type, "shape": [-1]}]
        if self.default:
            assert self.classes is not None
            out.append({"name": PROBA_OUTPUT, "datatype": "FP64", "shape": [-1, len(self.classes)]})
        return out

    def asked(self, value: Any, where: str) -> bool:
        if type(value) is not bool:
            raise BadRequest(400, f"{where}: expected true or false")
        if value and self.classes is None:
            raise BadRequest(400, f"{where}: {self._why_none()}")
        return value

    def _why_none(self) -> str:
        if self.task == "regression":
            return "this model is a regression; it has no class probabilities"
        return "this classifier gives no class probabilities (no predict_proba or classes_)"

    def v2_choice(self, outputs: Any) -> tuple[str, ...]:
        if outputs is None:
            return tuple(o["name"] for o in self.v2_outputs())
        known = [LABELS_OUTPUT] + ([PROBA_OUTPUT] if self.classes is not None else [])
        if not isinstance(outputs, list) or not outputs:
            raise BadRequest(400, 'outputs: expected a list of {"name": ...} objects')
        names = []
        for i, o in enumerate(outputs):
            name = o.get("name") if isinstance(o, dict) else None
            if name not in known:
                extra = f"; {self._why_none()}" if name == PROBA_OUTPUT else ""
                outs = ", ".join(known)
                why = f"{name!r} is not an output of this model ({outs}){extra}"
                raise BadRequest(400, f"outputs[{i}].name: {why}")
            if name not in names:
                names.append(name)
        return tuple(names)

    def v2_labels(self, predictions: list[Any]) -> dict[str, Any]:
        dtype = self.label_type
        try:
            data = _as_datatype(predictions, dtype)
        except (TypeError, ValueError):  # a model that answers other than it said: say what it is
            dtype, data = "BYTES", [str(p) for p in predictions]
        return {"name": LABELS_OUTPUT, "datatype": dtype, "shape": [len(predictions)], "data": data}

    def v2_proba(self, probabilities: list[list[float]] | None) -> dict[str, Any]:
        assert probabilities is not None and self.classes is not None
        flat = [p for row in probabilities for p in row]
        shape = [len(probabilities), len(self.classes)]
        return {"name": PROBA_OUTPUT, "datatype": "FP64", "shape": shape, "data": flat}
