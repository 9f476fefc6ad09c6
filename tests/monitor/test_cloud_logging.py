"""Reading request lines from Cloud Logging: google-cloud-logging's own client over HTTP against a
local server that speaks the Logging API's ``entries:list`` JSON, pages included."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest
from click.testing import CliRunner

from mlrelease.cli import cli
from mlrelease.errors import DataError
from mlrelease.monitor.run import parse_time

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "survey"
PAGE = 7


def entries() -> list[dict]:
    """LogEntry JSON as the GKE agent makes it from the server's lines: the labels key becomes the
    entry's labels, time its timestamp, httpRequest its own field, the rest jsonPayload."""
    seniors = pd.read_csv(EXAMPLE / "data" / "seniors.csv")
    rows = json.loads(seniors[["age", "hours_online", "faculty"]].to_json(orient="records"))
    out = []
    for k, start in enumerate(range(0, len(rows), 25)):
        batch = rows[start : start + 25]
        flags = [["input_far:age"] if r["age"] > 70 else [] for r in batch]
        out.append(
            {
                "logName": "projects/demo/logs/stdout",
                "resource": {"type": "k8s_container", "labels": {"cluster_name": "c"}},
                "timestamp": f"2026-11-30T10:{k:02d}:00.000001Z",
                "insertId": f"id{k}",
                "severity": "WARNING",
                "labels": {
                    "model": "survey-app-uptake",
                    "version": "v1",
                    "event": "request",
                    "outlier": "true",
                },
                "httpRequest": {"requestMethod": "POST", "requestUrl": "/predict", "status": 200},
                "jsonPayload": {
                    "message": f"POST /predict 200 {len(batch)} rows",
                    "schema": 1,
                    "rows": len(batch),
                    "sampled": True,
                    "inputs": batch,
                    "predictions": ["no"] * len(batch),
                    "flags": flags,
                    "outlier_rows": [i for i, f in enumerate(flags) if f],
                },
            }
        )
    return out


class LoggingAPI(BaseHTTPRequestHandler):
    """``POST /v2/entries:list``: the entries, PAGE at a time, with nextPageToken; records bodies."""

    bodies: ClassVar[list[dict]] = []
    data: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.bodies.append({"path": self.path, **body})
        if not self.path.startswith("/v2/entries:list"):
            return self._reply(404, {"error": {"code": 404, "message": "no such method"}})
        if "labels.model=" not in body.get("filter", ""):
            return self._reply(400, {"error": {"code": 400, "message": "filter without a model"}})
        start = int(body.get("pageToken") or 0)
        size = min(int(body.get("pageSize") or 50), PAGE)
        page = {"entries": self.data[start : start + size]}
        if start + size < len(self.data):
            page["nextPageToken"] = str(start + size)
        self._reply(200, page)

    def _reply(self, status: int, data: object) -> None:
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def endpoint():
    LoggingAPI.bodies, LoggingAPI.data = [], entries()
    server = ThreadingHTTPServer(("127.0.0.1", 0), LoggingAPI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_monitor_reads_every_page_and_flags_the_seniors(endpoint: str, tmp_path: Path) -> None:
    args = ["monitor", "-c", str(EXAMPLE), "--current", "cloud-logging:demo", "--logging-endpoint", endpoint]
    args += ["--since", "2026-11-30T00:00:00Z", "--until", "2026-12-01T00:00:00Z", "--model-version", "v1"]
    res = CliRunner().invoke(cli, [*args, "--json"])
    assert res.exit_code == 1, res.output
    data = json.loads(res.output)
    assert data["current"]["source"] == "cloud-logging:demo" and data["current"]["rows"] == 600
    assert data["current"]["first_time"] == "2026-11-30T10:00:00.000001Z"
    assert set(data["drifted"]) == {"age", "prediction"}
    assert data["outliers"]["flagged"] == sum(
        1 for e in LoggingAPI.data for f in e["jsonPayload"]["flags"] if f
    )
    # 24 entries, 7 a page: four requests, each the same query with the page token
    assert len(LoggingAPI.bodies) == 4
    first = LoggingAPI.bodies[0]
    assert first["resourceNames"] == ["projects/demo"] and first["orderBy"] == "timestamp asc"
    assert first["filter"] == (
        'labels.model="survey-app-uptake" AND labels.event="request" AND labels.version="v1"'
        ' AND timestamp>="2026-11-30T00:00:00.000000Z" AND timestamp<"2026-12-01T00:00:00.000000Z"'
    )
    assert [b.get("pageToken") for b in LoggingAPI.bodies] == [None, "7", "14", "21"]


def test_an_api_error_is_bad_input_with_the_reason(endpoint: str, tmp_path: Path) -> None:
    (tmp_path / "ref.csv").write_text("age\n1\n")
    res = CliRunner().invoke(
        cli,
        [
            "monitor",
            "--reference",
            str(tmp_path / "ref.csv"),
            "--current",
            "cloud-logging:demo",
            "--logging-endpoint",
            endpoint + "/nowhere",
            "--model",
            "m",
        ],
    )
    assert isinstance(res.exception, DataError)  # main() maps it to exit 2
    assert "the Logging API refused the query: 404" in str(res.exception)


def test_times_are_rfc3339_or_ages() -> None:
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert parse_time("24h", now) == "2026-11-29T12:00:00.000000Z"
    assert parse_time("7d", now) == "2026-11-23T12:00:00.000000Z"
    assert parse_time("2026-11-30T10:00:00+01:00", now) == "2026-11-30T09:00:00.000000Z"
    with pytest.raises(Exception, match="not a time"):
        parse_time("yesterday", now)
