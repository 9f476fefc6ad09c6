"""Request logs: one JSON line per request in Cloud Logging's structured format.

The GKE logging agent parses each stdout line: ``severity``, ``message``, ``time``,
``httpRequest``, ``logging.googleapis.com/labels``, ``logging.googleapis.com/trace``,
``logging.googleapis.com/spanId`` and ``logging.googleapis.com/trace_sampled`` become the
LogEntry's fields; every other key lands in ``jsonPayload``. A request's line is formatted on
the request's own thread once its answer is sent (one orjson call; the constant parts rendered
once) and its bytes go on a queue; a writer thread writes them (to stdout, and to a JSONL file
when ``serving.logging.file`` is set), and ``close()`` drains the queue before the process
exits, so nothing is lost on SIGTERM. Formatting in the writer thread instead cost more CPU in
all: the two threads handed the GIL back and forth (a logged 100-row request 0.29 ms against
0.12 ms, one interleaved run of ``bench/bench_request_path.py``'s kind).

Lines (``schema`` 1), the fields the monitoring step reads back from the JSONL file through
``mlrelease.artifacts.requestlog.RequestLogLine`` (whose constants these lines are written with):

=====================================  ==========================================================
``severity``                           INFO; WARNING when a row was flagged or the request refused
                                       (4xx); ERROR for a 5xx
``message``                            e.g. ``POST /predict 200 3 rows 4.1 ms``
``time``                               RFC 3339 UTC with microseconds, e.g. ``2026-11-27T10:00:00.123456Z``
``logging.googleapis.com/labels``      ``model``, ``version``, ``event`` (``request`` | ``outlier`` |
                                       ``server``), ``route`` (the route template, e.g.
                                       ``/v2/models/{name}/infer``), ``outlier`` (``true``/``false``),
                                       on outlier lines ``flags`` (comma-separated)
``httpRequest``                        ``requestMethod``, ``requestUrl``, ``status``, ``latency``
                                       (``"0.004100s"``), ``userAgent``, ``remoteIp``,
                                       ``requestSize``, ``responseSize`` (strings, as in LogEntry),
                                       ``protocol``
``logging.googleapis.com/trace``       ``projects/<GOOGLE_CLOUD_PROJECT>/traces/<id>`` from the
                                       ``X-Cloud-Trace-Context`` header (or W3C ``traceparent``)
``logging.googleapis.com/spanId``      the span id from the same header
``schema``                             1
``rows``                               rows in the request (request lines)
``sampled``                            whether ``inputs``/``predictions`` are present
``inputs``                             list of records (objects keyed by field), when sampled
``predictions``                        list, one per row, when sampled
``flags``                              list of flag lists, one per row (request lines)
``outlier_rows``                       indexes of flagged rows (request lines)
``problems``                           on a refused request, the first offending fields
``row``, ``input``, ``prediction``     on outlier lines: the row's index, its inputs, its prediction
=====================================  ==========================================================

Outlier rows are always logged with their inputs, whatever the sampling rate.
"""

from __future__ import annotations

import collections
import errno
import itertools
import logging
import math
import os
import random
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, ClassVar

import orjson

from mlrelease.artifacts.requestlog import LABELS, SAMPLED, SCHEMA, SPAN, TRACE

_STOP = object()
FLUSH_S = 0.05  # how long a line may wait in memory before it is written
BURST = 512  # lines that wake the writer at once


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Clock:
    """``rfc3339`` for request lines: the part up to the seconds is formatted once a second.
    Microseconds are rounded half to even and carried into the seconds, as ``datetime`` does."""

    def __init__(self) -> None:
        self._cached = (-1, "")  # (second, its prefix), swapped whole: safe from any thread

    def __call__(self, ts: float) -> str:
        second = math.floor(ts)
        micro = round((ts - second) * 1e6)
        if micro >= 1_000_000:
            second += 1
            micro -= 1_000_000
        cached, prefix = self._cached
        if second != cached:
            prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._cached = (second, prefix)
        return f"{prefix}.{micro:06d}Z"


def parse_trace(
    cloud: str | None, traceparent: str | None, project: str | None
) -> tuple[str | None, str | None, bool | None]:
    """(trace, spanId, sampled) from X-Cloud-Trace-Context ``TRACE/SPAN;o=1`` or W3C traceparent."""
    trace_id = span = None
    sampled: bool | None = None
    if cloud:
        head, _, opts = cloud.partition(";")
        trace_id, _, span = head.partition("/")
        span = span or None
        if opts.startswith("o="):
            sampled = opts[2:3] == "1"
    elif traceparent:
        parts = traceparent.split("-")
        if len(parts) == 4 and len(parts[1]) == 32:
            trace_id, span = parts[1], parts[2]
            sampled = parts[3][-1:] in ("1", "3", "5", "7", "9", "b", "d", "f")
    if not trace_id or not all(c in "0123456789abcdefABCDEF" for c in trace_id):
        return None, None, None
    trace = f"projects/{project}/traces/{trace_id}" if project else trace_id
    return trace, span, sampled


class RequestLog:
    """Formatted lines on a queue + a writer thread. ``put()`` and ``event()`` format the line
    and never block on the stream; ``close()`` drains."""

    def __init__(
        self,
        model: str,
        version: str,
        *,
        sample_rate: float = 1.0,
        file: Path | None = None,
        stream: IO[Any] | None = None,
        enabled: bool = True,
    ):
        self.model = model
        self.version = version
        self.sample_rate = sample_rate
        self.enabled = enabled
        self.project = os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("GCP_PROJECT")
        self.stream = stream if stream is not None else sys.stdout
        self.file_path = file
        self._file: IO[bytes] | None = None
        if file is not None:
            try:
                file.parent.mkdir(parents=True, exist_ok=True)
                # O_NOFOLLOW: a link put in the log's place after the config was checked is refused,
                # so the server never appends through it to a file outside the handoff
                flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
                self._file = os.fdopen(os.open(file, flags, 0o644), "ab")
            except OSError as exc:
                from mlrelease.errors import ConfigError

                why = "it is a symbolic link" if exc.errno == errno.ELOOP else (exc.strerror or str(exc))
                raise ConfigError(
                    f"serving.logging.file: cannot write the request log {file}: {why}",
                    hint="point serving.logging.file at a writable path, or remove it to log to stdout only",
                ) from None
        # The request path appends its lines to a deque and never wakes the writer: it wakes
        # every FLUSH_S (or at once when BURST lines wait), so a request costs no thread switch.
        self._q: collections.deque[bytes | object] = collections.deque()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._write_loop, name="mlrelease-log", daemon=True)
        self._thread.start()
        self._closed = False
        self.written = 0
        self._clock = Clock()
        # the labels of a request line, rendered once per (route, outlier): `"...labels":{...}`
        self._request_labels: dict[tuple[str, bool], bytes] = {}

    def labels(self, event: str, **extra: str) -> dict[str, str]:
        return {"model": self.model, "version": self.version, "event": event, **extra}

    def sample(self) -> bool:
        return self.sample_rate >= 1.0 or random.random() < self.sample_rate

    def put(self, entry: dict[str, Any]) -> None:
        """Format ``entry``'s line(s) and queue them for the writer. A request's inputs come as
        ``inputs`` (its records, each with the fields in the columns' order) or as ``columns``
        (with ``records``, row objects that may be those records already)."""
        if self.enabled and not self._closed:
            try:
                lines = self._format(entry)
            except Exception as exc:  # a log line must never fail the request that logs it
                lines = [orjson.dumps({"severity": "ERROR", "message": f"log line dropped: {exc!r}"})]
            self._q.extend(lines)
            if len(self._q) >= BURST:
                self._wake.set()

    def event(self, severity: str, message: str, **fields: Any) -> None:
        """A line that is not about one request (start-up, shutdown)."""
        self.put({"t": time.time(), "severity": severity, "message": message, "event": "server", **fields})

    def _format(self, e: dict[str, Any]) -> list[bytes]:
        event = e.pop("event", "request")
        ts = e.pop("t")
        if event == "server":
            line = {
                "severity": e.pop("severity"),
                "message": e.pop("message"),
                "time": rfc3339(ts),
                LABELS: self.labels("server"),
                "schema": SCHEMA,
                **e,
            }
            return [orjson.dumps(line, option=orjson.OPT_SERIALIZE_NUMPY)]
        flags: list[list[str]] | None = e.get("flags")
        outlier_rows = [i for i, f in enumerate(flags) if f] if flags and any(flags) else []
        columns: dict[str, list[Any]] | None = e.get("columns")
        preds: list[Any] | None = e.get("predictions")
        status = e["status"]
        severity = "ERROR" if status >= 500 else "WARNING" if status >= 400 or outlier_rows else "INFO"
        route = e["route"]
        method, url, latency = e["method"], e["url"], e["latency"]
        http = {
            "requestMethod": method,
            "requestUrl": url,
            "status": status,
            "latency": f"{latency:.6f}s",
            "userAgent": e.get("user_agent") or "",
            "remoteIp": e.get("remote_ip") or "",
            "requestSize": str(e.get("request_size", 0)),
            "responseSize": str(e.get("response_size", 0)),
            "protocol": e.get("protocol", "HTTP/1.1"),
        }
        rows = e.get("rows", 0)
        time_ = self._clock(ts)
        # The line is the JSON object of the documented keys in the documented order; its
        # constant parts (the labels) are rendered once, the rest by one orjson call.
        plural = "s" if rows != 1 else ""
        head: dict[str, Any] = {
            "severity": severity,
            "message": f"{method} {url} {status} {rows} row{plural} {latency * 1000:.1f} ms",
            "time": time_,
        }
        tail: dict[str, Any] = {"httpRequest": http}
        trace = span = None
        if "trace_header" in e or "traceparent" in e:
            trace, span, sampled = parse_trace(e.get("trace_header"), e.get("traceparent"), self.project)
            if trace:
                tail[TRACE] = trace
                if span:
                    tail[SPAN] = span
                if sampled is not None:
                    tail[SAMPLED] = sampled
        tail["schema"] = SCHEMA
        tail["rows"] = rows
        # ``inputs``: the request's rows, already exactly the records this line shows
        records: list[dict[str, Any]] | None = e.get("inputs")
        if records is None and columns is not None:
            records = _records(columns, e.get("records"))
        sampled_io = bool(e.get("sampled")) and records is not None
        tail["sampled"] = sampled_io
        if sampled_io:
            tail["inputs"] = records
            if preds is not None:
                tail["predictions"] = preds
        if flags is not None:
            tail["flags"] = flags
            tail["outlier_rows"] = outlier_rows
        if e.get("problems"):
            tail["problems"] = e["problems"][:20]
        if e.get("error"):
            tail["error"] = e["error"]
        out = [
            orjson.dumps(head)[:-1]
            + self._labels_json(route, bool(outlier_rows))
            + b","
            + orjson.dumps(tail, option=orjson.OPT_SERIALIZE_NUMPY)[1:]
        ]
        for i in outlier_rows:
            assert flags is not None
            warn: dict[str, Any] = {
                "severity": "WARNING",
                "message": f"outlier row {i}: {', '.join(flags[i])}",
                "time": time_,
                LABELS: self.labels(
                    "outlier",
                    route=route,
                    outlier="true",
                    flags=",".join(flags[i]),
                    kind="prediction" if any(f.startswith("prediction_") for f in flags[i]) else "input",
                ),
            }
            if trace:
                warn[TRACE] = trace
                if span:
                    warn[SPAN] = span
            warn["schema"] = SCHEMA
            warn["row"] = i
            if records is not None:
                warn["input"] = records[i]
            if preds is not None:
                warn["prediction"] = preds[i]
            out.append(orjson.dumps(warn, option=orjson.OPT_SERIALIZE_NUMPY))
        return out

    def _labels_json(self, route: str, outlier: bool) -> bytes:
        """``,"logging.googleapis.com/labels":{...}`` of a request line, rendered once."""
        out = self._request_labels.get((route, outlier))
        if out is None:
            labels = self.labels("request", route=route, outlier="true" if outlier else "false")
            out = self._request_labels[(route, outlier)] = b"," + orjson.dumps({LABELS: labels})[1:-1]
        return out

    # -- writer thread

    def _write(self, lines: list[bytes]) -> None:
        if not lines:
            return
        data = b"\n".join(lines) + b"\n"
        try:
            buf = getattr(self.stream, "buffer", None)
            if buf is not None:
                self.stream.flush()
                buf.write(data)
                buf.flush()
            else:
                self.stream.write(data.decode())
                self.stream.flush()
        except (OSError, ValueError):
            pass  # stdout closed: the file below still gets the lines
        if self._file is not None:
            self._file.write(data)
            self._file.flush()
        self.written += len(lines)

    def _write_loop(self) -> None:
        while True:
            self._wake.wait(FLUSH_S)
            self._wake.clear()
            lines: list[bytes] = []
            stop = False
            while True:
                try:
                    line = self._q.popleft()
                except IndexError:
                    break
                if line is _STOP:
                    stop = True
                elif isinstance(line, bytes):
                    lines.append(line)
            self._write(lines)
            if stop:
                return

    def close(self, timeout: float = 10.0) -> None:
        """Write every queued line, then stop the writer and close the file."""
        if self._closed:
            return
        self._closed = True
        self._q.append(_STOP)
        self._wake.set()
        self._thread.join(timeout)
        if self._file is not None:
            self._file.close()
            self._file = None


def _records(columns: dict[str, list[Any]], sent: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The rows of ``columns`` as objects keyed by field. ``sent``: the request's own row objects,
    whose values went into ``columns`` unchanged; when each has exactly the fields, in the
    columns' order, they are those records already (a check 4x cheaper than building them)."""
    names = list(columns)
    rows = len(next(iter(columns.values()), ()))
    if sent is not None and len(sent) == rows and all(map(names.__eq__, map(list, sent))):
        return sent
    return list(map(dict, map(zip, itertools.repeat(names), zip(*columns.values(), strict=True))))


class CloudFormatter(logging.Formatter):
    """Python log records (uvicorn's own messages) as Cloud Logging JSON lines."""

    SEVERITY: ClassVar[dict[str, str]] = {
        "WARNING": "WARNING",
        "ERROR": "ERROR",
        "CRITICAL": "CRITICAL",
        "DEBUG": "DEBUG",
    }

    def __init__(self, model: str = "", version: str = ""):
        super().__init__()
        self.model = model
        self.version = version

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "severity": self.SEVERITY.get(record.levelname, "INFO"),
            "message": record.getMessage(),
            "time": rfc3339(record.created),
            LABELS: {"model": self.model, "version": self.version, "event": "server", "logger": record.name},
            "logging.googleapis.com/sourceLocation": {
                "file": record.pathname,
                "line": str(record.lineno),
                "function": record.funcName,
            },
        }
        if record.exc_info:
            line["message"] += "\n" + self.formatException(record.exc_info)
        return orjson.dumps(line).decode()
