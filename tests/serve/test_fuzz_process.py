"""`mlrelease serve` as a process, fuzzed over real sockets: schemathesis against the server's own
``/openapi.json``, and a raw-socket fuzzer for the v2 and MLflow bodies that the document only
sketches, with hypothesis choosing the HTTP framing too. Zero 5xx, the server healthy afterwards,
its RSS growth bounded. Each test runs for seconds, not minutes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance
from servekit import EXAMPLE, PAYLOADS, payload

from mlrelease.serve import runner

NAME = "brno-house-prices"
V1 = f"/v1/models/{NAME}:predict"
V2 = f"/v2/models/{NAME}/infer"
RSS_GROWTH_MAX = 8 * 2**20  # measured: +0.4 to +0.7 MB over the ~1,700 requests of this module


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    rss_start: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss(self) -> int:
        return psutil.Process(self.proc.pid).memory_info().rss


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Any:
    """The example's server as `mlrelease serve` would run it in the image, warmed up by a few
    hundred valid requests before its RSS is taken; stopped with SIGTERM at the end."""
    log = tmp_path_factory.mktemp("fuzz") / "stdout.jsonl"
    port = runner.free_port()
    cmd = [sys.executable, "-m", "mlrelease", "serve", "-c", str(EXAMPLE), "--host", "127.0.0.1"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*cmd, "--port", str(port)],
            stdout=out,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    server = Served(proc, port, log)
    try:
        runner.wait_ready(port, proc, timeout=60)
        for _ in range(50):
            for path, name in [("/predict", "native.json"), (V2, "v2-columns.json")]:
                assert runner.request(port, "POST", path, payload(name))[0] == 200
            for name in ["mlflow-dataframe-split.json", "mlflow-dataframe-records.json"]:
                assert runner.request(port, "POST", "/invocations", payload(name))[0] == 200
        server.rss_start = server.rss()
        yield server
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def api(served):
    # A schema-invalid body must get one of the refusals the document lists (413 for too many
    # rows is one; schemathesis's default list leaves it out and takes 401, 403, 404, ...).
    refusals = {"negative_data_rejection": {"expected-statuses": [400, 413, 415, 422]}}
    config = schemathesis.config.SchemathesisConfig.from_dict({"checks": refusals})
    return schemathesis.openapi.from_url(f"{served.url}/openapi.json", config=config)


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure shows its request as is
        suppress_health_check=list(HealthCheck),
    )


# ---------------------------------------------------------------------------------- schemathesis


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize("path", ["/predict", V1, V2, "/invocations"])
def test_schemathesis_finds_no_5xx_and_no_answer_off_the_document(served, api, path, mode):
    """Every check schemathesis has: no 5xx, status codes, content types and bodies as documented,
    schema-invalid bodies refused with a 4xx, and (for /predict and KServe v1, whose bodies the
    document describes exactly) every schema-valid body answered 200. v2 tensors and MLflow's
    formats depend on each other's values in ways JSON Schema cannot say (a shape and its data),
    so a schema-valid body there may be refused; those are fuzzed raw below too."""
    operation = api[path]["POST"]
    excluded = [] if path in ("/predict", V1) else [positive_data_acceptance]

    @fuzz(60)
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case):
        response = case.call(base_url=served.url, timeout=15)
        case.validate_response(response, excluded_checks=excluded)

    check()


def test_schemathesis_get_endpoints_answer_as_documented(served, api):
    for result in api.get_all_operations():
        operation = result.ok()
        if operation.method.upper() != "GET":
            continue

        @fuzz(3)
        @given(case=operation.as_strategy())
        def check(case):
            case.call_and_validate(base_url=served.url, timeout=15)

        check()


# -------------------------------------------------------------------------- raw-socket fuzzer

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["FP64", "BYTES", "INT64", "BOOL", "area_m2", "district", "", "NaN"]),
)
jsons = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
V2_BODIES = [payload("v2-columns.json")]
MLFLOW_BODIES = [
    payload(n)
    for n in (
        "mlflow-dataframe-split.json",
        "mlflow-dataframe-records.json",
        "mlflow-instances.json",
        "mlflow-inputs.json",
    )
]


@st.composite
def mutated(draw, bodies: list[Any]) -> Any:
    """A documented body with one to three places changed: a value replaced, a key dropped, a
    list item duplicated, or a value wrapped in a list."""
    body = json.loads(json.dumps(draw(st.sampled_from(bodies))))
    for _ in range(draw(st.integers(1, 3))):
        parent, key = None, None
        node = body
        while isinstance(node, (dict, list)) and node and draw(st.booleans()):
            key = draw(st.sampled_from(list(node) if isinstance(node, dict) else range(len(node))))
            parent, node = node, node[key]
        if parent is None:
            continue
        how = draw(st.sampled_from(["replace", "drop", "duplicate", "wrap"]))
        if how == "replace":
            parent[key] = draw(jsons)
        elif how == "drop":
            del parent[key]
        elif how == "duplicate" and isinstance(parent, list):
            parent.insert(key, node)
        else:
            parent[key] = [node]
    return body


def csv_bodies() -> st.SearchStrategy[bytes]:
    lines = (PAYLOADS / "mlflow.csv").read_text("utf-8").splitlines()
    cell = st.one_of(st.text(max_size=8), st.sampled_from(['"', '""', ",", "\r", "1e400", "nan", "-0"]))
    row = st.lists(cell, max_size=11).map(",".join)
    return st.builds(
        lambda keep, extra, junk: "\n".join([*keep, *extra]).encode() + junk,
        st.lists(st.sampled_from(lines), min_size=0, max_size=4),
        st.lists(row, max_size=3),
        st.binary(max_size=8),
    )


Request = tuple[str, str, bytes]  # path, content type, body

requests_ = st.one_of(
    st.tuples(
        st.just(V2), st.just("application/json"), mutated(V2_BODIES).map(lambda b: json.dumps(b).encode())
    ),
    st.tuples(
        st.just("/invocations"),
        st.just("application/json"),
        mutated(MLFLOW_BODIES).map(lambda b: json.dumps(b).encode()),
    ),
    st.tuples(
        st.just("/invocations"), st.sampled_from(["text/csv", "application/csv; charset=utf-8"]), csv_bodies()
    ),
    st.tuples(st.sampled_from([V2, "/invocations"]), st.just("application/json"), st.binary(max_size=64)),
)


def frame(path: str, ctype: str, body: bytes, how: str, cuts: list[int]) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: fuzz\r\nContent-Type: {ctype}\r\n"
    if how == "chunked":
        pieces, start = [], 0
        for cut in [*sorted({min(c, len(body)) for c in cuts}), len(body)]:
            if cut > start:
                pieces.append(body[start:cut])
                start = cut
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces)
        return (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + chunks + b"0\r\n\r\n"
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def read_response(sock_file) -> tuple[int, bytes]:
    status_line = sock_file.readline()
    assert status_line.startswith(b"HTTP/1.1 "), status_line
    length = 0
    while (line := sock_file.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return int(status_line.split()[1]), sock_file.read(length)


@fuzz(500)
@given(
    batch=st.lists(requests_, min_size=1, max_size=3),
    how=st.sampled_from(["length", "chunked"]),
    cuts=st.lists(st.integers(0, 400), max_size=4),
    pipelined=st.booleans(),
)
def test_raw_socket_v2_and_mlflow_bodies_never_get_a_5xx(served, batch, how, cuts, pipelined):
    """One connection, one to three requests: written one after another or all at once
    (pipelined), each with a Content-Length or chunked at random places."""
    with socket.create_connection(("127.0.0.1", served.port), timeout=15) as sock:
        f = sock.makefile("rb")
        wire = [frame(path, ctype, body, how, cuts) for path, ctype, body in batch]
        if pipelined:
            sock.sendall(b"".join(wire))
        answers = []
        for data in wire:
            if not pipelined:
                sock.sendall(data)
            answers.append(read_response(f))
    for (path, _, body), (status, answer) in zip(batch, answers, strict=True):
        assert 200 <= status < 500, (path, body[:300], answer[:300])
        json.loads(answer)


def test_the_server_is_healthy_after_the_fuzzing_and_its_memory_bounded(served):
    assert runner.request(served.port, "GET", "/readyz")[0] == 200
    status, _, answer = runner.request(served.port, "POST", "/predict", payload("native.json"))
    assert status == 200 and len(json.loads(answer)["predictions"]) == 2
    metrics = runner.request(served.port, "GET", "/metrics")[2].decode()
    assert 'code="5' not in metrics
    answered = sum(
        float(ln.split()[-1]) for ln in metrics.splitlines() if ln.startswith("mlrelease_requests_total")
    )
    assert answered > 1000, answered  # the fuzzing above reached the server
    growth = served.rss() - served.rss_start
    print(f"RSS {served.rss_start / 2**20:.1f} MB -> +{growth / 2**20:.1f} MB over {answered:.0f} requests")
    assert growth < RSS_GROWTH_MAX, f"RSS grew by {growth / 2**20:.1f} MB over {answered:.0f} requests"
    assert served.proc.poll() is None
