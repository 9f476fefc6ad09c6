"""Request validation against the model's input signature: names, types, nullability.

Every offending field of every row is listed (up to ``MAX_LISTED``), so a client fixes all of
them at once. Values are normalised on the way (``3.0`` for an integer column becomes ``3``,
``0``/``1`` for a boolean column become ``False``/``True``). A column is checked whole first
(one pass over its types, one over its values); only a request with something to report, a
null or a value to normalise goes value by value. Unseen categories are not an error:
the model was trained to handle them; the outlier check flags them.
"""

from __future__ import annotations

import math
import operator
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlrelease.signature import FieldSpec, Signature

MAX_LISTED = 1000  # offending values listed in one answer; the count is always exact
WHOLE_FROM = 4  # rows from which checking a column whole is faster than value by value


@dataclass
class BadRequest(Exception):
    """A request the server refuses: the HTTP status, a message and the offending fields."""

    status: int
    message: str
    problems: list[dict[str, Any]] = field(default_factory=list)
    total: int | None = None  # number of problems when more than listed

    def __str__(self) -> str:
        return self.message


_MISSING = object()
_DICT = frozenset({dict})
_LIST = frozenset({list})
_INT64 = 2**63
_EXACT = 2**53  # the largest float up to which every integer is a float
Checker = Callable[[Any], Any]


class _Invalid(Exception):
    pass


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }.get(type(value), type(value).__name__)


def _checker(spec: FieldSpec) -> Checker:
    """A function that returns the normalised value or raises _Invalid with what was expected."""
    nullable = spec.nullable
    kind = spec.kind

    def null() -> Any:
        if nullable:
            return None
        raise _Invalid("must not be null")

    if kind == "number":

        def check(v: Any) -> Any:
            t = type(v)
            if t is float:
                if math.isfinite(v):
                    return v
                raise _Invalid("expected a finite number")
            if t is int:
                return float(v)
            if v is None:
                return null()
            raise _Invalid(f"expected a number, got {type_name(v)}")

    elif kind == "integer":

        def check(v: Any) -> Any:
            t = type(v)
            if t is int and -_INT64 <= v < _INT64:
                return v
            # A float is an integer only where floats are exact: beyond 2**53 the JSON parser has
            # already rounded (-9223372036854775809 arrives as -2.0**63, inside the range).
            if t is float and v.is_integer() and -_EXACT <= v <= _EXACT:
                return int(v)
            if v is None:
                return null()
            if t is int:
                raise _Invalid(f"expected an integer within the 64-bit range, got {v!r}")
            if t is float:
                why = " (beyond 2**53 a number with a fraction part is inexact)" if v.is_integer() else ""
                raise _Invalid(f"expected an integer, got {v!r}{why}")
            raise _Invalid(f"expected an integer, got {type_name(v)}")

    elif kind == "boolean":

        def check(v: Any) -> Any:
            if type(v) is bool:
                return v
            if type(v) is int and v in (0, 1):
                return bool(v)
            if v is None:
                return null()
            raise _Invalid(f"expected a boolean, got {type_name(v)}")

    else:

        def check(v: Any) -> Any:
            if type(v) is str:
                return v
            if v is None:
                return null()
            raise _Invalid(f"expected a string, got {type_name(v)}")

    return check


_FLOAT = frozenset({float})
_INT = frozenset({int})
_INT_FLOAT = frozenset({int, float})
_BOOL = frozenset({bool})
_STR = frozenset({str})


def _column_checker(kind: str) -> Callable[[list[Any]], list[Any] | None]:
    """A whole-column check: the normalised column when every value is valid and none is null,
    else None (the caller then checks value by value, which names each problem)."""

    if kind == "number":

        def check(values: list[Any]) -> list[Any] | None:
            types = set(map(type, values))
            if types <= _FLOAT:
                # a finite sum has no infinity or NaN in it (one C loop); an overflowing sum
                # of finite values is told apart value by value
                if math.isfinite(sum(values)) or all(map(math.isfinite, values)):
                    return values
                return None
            if types <= _INT_FLOAT:
                try:
                    out = list(map(float, values))
                except OverflowError:
                    return None
                return out if all(map(math.isfinite, out)) else None
            return None

    elif kind == "integer":

        def check(values: list[Any]) -> list[Any] | None:
            if set(map(type, values)) <= _INT and min(values) >= -_INT64 and max(values) < _INT64:
                return values
            return None

    else:
        want = _BOOL if kind == "boolean" else _STR

        def check(values: list[Any]) -> list[Any] | None:
            return values if set(map(type, values)) <= want else None

    return check


class Validator:
    """Validates rows against a signature, building columns in the signature's order."""

    def __init__(self, signature: Signature, max_rows: int):
        self.signature = signature
        self.names = signature.names
        self.max_rows = max_rows
        self.checks = [(f.name, _checker(f), f.nullable) for f in signature.fields]
        self.column_checks = [(f.name, _column_checker(f.kind), f.nullable) for f in signature.fields]
        self._fields = operator.itemgetter(*self.names) if self.names else None
        self._exact = {tuple(self.names)}  # the keys of a row of exactly the fields, in order

    def _whole_records(self, rows: list[dict[str, Any]]) -> tuple[dict[str, list[Any]], bool] | None:
        """The columns of rows that are all objects, each column checked whole, and whether
        the rows are exactly the columns' records: each has the signature's fields in its
        order and every value went in unchanged. None when a row lacks a field or a column is
        not plainly valid."""
        if self._fields is None:
            return None
        taken: dict[str, list[Any] | None]
        # Rows of exactly the fields in order (most clients) are read by their values, and the
        # log writes them as they came; otherwise each row's fields are looked up by name.
        exact = set(map(tuple, rows)) == self._exact
        if exact:
            taken = dict(zip(self.names, map(list, zip(*map(dict.values, rows), strict=True)), strict=True))
        else:
            try:
                table = list(map(self._fields, rows))
            except KeyError:
                return None
            if len(self.names) == 1:
                taken = {self.names[0]: table}
            else:
                taken = dict(zip(self.names, map(list, zip(*table, strict=True)), strict=True))
        whole = self._whole(taken, len(rows))
        if whole is None:
            return None
        return whole, exact and all(whole[name] is values for name, values in taken.items())

    def _whole(self, columns: dict[str, list[Any] | None], n: int) -> dict[str, list[Any]] | None:
        """The ``n``-row columns, each checked whole, when all are valid and none has a null;
        an absent column (None) of a nullable field becomes nulls."""
        out: dict[str, list[Any]] = {}
        for name, check, nullable in self.column_checks:
            values = columns[name]
            if values is None:
                if not nullable:
                    return None
                out[name] = [None] * n
                continue
            good = check(values)
            if good is None:
                return None
            out[name] = good
        return out

    def _limit(self, n: int) -> None:
        if n == 0:
            raise BadRequest(400, "the request has no rows")
        if n > self.max_rows:
            raise BadRequest(
                413, f"the request has {n} rows; this server takes at most {self.max_rows} per request"
            )

    def records(self, rows: Any, where: str) -> dict[str, list[Any]]:
        """Rows as objects: ``[{"area_m2": 70, ...}, ...]``."""
        return self.read_records(rows, where)[0]

    def read_records(self, rows: Any, where: str) -> tuple[dict[str, list[Any]], list[dict[str, Any]] | None]:
        """Rows as objects, as ``records``, and the row objects themselves when they are exactly
        the columns' records (each row has the signature's fields in its order, no value
        normalised), else None."""
        if not isinstance(rows, list):
            raise BadRequest(400, f"{where}: expected a list of objects, got {type_name(rows)}")
        self._limit(len(rows))
        if len(rows) >= WHOLE_FROM and set(map(type, rows)) == _DICT:
            whole = self._whole_records(rows)
            if whole is not None:
                columns, unchanged = whole
                return columns, rows if unchanged else None
        cols: dict[str, list[Any]] = {name: [] for name in self.names}
        problems: list[dict[str, Any]] = []
        for i, row in enumerate(rows):
            if type(row) is not dict:
                problems.append(
                    {"row": i, "field": None, "error": f"expected an object, got {type_name(row)}"}
                )
                continue
            for name, check, nullable in self.checks:
                v = row.get(name, _MISSING)
                if v is _MISSING:
                    if nullable:
                        cols[name].append(None)
                        continue
                    problems.append({"row": i, "field": name, "error": "missing"})
                    continue
                try:
                    cols[name].append(check(v))
                except _Invalid as exc:
                    problems.append({"row": i, "field": name, "error": str(exc), "value": _short(v)})
        self._raise(problems)
        return cols, None

    def rows(self, rows: Any, columns: list[str] | None, where: str) -> dict[str, list[Any]]:
        """Rows as lists, in ``columns`` order (None: the signature's order)."""
        if not isinstance(rows, list):
            raise BadRequest(400, f"{where}: expected a list of rows, got {type_name(rows)}")
        names = columns if columns is not None else self.names
        if columns is not None:
            self._known(columns, where)
        self._limit(len(rows))
        width = len(names)
        index = {name: names.index(name) for name in self.names if name in names}
        if (
            len(rows) >= WHOLE_FROM
            and set(map(type, rows)) == _LIST
            and all(len(row) == width for row in rows)
        ):
            whole = self._whole(
                {
                    name: [row[j] for row in rows] if (j := index.get(name)) is not None else None
                    for name in self.names
                },
                len(rows),
            )
            if whole is not None:
                return whole
        cols: dict[str, list[Any]] = {name: [] for name in self.names}
        problems: list[dict[str, Any]] = []
        for i, row in enumerate(rows):
            if type(row) is not list or len(row) != width:
                got = f"{len(row)} values" if isinstance(row, list) else type_name(row)
                problems.append(
                    {"row": i, "field": None, "error": f"expected a list of {width} values, got {got}"}
                )
                continue
            for name, check, nullable in self.checks:
                j = index.get(name)
                if j is None:
                    if nullable:
                        cols[name].append(None)
                        continue
                    problems.append({"row": i, "field": name, "error": "missing"})
                    continue
                v = row[j]
                try:
                    cols[name].append(check(v))
                except _Invalid as exc:
                    problems.append({"row": i, "field": name, "error": str(exc), "value": _short(v)})
        self._raise(problems)
        return cols

    def columns(self, data: Any, where: str) -> dict[str, list[Any]]:
        """Named columns: ``{"area_m2": [70, 55], ...}``; all of the same length."""
        if not isinstance(data, dict):
            raise BadRequest(400, f"{where}: expected an object of columns, got {type_name(data)}")
        lengths = {k: len(v) for k, v in data.items() if isinstance(v, list)}
        not_lists = [k for k, v in data.items() if not isinstance(v, list) and k in self.names]
        if not_lists:
            raise BadRequest(
                400,
                f"{where}: each column must be a list",
                [{"row": None, "field": k, "error": "expected a list of values"} for k in not_lists],
            )
        known = {k: n for k, n in lengths.items() if k in self.names}
        if len(set(known.values())) > 1:
            raise BadRequest(
                400,
                f"{where}: the columns have different lengths",
                [{"row": None, "field": k, "error": f"{n} values"} for k, n in known.items()],
            )
        n = next(iter(known.values()), 0)
        self._limit(n)
        whole = self._whole({name: data.get(name) for name in self.names}, n)
        if whole is not None:
            return whole
        cols: dict[str, list[Any]] = {}
        problems: list[dict[str, Any]] = []
        for name, check, nullable in self.checks:
            values = data.get(name, _MISSING)
            if values is _MISSING:
                if nullable:
                    cols[name] = [None] * n
                else:
                    problems.append({"row": None, "field": name, "error": "missing"})
                continue
            out = []
            for i, v in enumerate(values):
                try:
                    out.append(check(v))
                except _Invalid as exc:
                    problems.append({"row": i, "field": name, "error": str(exc), "value": _short(v)})
            cols[name] = out
        self._raise(problems)
        return cols

    def _known(self, columns: list[Any], where: str) -> None:
        if not all(isinstance(c, str) for c in columns):
            raise BadRequest(400, f"{where}: column names must be strings")
        # A column named twice would be read once and the other copy ignored: a wrong value
        # there would go unchecked while the row is priced.
        counts = Counter(columns)
        twice = sorted(c for c, n in counts.items() if n > 1)
        if twice:
            raise BadRequest(
                400,
                f"{where}: column(s) {', '.join(twice)} named more than once; name each column once",
                [{"row": None, "field": c, "error": f"named {counts[c]} times"} for c in twice],
            )

    @staticmethod
    def _raise(problems: list[dict[str, Any]]) -> None:
        if problems:
            fields = sorted({p["field"] for p in problems if p["field"]})
            rows = sorted({p["row"] for p in problems if p["row"] is not None})
            msg = f"{len(problems)} invalid value(s)"
            if fields:
                msg += f" in field(s) {', '.join(fields)}"
            if rows:
                msg += f" of row(s) {', '.join(map(str, rows[:20]))}{'...' if len(rows) > 20 else ''}"
            raise BadRequest(422, msg, problems[:MAX_LISTED], total=len(problems))


def _short(value: Any) -> Any:
    """The offending value as shown back: small values as they are, big ones cut."""
    if isinstance(value, (dict, list)):
        return f"<{type_name(value)}>"
    if isinstance(value, str) and len(value) > 80:
        return value[:77] + "..."
    return value
