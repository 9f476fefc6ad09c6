"""Connection limits over real sockets: slow headers and bodies are cut off by their deadlines,
idle connections by the keep-alive timeout, connections past the cap get a 503; and `serve` on a
taken port or a bad host exits 2 with one clear line."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time

import pytest
from servekit import EXAMPLE, payload, with_serving

from mlrelease.config import ConnectionsConfig
from mlrelease.serve import runner


def connect(port: int, timeout: float = 10) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes; socket.timeout if it keeps the connection."""
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def closed_metric(server, reason: str) -> float:
    text = server.request("GET", "/metrics")[2].decode()
    for line in text.splitlines():
        if line.startswith(f'mlrelease_closed_connections_total{{reason="{reason}"}}'):
            return float(line.split()[-1])
    return 0.0


def test_slow_headers_are_answered_408_and_closed_by_the_header_deadline(
    start_server, example_cfg, example_service
):
    limits = ConnectionsConfig(header_timeout_s=1.0)
    server = start_server(with_serving(example_cfg, connections=limits), example_service)
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Slow: "
    slow = [connect(server.port, timeout=8) for _ in range(40)]
    silent = [connect(server.port, timeout=8) for _ in range(10)]  # never send a byte
    t0 = time.monotonic()
    for s in slow:
        s.sendall(head)
    for _ in range(6):  # a byte every 0.3 s: each arrives in time, the headers never complete
        time.sleep(0.3)
        for s in slow:
            with contextlib.suppress(OSError):  # closed already: what the deadline is for
                s.sendall(b"a")
        # the server keeps answering others meanwhile
        assert server.post("/predict", payload("native.json"))[0] == 200
    answers = [read_until_closed(s) for s in slow + silent]
    took = time.monotonic() - t0
    for s in slow + silent:
        s.close()
    assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers), answers[0]
    assert took < 15, f"closing 50 slow connections took {took:.1f} s with a 1 s deadline"
    assert closed_metric(server, "header_timeout") == 50


def test_a_kept_alive_connection_has_the_header_deadline_on_its_next_request(
    start_server, example_cfg, example_service
):
    limits = ConnectionsConfig(header_timeout_s=1.0, keep_alive_s=30)
    server = start_server(with_serving(example_cfg, connections=limits), example_service)
    s = connect(server.port, timeout=8)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert s.recv(65536).startswith(b"HTTP/1.1 200 ")
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # the second request never ends its headers
    t0 = time.monotonic()
    assert read_until_closed(s).startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - t0 < 4
    s.close()


def test_a_slow_body_is_cut_off_by_the_body_deadline(start_server, example_cfg, example_service):
    limits = ConnectionsConfig(body_timeout_s=1.0)
    server = start_server(with_serving(example_cfg, connections=limits), example_service)
    s = connect(server.port, timeout=8)
    s.sendall(
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n["
    )
    t0 = time.monotonic()
    read_until_closed(s)
    assert time.monotonic() - t0 < 4
    s.close()
    assert closed_metric(server, "body_timeout") == 1


def test_an_idle_connection_is_closed_after_the_keep_alive_timeout(
    start_server, example_cfg, example_service
):
    limits = ConnectionsConfig(keep_alive_s=0.5)
    server = start_server(with_serving(example_cfg, connections=limits), example_service)
    s = connect(server.port, timeout=8)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    t0 = time.monotonic()
    assert read_until_closed(s).startswith(b"HTTP/1.1 200 ")
    assert time.monotonic() - t0 < 3
    s.close()


def test_connections_past_the_cap_get_503_and_the_server_recovers(start_server, example_cfg, example_service):
    limits = ConnectionsConfig(max=5, header_timeout_s=30)
    server = start_server(with_serving(example_cfg, connections=limits), example_service)
    held = [connect(server.port) for _ in range(5)]
    time.sleep(0.3)  # let the server accept them
    for _ in range(3):
        extra = connect(server.port)
        assert read_until_closed(extra).startswith(b"HTTP/1.1 503 ")
        extra.close()
    for s in held[:2]:
        s.close()
    time.sleep(0.3)
    assert server.post("/predict", payload("native.json"))[0] == 200
    assert closed_metric(server, "max_connections") == 3
    for s in held[2:]:
        s.close()


def test_a_request_head_past_the_size_cap_is_431_and_a_big_body_is_not(
    start_server, example_cfg, example_service
):
    limits = ConnectionsConfig(max_header_bytes=16384)
    server = start_server(with_serving(example_cfg, connections=limits), example_service)
    heads = [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X: a\r\n" * 4000 + b"\r\n",
        b"GET /healthz?" + b"q" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Endless: " + b"a" * 2_000_000,  # never ends
    ]
    answers = []
    for head in heads:
        s = connect(server.port)
        with contextlib.suppress(OSError):  # the server may close before all of it is written
            s.sendall(head)
        try:
            answers.append(read_until_closed(s)[:13])
        except ConnectionResetError:  # closed with bytes still unread: TCP resets, the 431 is lost
            answers.append(b"reset")
        s.close()
    assert set(answers) <= {b"HTTP/1.1 431 ", b"reset"} and b"HTTP/1.1 431 " in answers, answers
    assert closed_metric(server, "header_too_large") == len(heads)
    rows = payload("native.json") * 400  # 800 rows, about 190 KB, written with the head at once
    body = json.dumps(rows).encode()
    s = connect(server.port)
    s.sendall(
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    assert read_until_closed(s).startswith(b"HTTP/1.1 200 ")
    s.close()


def serve_cli(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "mlrelease", "serve", "-c", str(EXAMPLE), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_serve_on_a_port_in_use_exits_2_naming_the_port():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = serve_cli("--host", "127.0.0.1", "--port", str(port))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"error: port {port} is in use on 127.0.0.1\n"), proc.stderr
    assert "{" not in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("no-such-host.invalid", "--host 'no-such-host.invalid' is not an address to listen on"),
        ("192.0.2.1", "--host 192.0.2.1 is not an address of this machine"),  # TEST-NET-1
    ],
)
def test_serve_on_a_bad_host_exits_2_naming_it(host, message):
    proc = serve_cli("--host", host, "--port", str(runner.free_port()))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"error: {message}"), proc.stderr
    assert "{" not in proc.stderr and "Traceback" not in proc.stderr
