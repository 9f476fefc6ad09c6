"""Starting and stopping the server: uvicorn (httptools + uvloop, one worker), and the smoke check
that starts it on a free local port, sends typical and absurd rows, and stops it."""

from __future__ import annotations

import errno
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlrelease.config import Config
from mlrelease.errors import CheckFailed, UsageError
from mlrelease.serve.startup import Startup

if TYPE_CHECKING:  # mlrelease.signature imports pandas: in `serve`, the imports phase does that
    from mlrelease.signature import Signature

BACKLOG = 2048


def build_app(
    cfg: Config,
    signature: Path | None = None,
    startup: Startup | None = None,
    compiled: Path | None = None,
    **kwargs: Any,
) -> Any:
    """Load the model and its signature and return the ASGI app (not yet warmed up). With
    ``compiled`` (a compiled-model folder, ``mlrelease.serve.artifact``) the server serves that
    alone, proven at start-up, and never imports the model's library."""
    startup = startup or Startup()
    with startup.phase("imports"):
        from mlrelease.serve.app import ServerApp

        if compiled is not None:
            from mlrelease.serve.artifact import load_compiled_service
        else:
            from mlrelease.serve.service import load_service
    if compiled is not None:
        return ServerApp(load_compiled_service(cfg, compiled, startup), cfg.serving, **kwargs)
    return ServerApp(load_service(cfg, signature, startup), cfg.serving, **kwargs)


def log_config(name: str, version: str) -> dict[str, Any]:
    """uvicorn's own messages as Cloud Logging JSON on stderr (the request lines go to stdout)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "cloud": {"()": "mlrelease.serve.logs.CloudFormatter", "model": name, "version": version}
        },
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "cloud", "stream": "ext://sys.stderr"}
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
            "uvicorn.error": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def uvicorn_config(app: Any, host: str, port: int) -> Any:
    import uvicorn

    from mlrelease.serve.connections import limited_protocol

    limits = app.serving.connections
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http=limited_protocol(limits, lambda reason: app.metrics.closed.labels(reason).inc()),
        timeout_keep_alive=limits.keep_alive_s,
        lifespan="on",
        access_log=False,
        server_header=False,
        log_config=log_config(app.name, app.version),
        timeout_graceful_shutdown=10,
        backlog=BACKLOG,
    )


def serve(
    cfg: Config, *, signature: Path | None, host: str, port: int | None, compiled: Path | None = None
) -> None:
    """Run the server in this process until SIGINT/SIGTERM; queued log lines are written before
    exit. With ``compiled``, serve that compiled model alone (see ``build_app``)."""
    startup = Startup(since_process_start=True)
    with startup.phase("imports"):
        import uvicorn

    port = cfg.serving.port if port is None else port
    sockets = listen(host, port)  # before the model loads: a taken port fails at once
    try:
        t0 = time.perf_counter()
        app = build_app(cfg, signature, startup, compiled)
        port = sockets[0].getsockname()[1]
        server = uvicorn.Server(uvicorn_config(app, host, port))
        app.log.event(
            "INFO", f"listening on http://{host}:{port}", model_load_s=round(time.perf_counter() - t0, 3)
        )
        try:
            server.run(sockets=sockets)
        finally:
            app.shutdown()  # idempotent: makes sure the log is drained even when start-up failed
    finally:
        for sock in sockets:
            sock.close()
    if not server.started:
        raise UsageError(f"the server could not start on {host}:{port}")


def listen(host: str, port: int, backlog: int = BACKLOG) -> list[socket.socket]:
    """Listening sockets for every address ``host`` names (as asyncio's create_server binds them),
    or a UsageError that says what is wrong: the port is taken, the host is not an address here."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
        raise UsageError(
            f"--host {host!r} is not an address to listen on: {reason}",
            hint="pass an IP address of this machine, 0.0.0.0 for all of them, or 127.0.0.1",
        ) from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, addr in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(addr)
                sock.listen(backlog)
            except OSError as exc:
                message, hint = _bind_error(exc, host, port)
                raise UsageError(message, hint=hint) from None
            sock.set_inheritable(True)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _bind_error(exc: OSError, host: str, port: int) -> tuple[str, str]:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {port} is in use on {host}",
            f"stop what listens there (e.g. `ss -ltnp 'sport = :{port}'` names it) or pass another --port",
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"--host {host} is not an address of this machine", "pass 0.0.0.0 or one of its addresses"
    if exc.errno == errno.EACCES:
        return f"port {port} needs privileges to listen on", "pass --port 1024 or above"
    return f"cannot listen on {host}:{port}: {exc.strerror}", "pass another --host or --port"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def request(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def wait_ready(port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 60) -> float:
    t0 = time.perf_counter()
    deadline = t0 + timeout
    while time.perf_counter() < deadline:
        if proc is not None and proc.poll() is not None:
            raise UsageError(f"the server exited with code {proc.returncode} before it was ready")
        try:
            status, _, _ = request(port, "GET", "/readyz", timeout=2)
            if status == 200:
                return time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(0.02)
    raise UsageError(f"the server was not ready after {timeout:.0f} s")


@dataclass
class SmokeResult:
    port: int
    ready_s: float
    exchanges: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    log_lines: int = 0
    outlier_logs: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "port": self.port,
            "ready_s": round(self.ready_s, 3),
            "exchanges": self.exchanges,
            "failures": self.failures,
            "log_lines": self.log_lines,
            "outlier_logs": self.outlier_logs,
            "ok": not self.failures,
        }


def absurd_row(sig: Signature, typical: dict[str, Any], input_z: float) -> dict[str, Any]:
    """A typical row with its first numeric input pushed far beyond the reference data (in the
    example: a flat of some 1,400 m2 in the centre): what the outlier check must flag."""
    row = dict(typical)
    for f in sig.fields:
        if f.kind in ("number", "integer") and f.max is not None and f.median is not None and f.mad:
            far = max(f.max * 6, f.median + 3 * input_z * f.mad)
            row[f.name] = round(far) if f.kind == "integer" else round(far, 1)
            break
    return row


def smoke(config_path: str | None, cfg: Config, *, signature: Path | None, rows: int = 3) -> SmokeResult:
    """Start ``mlrelease serve`` as a subprocess on a free 127.0.0.1 port, send typical rows of the
    validation data plus an absurd one through three protocols, check that the absurd row is
    flagged and the typical ones answered, then stop the server with SIGTERM."""
    from mlrelease.dataset import read_table
    from mlrelease.serve.service import example_value
    from mlrelease.signature import Signature

    port = free_port()
    cmd = [sys.executable, "-m", "mlrelease", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if config_path:
        cmd += ["-c", config_path]
    if signature is not None:
        cmd += ["--signature", str(signature)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    result = SmokeResult(port=port, ready_s=0.0)
    try:
        wait_ready(port, proc)
        result.ready_s = time.perf_counter() - t0
        _, _, raw = request(port, "GET", "/signature.json")
        sig = Signature.from_dict(json.loads(raw))
        typical = {f.name: example_value(f) for f in sig.fields}
        records: list[dict[str, Any]] = []
        if cfg.validation is not None:
            frame = read_table(cfg.validation.data).head(rows)
            records = json.loads(frame[sig.names].to_json(orient="records"))
        absurd = absurd_row(sig, records[0] if records else typical, cfg.serving.outliers.input_z)
        batch = [*records, absurd]
        last = str(len(batch) - 1)
        calls = [
            ("/predict", batch),
            (f"/v1/models/{cfg.model.name}:predict", {"instances": batch}),
            ("/invocations", {"dataframe_records": batch}),
        ]
        for path, payload in calls:
            status, headers, body = request(port, "POST", path, payload)
            flagged = headers.get("x-outlier-rows", "")
            result.exchanges.append(
                {
                    "path": path,
                    "rows": len(batch),
                    "status": status,
                    "answer": json.loads(body),
                    "outlier_rows": flagged,
                }
            )
            if status == 422 and cfg.serving.outliers.mode == "reject":
                continue
            if status != 200:
                result.failures.append(f"POST {path} answered {status}: {body[:200]!r}")
            elif last not in flagged.split(","):
                result.failures.append(f"POST {path}: the absurd row {absurd} was not flagged")
        status, _, body = request(port, "GET", "/metrics")
        if b"mlrelease_outlier_rows_total" not in body:
            result.failures.append("/metrics lacks mlrelease_outlier_rows_total")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    for ln in out.decode(errors="replace").splitlines():
        if not ln.strip():
            continue
        result.log_lines += 1
        try:
            rec = json.loads(ln)
        except ValueError:
            result.failures.append(f"a log line is not JSON: {ln[:120]}")
            continue
        if rec.get("logging.googleapis.com/labels", {}).get("event") == "outlier":
            result.outlier_logs.append(rec)
    if not result.outlier_logs:
        result.failures.append("no WARNING outlier line was logged")
    if proc.returncode not in (0, -signal.SIGTERM):
        result.failures.append(
            f"the server exited with {proc.returncode}: {err.decode(errors='replace')[-500:]}"
        )
    return result


def raise_on_failures(result: SmokeResult) -> None:
    if result.failures:
        raise CheckFailed("the server's smoke check failed", hint="; ".join(result.failures))
