"""The tables evaluate writes (predictions.parquet, golden.parquet) and the request-log line the
server writes: each validates against its published schema, reads back equal, and a corrupted,
foreign or too-new one is refused with the one artifacts error (exit 2) naming the file."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from jsonschema import Draft202012Validator

from mlrelease.artifacts.catalogue import BY_NAME
from mlrelease.artifacts.requestlog import LABELS, RequestLogLine
from mlrelease.artifacts.tables import META_KEY, GoldenRows, PredictionsTable
from mlrelease.errors import ArtifactError
from mlrelease.serve.logs import RequestLog

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "examples" / "brno-houses" / "baseline"
TABLES = {"predictions.parquet": PredictionsTable, "golden.parquet": GoldenRows}


def validator(name: str) -> Draft202012Validator:
    schema = BY_NAME[name].json_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def rows_of(frame: pd.DataFrame) -> list[dict[str, object]]:
    return json.loads(frame.to_json(orient="records"))


@pytest.mark.parametrize("name", sorted(TABLES))
def test_tables_validate_row_by_row_and_read_back_equal(tmp_path, name):
    kind = TABLES[name]
    table = kind.read(BASELINE / name)
    first, second = tmp_path / "a" / name, tmp_path / "b" / name
    table.write(first)
    again = kind.read(first)
    pd.testing.assert_frame_equal(again.frame, table.frame)
    again.write(second)
    assert second.read_bytes() == first.read_bytes()
    check = validator(name)
    for row in rows_of(again.frame):
        errors = list(check.iter_errors(row))
        assert not errors, [e.message for e in errors[:3]]
    meta = json.loads(pq.read_schema(first).metadata[META_KEY])
    assert meta == {"artifact": name, "schema_version": 1}


def test_golden_rows_split_inputs_from_predictions_and_probabilities():
    golden = GoldenRows.read(BASELINE / "golden.parquet")
    assert {"row_id", "prediction"}.isdisjoint(golden.inputs.columns)
    assert len(golden.inputs.columns) == len(golden.frame.columns) - 2 - len(golden.proba_columns)


def parquet_with(frame: pd.DataFrame, meta: bytes | None) -> bytes:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if meta is not None:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), META_KEY: meta})
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


GOOD = pd.DataFrame({"row_id": [1], "prediction": [2.0], "target": [2.5]})
# case -> (the file's bytes for an artifact's name, what the message says)
TABLE_CORRUPTIONS = {
    "not parquet": (lambda name: b"PAR1 this is not parquet PAR1", "cannot read as parquet"),
    "truncated": (lambda name: parquet_with(GOOD, None)[:-20], "cannot read as parquet"),
    "too new": (
        lambda name: parquet_with(GOOD, json.dumps({"artifact": name, "schema_version": 7}).encode()),
        "schema_version 7 is not 1: it was written by a newer mlrelease",
    ),
    "another artifact": (
        lambda name: parquet_with(GOOD, b'{"artifact": "drift.json", "schema_version": 1}'),
        "is a 'drift.json', not a ",
    ),
    "bad metadata": (lambda name: parquet_with(GOOD, b"{nope"), "metadata is not valid"),
    "columns missing": (
        lambda name: parquet_with(pd.DataFrame({"a": [1]}), None),
        "lacks the column(s) row_id, prediction",
    ),
    "no rows": (lambda name: parquet_with(GOOD.iloc[:0], None), "has no rows"),
}


@pytest.mark.parametrize("case", sorted(TABLE_CORRUPTIONS))
@pytest.mark.parametrize("name", sorted(TABLES))
def test_corrupted_tables_are_refused_with_one_error_naming_the_file(tmp_path, name, case):
    data, expected = TABLE_CORRUPTIONS[case]
    path = tmp_path / name
    path.write_bytes(data(name))
    with pytest.raises(ArtifactError) as exc:
        TABLES[name].read(path)
    assert exc.value.exit_code == 2 and exc.value.hint
    assert exc.value.message.startswith(f"{path}: ") and expected in exc.value.message


def test_a_table_written_before_its_version_key_reads_as_version_one(tmp_path):
    path = tmp_path / "predictions.parquet"
    GOOD.to_parquet(path, index=False)
    assert PredictionsTable.read(path).frame.equals(GOOD)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_a_missing_table_is_the_same_error(tmp_path, name):
    with pytest.raises(ArtifactError, match="no such file"):
        TABLES[name].read(tmp_path / name)


# ------------------------------------------------------------------------- the request-log line


@pytest.fixture
def written_lines(tmp_path) -> list[dict[str, object]]:
    """Lines the server's own writer wrote: a request with an outlier row, a refused request and a
    server event."""
    log = tmp_path / "requests.jsonl"
    writer = RequestLog("brno", "v3", sample_rate=1.0, file=log, stream=io.StringIO())
    base = {"t": time.time(), "method": "POST", "url": "/predict", "route": "/predict", "latency": 0.004}
    writer.put(
        {
            **base,
            "status": 200,
            "rows": 2,
            "sampled": True,
            "columns": {"area_m2": [50.0, 40000.0], "rooms": [2, 400]},
            "predictions": [3.1e6, 9.9e9],
            "flags": [[], ["area_m2_range"]],
        }
    )
    writer.put({**base, "status": 422, "rows": 1, "problems": [{"field": "area_m2"}]})
    writer.event("INFO", "started")
    writer.close()
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_lines_the_server_writes_validate_and_read_typed(written_lines):
    check = validator("requests.jsonl")
    for line in written_lines:
        errors = list(check.iter_errors(line))
        assert not errors, [e.message for e in errors[:3]]
    parsed = [RequestLogLine.parse(line, f"requests.jsonl:{i}") for i, line in enumerate(written_lines, 1)]
    assert [p.event for p in parsed] == ["request", "outlier", "request", "server"]
    request = parsed[0]
    assert request.sampled and request.inputs == [
        {"area_m2": 50.0, "rooms": 2},
        {"area_m2": 40000.0, "rooms": 400},
    ]
    assert request.predictions == [3.1e6, 9.9e9] and request.flags == [[], ["area_m2_range"]]
    assert request.time.endswith("Z") and not request.refused
    assert parsed[2].refused and not parsed[2].sampled and parsed[2].inputs is None


LINE_CORRUPTIONS = {
    "too new": ({"schema": 2}, "request-log line schema 2 is not 1: it was written by a newer mlrelease"),
    "labels not an object": ({LABELS: "request"}, f"{LABELS} is not an object"),
    "unknown event": ({LABELS: {"event": "gossip"}}, "event 'gossip' is not one of request, outlier, server"),
    "inputs not a list": ({"inputs": {"a": 1}}, "inputs is not a list"),
    "an input not an object": ({"inputs": [{"a": 1}, 5]}, "inputs[1] is not an object"),
}


@pytest.mark.parametrize("case", sorted(LINE_CORRUPTIONS))
def test_a_corrupted_line_is_refused_naming_file_and_line(written_lines, case):
    change, expected = LINE_CORRUPTIONS[case]
    line = {**written_lines[0], **change}
    with pytest.raises(ArtifactError) as exc:
        RequestLogLine.parse(line, "logs/requests.jsonl:7")
    assert exc.value.exit_code == 2 and exc.value.hint
    assert exc.value.message == f"logs/requests.jsonl:7: {expected}"


def test_the_monitor_refuses_a_too_new_log_through_the_same_reader(tmp_path, written_lines):
    from mlrelease.monitor.sources import read_window

    log = tmp_path / "new.jsonl"
    log.write_text("\n".join(json.dumps({**line, "schema": 2}) for line in written_lines) + "\n")
    with pytest.raises(ArtifactError, match=r"new\.jsonl:1: request-log line schema 2 is not 1"):
        read_window(log)


def test_the_monitor_reads_the_servers_lines_row_by_row(tmp_path, written_lines):
    from mlrelease.monitor.sources import read_window

    log = tmp_path / "requests.jsonl"
    log.write_text("".join(json.dumps(line) + "\n" for line in written_lines))
    window = read_window(log)
    assert window.rows == 2 and window.from_logs
    assert window.columns["prediction"].tolist() == [3.1e6, 9.9e9]
    assert window.columns["rooms"].tolist() == [2, 400]
    assert window.flags == [[], ["area_m2_range"]]
    assert window.skipped == {"outlier lines": 1, "refused requests": 1, "server lines": 1}
