"""The model server over real sockets: every input format, every error class, metrics, logs,
outliers, micro-batching."""

from __future__ import annotations

import asyncio
import json
import re
import time

import httpx
import jsonschema
import numpy as np
import pandas as pd
import pytest
from servekit import EXAMPLE, PAYLOADS, payload, with_serving

from mlrelease.config import Bounds
from mlrelease.serve.app import Features

NAME = "brno-house-prices"
FORMATS = [
    ("/predict", "native.json"),
    ("/predict", "native-records-key.json"),
    (f"/v1/models/{NAME}:predict", "kserve-v1-dict-instances.json"),
    (f"/v1/models/{NAME}:predict", "kserve-v1-list-instances.json"),
    (f"/v2/models/{NAME}/infer", "v2-columns.json"),
    ("/invocations", "mlflow-dataframe-split.json"),
    ("/invocations", "mlflow-dataframe-records.json"),
    ("/invocations", "mlflow-instances.json"),
    ("/invocations", "mlflow-inputs.json"),
]


@pytest.fixture(scope="module")
def expected(example_service) -> list[float]:
    frame = pd.read_csv(EXAMPLE / "data" / "validation.csv").head(2)
    return example_service.model.predict(frame).tolist()


def predictions_of(path: str, answer: dict) -> list[float]:
    if "/v2/" in path:
        assert answer["model_name"] == NAME
        (out,) = answer["outputs"]
        assert out["name"] == "predict" and out["datatype"] == "FP64" and out["shape"] == [2]
        return out["data"]
    return answer["predictions"]


def test_every_documented_input_format_gives_the_in_process_predictions(example_server, expected):
    for path, name in FORMATS:
        status, answer, _ = example_server.post(path, payload(name))
        assert status == 200, (name, answer)
        assert predictions_of(path, answer) == pytest.approx(expected, rel=1e-9), name


def test_mlflow_csv_body_is_scored_like_json(example_server, expected):
    body = (PAYLOADS / "mlflow.csv").read_bytes()
    status, answer, _ = example_server.post("/invocations", body, {"Content-Type": "text/csv"})
    assert status == 200, answer
    assert answer["predictions"] == pytest.approx(expected, rel=1e-9)


def test_native_answer_carries_model_version_and_per_row_flags(example_server, example_service):
    status, answer, _ = example_server.post("/predict", payload("native.json"))
    assert status == 200
    assert answer["model"] == NAME and answer["version"] == example_service.version
    assert answer["flags"] == [[], []] and answer["outlier_rows"] == []


def test_v2_echoes_the_request_id(example_server):
    _, answer, _ = example_server.post(f"/v2/models/{NAME}/infer", payload("v2-columns.json"))
    assert answer["id"] == "req-42" and answer["model_version"]


def test_metadata_health_and_docs_endpoints(example_server, example_service):
    def get(path: str):
        status, headers, body = example_server.request("GET", path)
        return status, headers, body

    for path in ("/healthz", "/readyz", "/v2/health/live", "/v2/health/ready", f"/v2/models/{NAME}/ready"):
        assert get(path)[0] == 200, path
    status, _, body = get("/v2")
    assert status == 200 and json.loads(body)["name"] == "mlrelease"
    meta = json.loads(get(f"/v2/models/{NAME}")[2])
    assert meta["name"] == NAME and meta["versions"] == [example_service.version]
    assert {i["name"]: i["datatype"] for i in meta["inputs"]}["district"] == "BYTES"
    assert all(i["shape"] == [-1] for i in meta["inputs"])
    version = json.loads(get("/version")[2])
    assert version["version"] == example_service.version and version["sha256"] == example_service.model.sha256
    assert version["predictor"] == example_service.compiled.to_dict()
    assert version["predictor"]["compiled"] is True and version["predictor"]["max_rows"] >= 1
    spec = json.loads(get("/openapi.json")[2])
    assert spec["openapi"].startswith("3.1")
    assert {"/predict", f"/v1/models/{NAME}:predict", f"/v2/models/{NAME}/infer", "/invocations"} <= set(
        spec["paths"]
    )
    record = spec["components"]["schemas"]["Record"]
    assert record["properties"]["district"]["examples"][0] == "Bohunice"
    assert record["properties"]["rooms"]["maximum"] == 2**63 - 1
    for row in payload("native.json"):
        jsonschema.validate(row, record)
    status, headers, html = get("/docs")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b"openapi.json" in html
    assert not re.search(rb"(src|href)=\"https?://", html), "the docs page must not load anything from a CDN"
    assert json.loads(get("/signature.json")[2])["fields"][0]["name"] == "area_m2"


def test_malformed_json_is_400(example_server):
    status, answer, _ = example_server.post("/predict", b'[{"area_m2": 70,')
    assert status == 400 and "malformed JSON" in answer["error"]


def test_wrong_shape_is_400_for_every_protocol(example_server):
    for path in ("/predict", f"/v1/models/{NAME}:predict", f"/v2/models/{NAME}/infer", "/invocations"):
        status, answer, _ = example_server.post(path, {"nothing": 1})
        assert status == 400, (path, answer)


def test_invalid_values_are_422_with_every_field_and_row_listed(example_server):
    rows = payload("native.json")
    rows[0] = {**rows[0], "area_m2": "big", "district": 7}
    rows[1] = {**rows[1], "rooms": 2.5}
    del rows[1]["floor"]
    rows[1]["has_balcony"] = None
    status, answer, _ = example_server.post("/predict", rows)
    assert status == 422
    listed = {(p["row"], p["field"]) for p in answer["problems"]}
    assert listed == {(0, "area_m2"), (0, "district"), (1, "rooms"), (1, "floor"), (1, "has_balcony")}
    assert answer["problem_count"] == 5
    by_field = {p["field"]: p["error"] for p in answer["problems"]}
    assert by_field["area_m2"] == "expected a number, got string"
    assert by_field["floor"] == "missing" and by_field["has_balcony"] == "must not be null"


def test_mlflow_errors_use_mlflow_error_format(example_server):
    status, answer, _ = example_server.post("/invocations", {"dataframe_records": [{"area_m2": "x"}]})
    assert status == 422 and answer["error_code"] == "INVALID_PARAMETER_VALUE" and answer["problems"]
    status, answer, _ = example_server.post("/invocations", {"instances": [], "inputs": []})
    assert status == 400 and answer["error_code"] == "BAD_REQUEST"


def test_v2_datatype_that_does_not_fit_a_column_is_422(example_server):
    body = payload("v2-columns.json")
    body["inputs"][5]["datatype"] = "FP32"
    status, answer, _ = example_server.post(f"/v2/models/{NAME}/infer", body)
    assert status == 422 and answer["problems"][0]["field"] == "district"


def test_unsupported_content_type_is_415(example_server):
    status, answer, _ = example_server.post("/predict", b"[]", {"Content-Type": "text/plain"})
    assert status == 415 and "application/json" in answer["error"]


def test_unknown_model_route_and_method(example_server):
    status, answer, _ = example_server.post("/v1/models/other:predict", payload("native.json"))
    assert status == 404 and NAME in answer["error"]
    assert example_server.request("GET", "/nowhere")[0] == 404
    assert example_server.request("DELETE", "/predict")[0] == 405
    assert example_server.request("GET", "/predict")[0] == 405


def test_body_and_batch_limits_are_413(start_server, example_cfg, example_service):
    cfg = with_serving(example_cfg, max_body_bytes=2000, max_batch_rows=3)
    server = start_server(cfg, example_service)
    rows = payload("native.json")
    status, answer, _ = server.post("/predict", rows * 2)
    assert status == 413 and "at most 3" in answer["error"]
    status, answer, _ = server.post("/predict", rows * 20)
    assert status == 413 and "2000" in answer["error"]
    assert server.post("/predict", rows)[0] == 200


def test_the_140_million_house_is_flagged_and_logged_at_warning(example_server):
    """A 1,500 m2 flat in the centre is far outside the reference data: the answer marks the row,
    and a WARNING line with countable labels is logged with its inputs."""
    rows = payload("native.json")
    mansion = {
        **rows[0],
        "area_m2": 1500.0,
        "rooms": 40,
        "district": "Brno-střed",
        "distance_to_centre_km": 0.3,
    }
    status, answer, headers = example_server.post("/predict", [rows[0], mansion])
    assert status == 200
    assert answer["flags"][0] == []
    assert "input_far:area_m2" in answer["flags"][1] and answer["outlier_rows"] == [1]
    assert headers["x-outlier-rows"] == "1"
    example_server.logs(1)
    deadline_lines = [
        ln
        for ln in example_server.stream.lines()
        if ln["logging.googleapis.com/labels"]["event"] == "outlier"
    ]
    (warn,) = deadline_lines
    assert warn["severity"] == "WARNING"
    labels = warn["logging.googleapis.com/labels"]
    assert labels["model"] == NAME and labels["kind"] == "input" and "input_far:area_m2" in labels["flags"]
    assert warn["input"]["area_m2"] == 1500.0 and warn["row"] == 1
    (line,) = example_server.logs(1)
    assert line["severity"] == "WARNING" and line["outlier_rows"] == [1]


def test_prediction_bounds_flag_and_reject_mode_answers_422(start_server, example_cfg, example_service):
    rows = payload("native.json")  # predicted about 4.7 and 5.7 million
    bounds = replace_outliers(example_cfg, mode="flag", prediction=Bounds(min=1e6, max=5e6))
    server = start_server(bounds, example_service)
    status, answer, _ = server.post("/predict", rows)
    assert status == 200 and answer["flags"] == [[], ["prediction_above_max"]]
    reject = replace_outliers(example_cfg, mode="reject", prediction=Bounds(min=1e6, max=5e6))
    server = start_server(reject, example_service)
    status, answer, _ = server.post(f"/v1/models/{NAME}:predict", {"instances": rows})
    assert status == 422 and [p["row"] for p in answer["problems"]] == [1]
    assert server.post("/predict", rows[:1])[0] == 200
    metrics = server.request("GET", "/metrics")[2].decode()
    assert 'mlrelease_rejected_requests_total{reason="outlier"} 1.0' in metrics


def replace_outliers(cfg, **changes):
    from dataclasses import replace

    return with_serving(cfg, outliers=replace(cfg.serving.outliers, **changes))


def test_learned_bounds_come_from_validation_predictions(example_service, example_cfg):
    from mlrelease.serve.outliers import prediction_bounds

    learned = replace_outliers(example_cfg, prediction=None).serving.outliers
    b = prediction_bounds(learned, example_service.signature)
    stats = example_service.signature.prediction
    spread = stats.max - stats.min
    assert (b.min, b.max) == (stats.min - 0.5 * spread, stats.max + 0.5 * spread)


def test_metrics_count_requests_latency_predictions_outliers(example_server):
    rows = payload("native.json")
    for _ in range(3):
        example_server.post("/predict", rows)
    example_server.post("/predict", b"{")
    example_server.post("/predict", [{**rows[0], "district": "Atlantis"}])
    text = example_server.request("GET", "/metrics")[2].decode()

    def value(sample: str) -> float:
        m = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.M)
        assert m, sample
        return float(m.group(1))

    assert value('mlrelease_requests_total{code="200",route="/predict"}') == 4
    assert value('mlrelease_requests_total{code="400",route="/predict"}') == 1
    assert value('mlrelease_request_duration_seconds_count{route="/predict"}') == 5
    assert value("mlrelease_prediction_value_count") == 7
    assert value("mlrelease_predicted_rows_total") == 7
    assert value('mlrelease_outlier_rows_total{kind="input"}') == 1
    assert value('mlrelease_outlier_flags_total{flag="unseen_category:district"}') == 1
    assert value('mlrelease_rejected_requests_total{reason="malformed"}') == 1
    assert value("mlrelease_ready") == 1


def test_request_log_line_fields(example_server, example_service):
    example_server.app.log.project = "test-proj"  # as read from GOOGLE_CLOUD_PROJECT
    rows = payload("native.json")
    headers = {
        "X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000/1;o=1",
        "User-Agent": "pytest-client",
    }
    example_server.post("/predict?debug=1", rows, headers)
    (line,) = example_server.logs(1)
    assert line["severity"] == "INFO"
    assert line["message"].startswith("POST /predict?debug=1 200 2 rows")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", line["time"])
    assert line["logging.googleapis.com/labels"] == {
        "model": NAME,
        "version": example_service.version,
        "event": "request",
        "route": "/predict",
        "outlier": "false",
    }
    http = line["httpRequest"]
    assert (
        http["requestMethod"] == "POST" and http["requestUrl"] == "/predict?debug=1" and http["status"] == 200
    )
    assert re.fullmatch(r"\d+\.\d{6}s", http["latency"])
    assert http["userAgent"] == "pytest-client" and http["remoteIp"] == "127.0.0.1"
    assert int(http["requestSize"]) == len(json.dumps(rows).encode()) and int(http["responseSize"]) > 0
    assert (
        line["logging.googleapis.com/trace"] == "projects/test-proj/traces/105445aa7843bc8bf206b12000100000"
    )
    assert (
        line["logging.googleapis.com/spanId"] == "1" and line["logging.googleapis.com/trace_sampled"] is True
    )
    assert line["inputs"][0]["district"] == rows[0]["district"] and len(line["predictions"]) == 2
    assert line["flags"] == [[], []] and line["rows"] == 2 and line["schema"] == 1


def test_trace_header_parsing():
    from mlrelease.serve.logs import parse_trace

    assert parse_trace("abc123/77;o=0", None, "my-proj") == ("projects/my-proj/traces/abc123", "77", False)
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert parse_trace(None, tp, "p")[0] == "projects/p/traces/4bf92f3577b34da6a3ce929d0e0e4736"
    assert parse_trace("not/a;trace", None, "p") == (None, None, None)


def test_log_line_matches_google_cloud_logging_structured_handler(example_server):
    """Our line carries the same special fields, with the same types, as the line that
    google-cloud-logging's StructuredLogHandler writes for the same request."""
    import io
    import logging

    from google.cloud.logging_v2.handlers import StructuredLogHandler

    example_server.app.log.project = "proj"
    example_server.post(
        "/predict",
        payload("native.json"),
        {"X-Cloud-Trace-Context": "0af7651916cd43dd8448eb211c80319c/9;o=1"},
    )
    (ours,) = example_server.logs(1)
    stream = io.StringIO()
    handler = StructuredLogHandler(stream=stream, project_id="proj", labels={"model": NAME})
    logger = logging.getLogger("mlrelease-test-structured")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.info(
        "POST /predict 200",
        extra={
            "http_request": {
                "requestMethod": "POST",
                "requestUrl": "/predict",
                "status": 200,
                "latency": "0.004s",
                "userAgent": "x",
                "remoteIp": "127.0.0.1",
                "requestSize": "10",
                "responseSize": "20",
            },
            "trace": "projects/proj/traces/0af7651916cd43dd8448eb211c80319c",
            "span_id": "9",
            "trace_sampled": True,
        },
    )
    theirs = [json.loads(ln) for ln in stream.getvalue().splitlines() if ln.strip()][
        -1
    ]  # the first is diagnostics
    for key in (
        "severity",
        "message",
        "logging.googleapis.com/labels",
        "logging.googleapis.com/trace",
        "logging.googleapis.com/spanId",
        "logging.googleapis.com/trace_sampled",
        "httpRequest",
    ):
        assert key in ours, key
        assert type(ours[key]) is type(theirs[key]), key
    assert ours["severity"] == theirs["severity"] == "INFO"
    assert set(theirs["httpRequest"]) <= set(ours["httpRequest"])
    for k, v in theirs["httpRequest"].items():
        assert type(ours["httpRequest"][k]) is type(v), k
    assert ours["logging.googleapis.com/trace"] == theirs["logging.googleapis.com/trace"]
    assert all(isinstance(v, str) for v in ours["logging.googleapis.com/labels"].values())


def test_sampling_keeps_inputs_only_in_sampled_lines_but_always_for_outliers(
    start_server, example_cfg, example_service
):
    from dataclasses import replace

    cfg = with_serving(example_cfg, logging=replace(example_cfg.serving.logging, sample_rate=0.0))
    server = start_server(cfg, example_service)
    rows = payload("native.json")
    server.post("/predict", rows)
    server.post("/predict", [{**rows[0], "area_m2": 1500.0}])
    plain, flagged = server.logs(2)
    assert plain["sampled"] is False and "inputs" not in plain
    assert flagged["sampled"] is True and flagged["inputs"][0]["area_m2"] == 1500.0


def test_concurrent_requests_are_batched_and_routed_back(start_server, example_cfg, example_service):
    server = start_server(example_cfg, example_service)
    frame = pd.read_csv(EXAMPLE / "data" / "validation.csv").head(48)
    records = json.loads(frame[example_service.signature.names].to_json(orient="records"))
    expected = example_service.model.predict(frame)

    async def fire() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            return await asyncio.gather(*(client.post("/predict", json=[r]) for r in records))

    answers = asyncio.run(fire())
    got = [a.json()["predictions"][0] for a in answers]
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    text = server.request("GET", "/metrics")[2].decode()
    count = float(re.search(r"^mlrelease_batch_requests_count (\S+)$", text, re.M).group(1))
    total = float(re.search(r"^mlrelease_batch_requests_sum (\S+)$", text, re.M).group(1))
    assert total >= 48 and count < total, "concurrent requests should share model calls"


def test_a_bad_request_in_a_batch_does_not_fail_its_neighbours(start_server, example_cfg, example_service):
    server = start_server(example_cfg, example_service)
    rows = payload("native.json")

    async def fire() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            bodies = [rows, [{**rows[0], "rooms": "many"}], rows, b"{", rows]
            return await asyncio.gather(
                *(
                    client.post("/predict", content=b)
                    if isinstance(b, bytes)
                    else client.post("/predict", json=b)
                    for b in bodies
                )
            )

    codes = [r.status_code for r in asyncio.run(fire())]
    assert codes == [200, 422, 200, 400, 200]


@pytest.mark.parametrize(
    "features",
    [Features(batching=False), Features(logging=False, outliers=False), Features(inline=False)],
)
def test_switching_parts_off_keeps_answers(start_server, example_cfg, example_service, expected, features):
    server = start_server(example_cfg, example_service, features)
    status, answer, _ = server.post("/predict", payload("native.json"))
    assert status == 200 and answer["predictions"] == pytest.approx(expected, rel=1e-9)


def test_ready_line_says_how_it_predicts_and_the_heap_is_frozen(start_server, example_cfg, example_service):
    """After warm-up, the objects alive for the server's lifetime are frozen out of the
    collector, whose full passes over them stalled requests for 70 ms."""
    import gc

    gc.unfreeze()
    server = start_server(example_cfg, example_service)
    assert gc.get_freeze_count() > 10_000
    deadline = time.monotonic() + 5
    while not (ready := [ln for ln in server.stream.lines() if ln["message"].startswith("ready:")]):
        assert time.monotonic() < deadline, "no ready line in 5 s"
        time.sleep(0.02)
    (ready,) = ready
    assert ready["predictor"]["compiled"] is True and ready["predictor"]["rows_checked"] > 2000
    assert ready["startup_s"] > 0


def test_logged_inputs_are_the_validated_records_whatever_order_or_extras_the_body_had(example_server):
    """A body whose objects are the records already is logged as sent; any other is logged as its
    validated columns: the signature's order, no extra key, numbers normalised."""
    rows = payload("native.json") * 2  # four rows: the whole-column path
    names = list(rows[0])
    shuffled = [{"extra": "x", **dict(reversed(list(r.items())))} for r in rows]
    as_float = [{**r, "area_m2": 70} for r in rows]  # the whole column becomes floats
    as_int = [{**r, "rooms": 3.0} for r in rows]  # checked value by value
    for body in (rows, shuffled, as_float, as_int):
        status, _, _ = example_server.post("/predict", body)
        assert status == 200
    as_sent, reordered, floats, ints = (line["inputs"] for line in example_server.logs(4))
    assert as_sent == rows and [list(r) for r in as_sent] == [names] * 4
    assert reordered == rows and [list(r) for r in reordered] == [names] * 4
    assert [r["area_m2"] for r in floats] == [70.0] * 4 and all(type(r["area_m2"]) is float for r in floats)
    assert [r["rooms"] for r in ints] == [3] * 4 and all(type(r["rooms"]) is int for r in ints)
