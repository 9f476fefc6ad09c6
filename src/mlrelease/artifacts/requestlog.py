"""The request-log line: what the model server writes (``serve/logs.py``), what ``monitor`` reads.

Each line is one JSON object in Cloud Logging's structured format; its version is the ``schema``
key (1). ``serve.logs`` writes the lines with these constants; ``RequestLogLine.parse`` is the one
reader, used for JSONL files and for Cloud Logging entries alike. A line of another version, or
one whose fields are not what the writer writes, is an ``ArtifactError`` (exit 2) naming the
file and line. The JSON Schema of a line is in ``schemas/request-log-line.schema.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, cast

from mlrelease.errors import ArtifactError

SCHEMA: Final = 1
LABELS: Final = "logging.googleapis.com/labels"
TRACE: Final = "logging.googleapis.com/trace"
SPAN: Final = "logging.googleapis.com/spanId"
SAMPLED: Final = "logging.googleapis.com/trace_sampled"
EVENTS: Final = ("request", "outlier", "server")
HINT: Final = "the server writes these lines (serving.logging); pass a log it wrote, or a CSV/Parquet window"

Event = Literal["request", "outlier", "server"]


@dataclass(frozen=True, slots=True)
class RequestLogLine:
    """One line of the request log, with what the monitor needs of it."""

    event: Event
    time: str
    sampled: bool  # whether inputs (and predictions) are in the line
    inputs: list[dict[str, Any]] | None  # one record per row, keyed by field
    predictions: list[Any] | None  # one per row
    flags: list[list[str]] | None  # the outlier flags of each row
    refused: bool  # the request was refused (its problems are in the line)

    @staticmethod
    def is_log_line(data: Mapping[str, Any]) -> bool:
        """Whether ``data`` is a server's log line rather than a plain record (a row of data)."""
        return LABELS in data

    @classmethod
    def parse(cls, data: Mapping[str, Any], where: str) -> RequestLogLine:
        """The line ``data`` (one parsed JSON object) read at ``where`` (``FILE:LINE``)."""
        version = data.get("schema", SCHEMA)
        if version != SCHEMA:
            newer = isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA
            raise ArtifactError(
                f"{where}: request-log line schema {version!r} is not {SCHEMA}"
                + (": it was written by a newer mlrelease" if newer else ""),
                hint=("upgrade mlrelease, or " if newer else "") + HINT,
            )
        labels = data.get(LABELS)
        if not isinstance(labels, dict):
            raise ArtifactError(f"{where}: {LABELS} is not an object", hint=HINT)
        event = labels.get("event", "request")
        if event not in EVENTS:
            raise ArtifactError(f"{where}: event {event!r} is not one of {', '.join(EVENTS)}", hint=HINT)
        inputs = data.get("inputs")
        if inputs is not None:
            if not isinstance(inputs, list):
                raise ArtifactError(f"{where}: inputs is not a list", hint=HINT)
            for i, record in enumerate(inputs):
                if not isinstance(record, dict):
                    raise ArtifactError(f"{where}: inputs[{i}] is not an object", hint=HINT)
        predictions = data.get("predictions")
        flags = data.get("flags")
        row_flags = None
        if isinstance(flags, list):
            row_flags = [list(f) if isinstance(f, list) else [] for f in flags]
        return cls(
            event=cast(Event, event),
            time=str(data.get("time", "")),
            sampled=bool(data.get("sampled")) and inputs is not None,
            inputs=inputs,
            predictions=predictions if isinstance(predictions, list) else None,
            flags=row_flags,
            refused=bool(data.get("problems")),
        )


def json_schema() -> dict[str, Any]:
    """The JSON Schema of one line (the ``schema`` key is added by the catalogue)."""
    strings = {"type": "array", "items": {"type": "string"}}
    return {
        "type": "object",
        "properties": {
            "severity": {"enum": ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]},
            "message": {"type": "string"},
            "time": {"type": "string"},
            LABELS: {
                "type": "object",
                "properties": {
                    "model": {"type": "string"},
                    "version": {"type": "string"},
                    "event": {"enum": list(EVENTS)},
                    "route": {"type": "string"},
                    "outlier": {"enum": ["true", "false"]},
                    "flags": {"type": "string"},
                },
                "required": ["model", "version", "event"],
            },
            "httpRequest": {"type": "object"},
            TRACE: {"type": "string"},
            SPAN: {"type": "string"},
            SAMPLED: {"type": "boolean"},
            "rows": {"type": "integer"},
            "sampled": {"type": "boolean"},
            "inputs": {"type": "array", "items": {"type": "object"}},
            "predictions": {"type": "array"},
            "flags": {"type": "array", "items": strings},
            "outlier_rows": {"type": "array", "items": {"type": "integer"}},
            "problems": {"type": "array"},
            "error": {"type": "string"},
            "row": {"type": "integer"},
            "input": {"type": "object"},
            "prediction": {},
        },
        "required": ["severity", "message", "time", LABELS],
    }
