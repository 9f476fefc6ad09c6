"""What the server's request path costs beside transport and predict, in process.

Calls the ASGI app directly with an in-memory receive/send (no sockets, no uvicorn), so the
figure is the server's own work: routing, reading the body, parsing, validation, the outlier
checks, the answer, metrics and the log line (formatted on the event loop, written by the
writer thread: the run ends when every line is written). Against it, in the same run:

- ``bare``: an ASGI app that parses the same body with orjson and answers a constant;
- ``predict``: the service's in-process predict on the already-validated columns.

``rest = server - bare - predict`` is what the request path adds. Each model runs as configured
(a predict that was last measured over ``inline_max_ms`` goes to the worker thread, a hop that
costs CPU too) and with every predict on the event loop (the request path's own work alone).
Times are the process's CPU time (every thread's), so other jobs on a shared machine do not
inflate them; the best of ``--reps`` runs counts. Prints the figures for the
example's model (examples/brno-houses) and, with --work, for the serving benchmark's model
(bench_serving.py's handoff), for 1 and 100 rows; --profile prints cProfile's top functions.

    python bench/bench_request_path.py [--work /tmp/peer-bench-work] [--n 3000] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import orjson

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "brno-houses"

Message = dict[str, Any]


class Sink(io.RawIOBase):
    """Where the log lines go: counted, then dropped."""

    def __init__(self) -> None:
        self.bytes = 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.bytes += len(b)
        return len(b)


async def bare(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The transport's limit: read the body, parse it, answer a constant."""
    msg = await receive()
    orjson.loads(msg["body"])
    body = b'{"predictions":[0.0]}'
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"21")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def scope_for(path: str, body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "http_version": "1.1",
        "client": ("127.0.0.1", 50000),
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"user-agent", b"bench"),
        ],
    }


async def drive(app: Any, path: str, body: bytes, n: int) -> float:
    """Seconds per request over ``n`` requests."""
    scope = scope_for(path, body)
    msg: Message = {"type": "http.request", "body": body, "more_body": False}
    status = [0]

    async def receive() -> Message:
        return msg

    async def send(m: Message) -> None:
        if m["type"] == "http.response.start":
            status[0] = m["status"]

    t0 = time.process_time()
    for _ in range(n):
        await app(scope, receive, send)
    if status[0] != 200:
        raise RuntimeError(f"{path} answered {status[0]}")
    return (time.process_time() - t0) / n


def served(handoff: Path, sink: Sink, inline: bool | None = None) -> Any:
    from mlrelease import config as cfgmod
    from mlrelease.serve.app import Features, ServerApp
    from mlrelease.serve.service import load_service

    cfg = cfgmod.load(str(handoff))
    app = ServerApp(load_service(cfg), cfg.serving, features=Features(inline=inline), log_stream=sink)
    asyncio.run(app.warm_up())
    return app


def predict_time(app: Any, columns: dict[str, list[Any]], n: int) -> float:
    """CPU seconds of the service's predict on validated columns."""
    predict = app.service.predict_answer
    for _ in range(50):
        predict(columns)
    t0 = time.process_time()
    for _ in range(n):
        predict(columns)
    return (time.process_time() - t0) / n


def measure(name: str, handoff: Path, n: int, reps: int, profile: bool, inline: bool | None) -> None:
    sink = Sink()
    app = served(handoff, sink, inline)
    example = app.service.example_columns(100)
    names = list(example)
    for rows in (1, 100):
        records = [{k: example[k][i] for k in names} for i in range(rows)]
        body = orjson.dumps(records)
        columns = app.validator.records(orjson.loads(body), "body")
        count = n if rows == 1 else max(200, n // 10)
        server_s, bare_s, predict_s = [], [], []
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(drive(app, "/predict", body, 200))
            for _ in range(reps):
                written = app.log.written
                t0 = time.process_time()
                loop.run_until_complete(drive(app, "/predict", body, count))
                while app.log.written < written + count:  # the writer's formatting counts too
                    time.sleep(0.001)
                server_s.append((time.process_time() - t0) / count)
                bare_s.append(loop.run_until_complete(drive(bare, "/predict", body, count)))
                predict_s.append(predict_time(app, columns, count))
            if profile:
                prof = cProfile.Profile()
                prof.enable()
                loop.run_until_complete(drive(app, "/predict", body, count))
                prof.disable()
        finally:
            loop.close()
        s, b, pred = min(server_s), min(bare_s), min(predict_s)
        rest = s - b - pred
        how = "inline" if inline else "as configured"
        cells = " | ".join(f"{x * 1e3:.3f}" for x in (s, b, pred, rest))
        print(f"| {name} | {how} | {rows} | {cells} |", flush=True)
        if profile:
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(18)
            print(out.getvalue(), file=sys.stderr)
    app.shutdown()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="", help="bench_serving.py's work folder (its handoff)")
    ap.add_argument("--n", type=int, default=3000, help="one-row requests per measurement")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    print("| model | predict | rows | server ms | bare app ms | predict ms | rest ms |")
    print("|---|---|---|---|---|---|---|")
    handoffs = [("example", EXAMPLE)]
    if args.work:
        sys.path.insert(0, str(ROOT / "bench"))
        from bench_serving import prepare_handoff

        handoffs.append(("benchmark", prepare_handoff(Path(args.work))))
    for name, handoff in handoffs:
        for inline in (None, True):
            measure(name, handoff, args.n, args.reps, args.profile, inline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
