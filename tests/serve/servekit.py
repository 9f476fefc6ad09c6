"""Helpers for the serving tests: the example's model behind uvicorn on a free 127.0.0.1 port.

``start_server(cfg)`` runs uvicorn (httptools + uvloop, as in production) in a thread; the log
lines go to an in-memory stream the test reads back. Every server is stopped at teardown.
"""

from __future__ import annotations

import io
import json
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mlrelease.config import Config
from mlrelease.serve import runner
from mlrelease.serve.app import Features, ServerApp

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "brno-houses"
PAYLOADS = REPO / "tests" / "fixtures" / "serve-payloads"


class LineStream(io.StringIO):
    """Where the server writes its log lines in a test."""

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(ln) for ln in self.getvalue().splitlines() if ln.strip()]


@dataclass
class Running:
    app: ServerApp
    port: int
    stream: LineStream
    server: Any
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None):
        return runner.request(self.port, method, path, body, headers)

    def post(
        self, path: str, body: Any, headers: dict[str, str] | None = None
    ) -> tuple[int, Any, dict[str, str]]:
        status, hdrs, raw = runner.request(self.port, "POST", path, body, headers)
        return status, json.loads(raw), hdrs

    def logs(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The request lines written so far, waiting until at least ``count`` are there."""
        deadline = time.monotonic() + timeout
        while True:
            lines = [
                ln for ln in self.stream.lines() if ln["logging.googleapis.com/labels"]["event"] == "request"
            ]
            if len(lines) >= count or time.monotonic() > deadline:
                return lines
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def with_serving(cfg: Config, **changes: Any) -> Config:
    return replace(cfg, serving=replace(cfg.serving, **changes))


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text("utf-8"))


def start(cfg: Config, service: Any, features: Features | None = None) -> Running:
    """A server for ``service`` in a thread on a free 127.0.0.1 port, ready; the caller stops it."""
    import uvicorn

    stream = LineStream()
    app = ServerApp(service, cfg.serving, features=features or Features(), log_stream=stream)
    port = runner.free_port()
    server = uvicorn.Server(runner.uvicorn_config(app, "127.0.0.1", port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    running = Running(app, port, stream, server, thread)
    try:
        runner.wait_ready(port, timeout=30)
    except BaseException:
        running.stop()
        raise
    return running
