"""The server as a raw ASGI application: routing, body limits, protocols, answers, logs, metrics.

A raw ASGI callable (no framework) keeps the per-request cost small enough that the model's
``predict`` dominates; see ``bench/bench_serving.py`` for the measurements that chose it.
"""

from __future__ import annotations

import asyncio
import gc
import platform
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import orjson

from mlrelease import __version__
from mlrelease.config import ServingConfig
from mlrelease.serve.batching import Answer, Batcher, ModelFailed
from mlrelease.serve.logs import RequestLog
from mlrelease.serve.metrics import CONTENT_TYPE as METRICS_TYPE
from mlrelease.serve.metrics import Metrics
from mlrelease.serve.openapi import DOCS_HTML, openapi
from mlrelease.serve.outliers import HARD_FLAGS, OutlierGuard
from mlrelease.serve.protocols import PROTOCOLS, Answers, Protocol, Request, v2_datatype
from mlrelease.serve.schema import BadRequest, Validator
from mlrelease.serve.service import Service

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

JSON = b"application/json"
REJECTED = {413: "too_large", 422: "validation", 503: "not_ready", 415: "malformed"}  # metric reasons
NOT_LOGGED = frozenset(
    {"/healthz", "/readyz", "/metrics", "/v2/health/live", "/v2/health/ready", "/ping", "/health"}
)


@dataclass(frozen=True)
class Features:
    """Parts that can be switched off, for the benchmark's on/off comparison."""

    logging: bool = True
    outliers: bool = True
    batching: bool | None = None  # None: as configured
    inline: bool | None = None  # predicting on the event loop when idle; None: as configured


class ServerApp:
    def __init__(
        self,
        service: Service,
        serving: ServingConfig,
        *,
        features: Features = Features(),
        log_stream: Any = None,
    ):
        self.service = service
        self.serving = serving
        self.name = service.name
        self.version = service.version
        sig = service.signature
        self.validator = Validator(sig, serving.max_batch_rows)
        self.guard = OutlierGuard(serving.outliers, sig, enabled=features.outliers)
        self.reject = serving.outliers.mode == "reject"
        self.metrics = Metrics(self.name, self.version, sig)
        batching = serving.batching
        if features.batching is not None:
            batching = replace(batching, enabled=features.batching)
        if features.inline is False:
            batching = replace(batching, inline_max_ms=0)
        elif features.inline:
            batching = replace(batching, inline_max_ms=float("inf"))
        self.batcher = Batcher(
            service.predict_answer,
            self.guard.check,
            batching,
            on_batch=self.metrics.batch,
        )
        self.log = RequestLog(
            self.name,
            self.version,
            sample_rate=serving.logging.sample_rate,
            file=serving.logging.file,
            stream=log_stream,
            enabled=features.logging,
        )
        self.max_body = serving.max_body_bytes
        self.ready = False
        self.started = time.time()
        self.ready_after: float | None = None
        example = {n: v[0] for n, v in service.example_columns().items()}
        self._openapi = orjson.dumps(openapi(self.name, self.version, sig, example, serving.max_batch_rows))
        self._signature = orjson.dumps(sig.to_dict())
        clf = serving.classification
        self.answers = Answers(
            service.task,
            service.classes,
            probabilities=clf.probabilities,
            kserve_v1=clf.kserve_v1,
        )
        self._v2_meta = orjson.dumps(
            {
                "name": self.name,
                "versions": [self.version],
                "platform": f"mlrelease-{service.model.format}",
                "inputs": [
                    {"name": f.name, "datatype": v2_datatype(f.kind), "shape": [-1]} for f in sig.fields
                ],
                "outputs": self.answers.v2_outputs(),
            }
        )
        self._version = self._version_json()
        protocols = {p.name: p(self.validator, self.answers, self.name, self.version) for p in PROTOCOLS}
        # path -> (the route template metrics and logs name, the protocol that reads it)
        self.post_routes: dict[str, tuple[str, Protocol]] = {
            "/predict": ("/predict", protocols["native"]),
            "/invocations": ("/invocations", protocols["mlflow"]),
            f"/v1/models/{self.name}:predict": ("/v1/models/{name}:predict", protocols["v1"]),
            f"/v2/models/{self.name}/infer": ("/v2/models/{name}/infer", protocols["v2"]),
            f"/v2/models/{self.name}/versions/{self.version}/infer": (
                "/v2/models/{name}/versions/{version}/infer",
                protocols["v2"],
            ),
        }

    def _version_json(self) -> bytes:
        service = self.service
        startup = service.startup
        return orjson.dumps(
            {
                "model": self.name,
                "version": self.version,
                "sha256": service.model.sha256,
                "format": service.model.format,
                "task": service.task,
                **({"classes": service.classes} if service.classes is not None else {}),
                "predictor": service.compiled.to_dict(),
                "startup_s": startup.to_dict() if startup is not None else None,
                "server": f"mlrelease {__version__}",
                "python": platform.python_version(),
            }
        )

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.http(scope, receive, send)
        elif kind == "lifespan":
            await self.lifespan(receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.warm_up()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": f"warm-up failed: {exc!r}"})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def warm_up(self) -> None:
        """Predict on typical rows so the first real request pays no first-call costs."""
        loop = asyncio.get_running_loop()
        t = time.perf_counter()
        for rows in (1, 8, 1):
            cols = self.service.example_columns(rows)
            await loop.run_in_executor(self.batcher.executor, self.batcher.warm, cols, rows)
        # Everything alive now (the model, numpy, pandas, scikit-learn: ~160,000 objects) lives
        # as long as the server. Frozen, a full collection no longer walks it: that walk took
        # 70 ms and stalled whichever request it landed on (p99 at concurrency 8: 70 ms -> 5 ms).
        gc.collect()
        gc.freeze()
        self.ready = True
        self.metrics.ready.set(1)
        self.ready_after = time.time() - self.started
        startup = self.service.startup
        phases = None
        if startup is not None:
            startup.phases.pop("other", None)  # a service served again (tests) is measured again
            startup.phases["warm_up"] = round(time.perf_counter() - t, 3)
            startup.finish()
            phases = startup.to_dict()
            self._version = self._version_json()
        self.log.event(
            "INFO",
            f"ready: model {self.name} version {self.version}",
            startup_s=round(self.ready_after, 3),
            startup_phases_s=phases,
            predictor=self.service.compiled.to_dict(),
        )

    def shutdown(self) -> None:
        """Stop answering predictions, finish the worker, write every queued log line."""
        self.ready = False
        self.metrics.ready.set(0)
        self.batcher.close()
        self.log.event("INFO", "stopped")
        self.log.close()

    # ------------------------------------------------------------------ HTTP

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        t0 = time.perf_counter()
        method = scope["method"]
        path = scope["path"]
        headers = scope["headers"]
        entry: dict[str, Any] = {}
        route = path
        try:
            if method == "POST":
                post = self.post_routes.get(path)
                if post is None:
                    route = "unknown"
                    status, ctype, body, extra = self._not_found(path, method)
                else:
                    route = post[0]
                    status, ctype, body, extra = await self.predict(
                        post[1], headers, receive, entry, scope.get("client")
                    )
            elif method in ("GET", "HEAD"):
                status, ctype, body, extra = self.get(path)
                route = path if status != 404 else "unknown"
            else:
                route = "unknown"
                status, ctype, body, extra = (
                    405,
                    JSON,
                    orjson.dumps({"error": f"method {method} not allowed"}),
                    [],
                )
        except Exception as exc:  # a server bug: answer 500 and log it, never crash
            status, ctype, body, extra = 500, JSON, orjson.dumps({"error": "internal server error"}), []
            entry["error"] = "".join(traceback.format_exception(exc))[-4000:]
        resp_headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode()), *extra]
        await send({"type": "http.response.start", "status": status, "headers": resp_headers})
        await send({"type": "http.response.body", "body": body if method != "HEAD" else b""})
        latency = time.perf_counter() - t0
        self.metrics.request(route, status, latency)
        if path in NOT_LOGGED and status < 500:
            return
        entry.update(
            t=time.time(),
            method=method,
            url=_url(scope),
            route=route,
            status=status,
            latency=latency,
            response_size=len(body),
        )
        for k, v in headers:
            if k == b"user-agent":
                entry["user_agent"] = v.decode("latin-1")
            elif k == b"x-cloud-trace-context":
                entry["trace_header"] = v.decode("latin-1")
            elif k == b"traceparent":
                entry["traceparent"] = v.decode("latin-1")
        client = scope.get("client")
        if client:
            entry["remote_ip"] = client[0]
        entry["protocol"] = f"HTTP/{scope.get('http_version', '1.1')}"
        self.log.put(entry)

    async def read_body(self, headers: list[tuple[bytes, bytes]], receive: Receive) -> bytes:
        for k, v in headers:
            if k == b"content-length":
                try:
                    size = int(v)
                except ValueError:
                    raise BadRequest(400, "Content-Length is not a number") from None
                if size > self.max_body:
                    raise BadRequest(
                        413, f"the body has {size} bytes; this server takes at most {self.max_body}"
                    )
        chunks = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise BadRequest(400, "the client went away before sending the whole body")
            chunk = message.get("body", b"")
            if chunk:
                total += len(chunk)
                if total > self.max_body:
                    raise BadRequest(413, f"the body exceeds {self.max_body} bytes")
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def predict(
        self,
        protocol: Protocol,
        headers: list[tuple[bytes, bytes]],
        receive: Receive,
        entry: dict[str, Any],
        client: Any = None,
    ) -> tuple[int, bytes, bytes, list[tuple[bytes, bytes]]]:
        """Read, parse and predict one request of ``protocol``; answer in its shape."""
        arrived = False
        try:
            if not self.ready:
                raise BadRequest(503, "the model is not ready yet")
            self.batcher.arrive()
            arrived = True
            raw = await self.read_body(headers, receive)
            entry["request_size"] = len(raw)
            request = protocol.parse(raw, _content_type(headers))
            entry["rows"] = request.rows
            arrived = False
            answer = await self.batcher.submit(request.columns, request.rows, arrived=True, source=client)
        except BadRequest as exc:
            entry["problems"] = exc.problems
            self.metrics.rejected.labels(REJECTED.get(exc.status, "malformed")).inc()
            return exc.status, JSON, protocol.error(exc), []
        except ModelFailed as exc:
            entry["error"] = str(exc)
            self.metrics.rejected.labels("model_error").inc()
            err = BadRequest(422, f"the model could not predict on this input: {exc}")
            return 422, JSON, protocol.error(err), []
        finally:
            if arrived:
                self.batcher.left()
        return self._answered(protocol, request, answer, entry)

    def _answered(
        self, protocol: Protocol, request: Request, answer: Answer, entry: dict[str, Any]
    ) -> tuple[int, bytes, bytes, list[tuple[bytes, bytes]]]:
        """Count and log a predicted request; refuse it when a prediction is out of bounds
        and the outlier mode says reject."""
        flags = answer.flags
        preds = answer.predictions
        self.metrics.answered(preds, flags)
        outlier_rows = [i for i, f in enumerate(flags) if f]
        entry["flags"] = flags
        entry["predictions"] = preds
        sampled = bool(outlier_rows) or self.log.sample()
        entry["sampled"] = sampled
        if sampled:
            if request.records is not None:
                entry["inputs"] = request.records
            else:
                entry["columns"] = request.columns
        if not outlier_rows:
            return 200, JSON, protocol.answer(request, answer, outlier_rows), []
        extra = [(b"x-outlier-rows", ",".join(map(str, outlier_rows)).encode())]
        hard = [i for i in outlier_rows if HARD_FLAGS.intersection(flags[i])] if self.reject else []
        if hard:
            b = self.guard.bounds
            problems: list[dict[str, Any]] = [
                {
                    "row": i,
                    "field": None,
                    "error": f"prediction {preds[i]!r} outside [{b.min}, {b.max}]",
                    "value": preds[i],
                }
                for i in hard
            ]
            self.metrics.rejected.labels("outlier").inc()
            err = BadRequest(
                422,
                f"prediction(s) outside the allowed bounds for row(s) {', '.join(map(str, hard))}",
                problems,
            )
            return 422, JSON, protocol.error(err), extra
        return 200, JSON, protocol.answer(request, answer, outlier_rows), extra

    # ------------------------------------------------------------------ GET

    def get(self, path: str) -> tuple[int, bytes, bytes, list[tuple[bytes, bytes]]]:
        ok = b'{"status":"ok"}'
        if path in ("/healthz", "/v2/health/live", "/ping", "/health"):
            return 200, JSON, ok, []
        if path in ("/readyz", "/v2/health/ready", f"/v2/models/{self.name}/ready"):
            if self.ready:
                return 200, JSON, b'{"status":"ready"}', []
            return 503, JSON, b'{"status":"not ready"}', []
        if path == "/metrics":
            return 200, METRICS_TYPE.encode(), self.metrics.render(), []
        if path == "/version":
            return 200, JSON, self._version, []
        if path == "/signature.json":
            return 200, JSON, self._signature, []
        if path == "/openapi.json":
            return 200, JSON, self._openapi, []
        if path == "/docs":  # the page fetches openapi.json relative to itself
            return 200, b"text/html; charset=utf-8", DOCS_HTML.encode(), []
        if path == "/v2":
            return (
                200,
                JSON,
                orjson.dumps({"name": "mlrelease", "version": __version__, "extensions": []}),
                [],
            )
        if path in (f"/v2/models/{self.name}", f"/v2/models/{self.name}/versions/{self.version}"):
            return 200, JSON, self._v2_meta, []
        if path == "/v1/models":
            return 200, JSON, orjson.dumps({"models": [self.name]}), []
        if path == f"/v1/models/{self.name}":
            return 200, JSON, orjson.dumps({"name": self.name, "ready": self.ready}), []
        return self._not_found(path, "GET")

    def _not_found(self, path: str, method: str) -> tuple[int, bytes, bytes, list[tuple[bytes, bytes]]]:
        if path.startswith(("/v1/models/", "/v2/models/")):
            msg = f"no model at {path}; this server serves '{self.name}'"
        elif method == "GET" and path in self.post_routes:
            return 405, JSON, orjson.dumps({"error": f"{path} takes POST"}), [(b"allow", b"POST")]
        else:
            msg = f"no route {method} {path}; see /docs"
        return 404, JSON, orjson.dumps({"error": msg}), []


def _content_type(headers: list[tuple[bytes, bytes]]) -> bytes:
    """The media type of the last Content-Type header, lower-cased, without parameters."""
    ctype = b""
    for k, v in headers:
        if k == b"content-type":
            ctype = v.split(b";", 1)[0].strip().lower()
    return ctype


def _url(scope: Scope) -> str:
    qs = scope.get("query_string") or b""
    path = scope.get("raw_path") or scope["path"].encode()
    url = path.decode("latin-1")
    return f"{url}?{qs.decode('latin-1')}" if qs else url
