"""Windows of data: the server's request logs (JSONL), CSV or Parquet, read in batches.

A window is a set of columns as numpy arrays (numeric ones float64 with NaN for missing,
the others object arrays), plus, for request logs, each row's outlier flags and time. Files are
read batch by batch with pyarrow and each batch is reduced to numpy at once, so memory holds
the columns the statistics need and one batch, never a parsed table or a DataFrame of the
whole window.

Request logs follow ``serve/logs.py`` (``schema`` 1): a request line with ``sampled: true``
carries ``inputs`` (one record per row), ``predictions`` and ``flags``; its rows become the
window's rows, with ``prediction`` as a column. Outlier lines repeat a flagged row and are
skipped (its request line has it), as are server lines. A line without the Cloud Logging
labels is read as a plain record, so a JSONL export of any table works too.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from mlrelease.artifacts.requestlog import LABELS, RequestLogLine
from mlrelease.errors import DataError

PREDICTION = "prediction"
BATCH_ROWS = 65_536
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".log", ".json")


@dataclass
class Window:
    """One side of a comparison."""

    source: str
    columns: MutableMapping[str, np.ndarray]
    rows: int
    flags: list[list[str]] | None = None  # per row, from request logs
    times: list[str] | None = None  # per row, from request logs
    from_logs: bool = False
    skipped: dict[str, int] = field(default_factory=dict)  # log lines not read, by reason

    def numeric(self, name: str) -> bool:
        if isinstance(self.columns, ParquetColumns):
            return self.columns.numeric(name)
        return self.columns[name].dtype.kind in "iuf"

    def take(self, mask: np.ndarray, source: str) -> Window:
        idx = np.flatnonzero(mask)
        return Window(
            source=source,
            columns={k: v[idx] for k, v in self.columns.items()},
            rows=int(idx.size),
            flags=[self.flags[i] for i in idx] if self.flags is not None else None,
            times=[self.times[i] for i in idx] if self.times is not None else None,
            from_logs=self.from_logs,
        )


class _Columns:
    """Column chunks as numpy, joined once at the end."""

    def __init__(self) -> None:
        self.chunks: dict[str, list[np.ndarray]] = {}
        self.rows = 0

    def add_arrow(self, batch: pa.RecordBatch | pa.Table) -> None:
        for name, col in zip(batch.schema.names, batch.columns, strict=True):
            self._add(name, _to_numpy(col), batch.num_rows)
        self.rows += batch.num_rows

    def add_records(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        names: dict[str, None] = {}
        for r in records:
            names.update(dict.fromkeys(r))
        for name in names:
            self._add(name, _objects_to_numpy([r.get(name) for r in records]), len(records))
        self.rows += len(records)

    def _add(self, name: str, arr: np.ndarray, n: int) -> None:
        chunks = self.chunks.setdefault(name, [])
        have = sum(c.size for c in chunks)
        if have < self.rows:  # the column appears late: earlier rows miss it
            chunks.append(_missing(self.rows - have, arr.dtype))
        chunks.append(arr)

    def finish(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for name in list(self.chunks):
            chunks = self.chunks.pop(name)
            have = sum(c.size for c in chunks)
            if have < self.rows:
                chunks.append(_missing(self.rows - have, chunks[0].dtype))
            if any(c.dtype.kind not in "iufb" for c in chunks) and any(c.dtype.kind in "iuf" for c in chunks):
                chunks = [c.astype(object) for c in chunks]
            out[name] = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
        return out


class ParquetColumns(MutableMapping[str, np.ndarray]):
    """A Parquet file's columns, each read (batch by batch) when it is asked for and not kept.

    Comparing two windows a column at a time (``drift.compare_columns``) then holds one column
    of each in memory, not the file: a 10M x 20 window is 1.6 GB as float64 columns, one column
    80 MB (``bench/bench_drift.py --10m``). Columns set on it (the model's predictions) are kept.
    """

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.schema = schema
        self.extra: dict[str, np.ndarray] = {}

    def numeric(self, name: str) -> bool:
        if name in self.extra:
            return self.extra[name].dtype.kind in "iuf"
        t = self.schema.field(name).type
        return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))

    def __getitem__(self, name: str) -> np.ndarray:
        if name in self.extra:
            return self.extra[name]
        if name not in self.schema.names:
            raise KeyError(name)
        return _read_parquet(self.path, [name]).columns[name]

    def __contains__(self, name: object) -> bool:  # without reading the column
        return name in self.extra or name in self.schema.names

    def __setitem__(self, name: str, values: np.ndarray) -> None:
        self.extra[name] = values

    def __delitem__(self, name: str) -> None:
        del self.extra[name]

    def __iter__(self) -> Iterator[str]:
        yield from self.schema.names
        yield from (n for n in self.extra if n not in self.schema.names)

    def __len__(self) -> int:
        return len(self.schema.names) + sum(1 for n in self.extra if n not in self.schema.names)


def lazy_parquet(path: Path) -> Window | None:
    """``path`` as a window whose columns are read when used, or None when it is no Parquet file."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file() or not path.name.lower().endswith((".parquet", ".pq")):
        return None
    try:
        meta = pq.ParquetFile(path)
        schema, rows = meta.schema_arrow, meta.metadata.num_rows
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{path}: cannot read as Parquet: {_first_line(exc)}") from None
    if rows == 0:
        raise DataError(f"{path}: no rows")
    return Window(str(path), ParquetColumns(path, schema), rows)


def _missing(n: int, dtype: np.dtype) -> np.ndarray:
    if dtype.kind in "iuf":
        return np.full(n, np.nan)
    return np.full(n, None, dtype=object)


def _to_numpy(col: pa.Array | pa.ChunkedArray) -> np.ndarray:
    t = col.type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        # a copy that numpy owns: a zero-copy view would keep every batch's Arrow buffers alive
        return np.array(col.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64, copy=True)
    if pa.types.is_null(t):
        return np.full(len(col), np.nan)
    if pa.types.is_boolean(t):
        return np.asarray(col.cast(pa.string()).to_numpy(zero_copy_only=False), dtype=object)
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=object)


def _objects_to_numpy(values: list[Any]) -> np.ndarray:
    if all(v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in values):
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return np.array([v if v is None or isinstance(v, str) else str(v) for v in values], dtype=object)


# ----------------------------------------------------------------------------- readers


def read_window(path: Path, *, columns: list[str] | None = None) -> Window:
    """A CSV, Parquet or JSONL file, or a folder of JSONL files, as one window."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in JSONL_SUFFIXES)
        if not files:
            raise DataError(f"{path}: the folder holds no .jsonl files")
        return _read_jsonl(files, str(path))
    if not path.is_file():
        raise DataError(f"{path}: no such file or folder")
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        window = _read_csv(path, columns)
    elif name.endswith((".parquet", ".pq")):
        window = _read_parquet(path, columns)
    elif name.endswith(JSONL_SUFFIXES) or name.endswith(tuple(s + ".gz" for s in JSONL_SUFFIXES)):
        window = _read_jsonl([path], str(path))
    else:
        raise DataError(
            f"{path}: expected .csv, .parquet or .jsonl (request logs), or a folder of .jsonl files"
        )
    if window.rows == 0:
        raise DataError(f"{path}: no rows")
    return window


def _read_csv(path: Path, columns: list[str] | None) -> Window:
    from pyarrow import csv

    acc = _Columns()
    try:
        # through a Python file: Arrow reads ahead the whole of a path it opens itself
        import gzip

        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rb") as fh:
            reader = csv.open_csv(
                fh,
                read_options=csv.ReadOptions(block_size=1 << 22, use_threads=False),
                convert_options=csv.ConvertOptions(include_columns=columns or [], strings_can_be_null=True),
            )
            for batch in reader:
                acc.add_arrow(batch)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{path}: cannot read as CSV: {_first_line(exc)}") from None
    return Window(str(path), acc.finish(), acc.rows)


def _read_parquet(path: Path, columns: list[str] | None) -> Window:
    import pyarrow.parquet as pq

    acc = _Columns()
    try:
        # without pre-buffering, Arrow holds one row group's pages at a time, not the file's
        pf = pq.ParquetFile(path, pre_buffer=False)
        for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=columns, use_threads=False):
            acc.add_arrow(batch)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{path}: cannot read as Parquet: {_first_line(exc)}") from None
    return Window(str(path), acc.finish(), acc.rows)


def _first_line(exc: Exception) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    import gzip

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as fh:
        for number, line in enumerate(fh, 1):
            if line.strip():
                yield number, line


class _LogRows:
    """Rows from log lines (dicts), batch by batch into numpy columns."""

    def __init__(self) -> None:
        self.acc = _Columns()
        self.flags: list[list[str]] = []
        self.times: list[str] = []
        self.from_logs = False
        self.skipped: dict[str, int] = {}
        self.pending: list[dict[str, Any]] = []

    def flush(self) -> None:
        self.acc.add_records(self.pending)
        self.pending.clear()

    def add(self, line: dict[str, Any], where: str) -> None:
        if not RequestLogLine.is_log_line(line):  # a plain record
            self._row(line, [], "")
            return
        self.from_logs = True
        parsed = RequestLogLine.parse(line, where)
        if parsed.event != "request":
            self._skip(f"{parsed.event} lines")
            return
        if not parsed.sampled or parsed.inputs is None:
            self._skip("refused requests" if parsed.refused else "requests without sampled inputs")
            return
        preds, row_flags = parsed.predictions, parsed.flags
        for i, rec in enumerate(parsed.inputs):
            row = dict(rec)
            if preds is not None and i < len(preds):
                row[PREDICTION] = preds[i]
            self._row(row, row_flags[i] if row_flags is not None and i < len(row_flags) else [], parsed.time)

    def _row(self, row: dict[str, Any], flags: list[str], time: str) -> None:
        self.pending.append(row)
        self.flags.append(flags)
        self.times.append(time)
        if len(self.pending) >= BATCH_ROWS:
            self.flush()

    def _skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def window(self, source: str) -> Window:
        self.flush()
        w = Window(
            source, self.acc.finish(), self.acc.rows, self.flags, self.times, self.from_logs, self.skipped
        )
        if not w.rows:
            raise DataError(
                f"{source}: no request lines with sampled inputs", hint=_skipped_hint(self.skipped)
            )
        return w


def _read_jsonl(files: list[Path], source: str) -> Window:
    rows = _LogRows()
    for file in files:
        try:
            for number, raw in _lines(file):
                try:
                    line = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    raise DataError(f"{file}:{number}: not a JSON line: {exc}") from None
                if not isinstance(line, dict):
                    raise DataError(f"{file}:{number}: expected a JSON object per line")
                rows.add(line, f"{file}:{number}")
        except OSError as exc:
            raise DataError(f"{file}: cannot read: {exc}") from None
    return rows.window(source)


def cloud_logging_filter(model: str, since: str, until: str, version: str | None = None) -> str:
    """The request lines of ``model`` (and ``version``) between ``since`` and ``until`` (RFC 3339)."""
    parts = [f'labels.model="{model}"', 'labels.event="request"']
    if version:
        parts.append(f'labels.version="{version}"')
    parts += [f'timestamp>="{since}"', f'timestamp<"{until}"']
    return " AND ".join(parts)


def read_cloud_logging(client: Any, *, project: str, filter_: str, page_size: int = 1000) -> Window:
    """Request lines from Cloud Logging (``entries.list``), oldest first, page by page.

    ``client`` is a ``google.cloud.logging.Client``, made by the caller. Each entry's
    ``jsonPayload`` is the line the server wrote, less the keys the agent lifted into the entry
    (labels, time), which are put back, so the rows are read as from the JSONL file.
    """
    from google.api_core import exceptions as gexc
    from google.cloud import logging as gcl

    rows = _LogRows()
    source = f"cloud-logging:{project}"
    try:
        entries = client.list_entries(
            resource_names=[f"projects/{project}"],
            filter_=filter_,
            order_by=gcl.ASCENDING,
            page_size=page_size,
        )
        for entry in entries:
            payload = entry.payload
            if not isinstance(payload, dict):
                rows._skip("entries without a JSON payload")
                continue
            line = dict(payload)
            line[LABELS] = dict(entry.labels or {})
            if entry.timestamp is not None:
                line["time"] = entry.timestamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            rows.add(line, f"{source} entry {entry.insert_id}")
    except gexc.GoogleAPIError as exc:
        raise DataError(f"{source}: the Logging API refused the query: {exc}") from None
    return rows.window(source)


def _skipped_hint(skipped: dict[str, int]) -> str | None:
    if not skipped:
        return None
    parts = ", ".join(f"{v} {k}" for k, v in sorted(skipped.items()))
    return f"skipped {parts}; set serving.logging.sample_rate above 0 so requests log their inputs"
