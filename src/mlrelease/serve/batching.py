"""Adaptive micro-batching: concurrent requests answered by one ``predict`` call.

``predict`` runs in one worker thread, so the event loop stays free to read and answer
requests. A request that finds the worker idle and nobody else arriving is dispatched at once
(batching adds no latency at concurrency 1). Requests that arrive while the worker is busy wait
for it and are then predicted together, up to ``max_rows`` rows; when other requests are still
being read, the dispatcher waits at most ``max_wait_ms`` for them. Each request gets its own rows
back; when a gathered batch fails, its requests are predicted one by one, so one bad request
never fails its neighbours.

When, besides, no other connection sent a request in the last ``ALONE_S`` and the model's
predicts of that many rows take under ``inline_max_ms`` (an estimate that one stalled predict
barely moves), the request is predicted on the event loop itself, saving two thread switches,
which cost more than a compiled one-row predict. With other clients about, requests go to the
worker, so the loop reads theirs meanwhile and they are predicted together."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from mlrelease.config import BatchingConfig

Columns = dict[str, list[Any]]  # validated request columns: name -> one value per row
ALONE_S = 0.05  # a client that sent nothing for this long no longer counts as concurrent
# A predict measured slower than the estimate moves it this fraction of the way, a faster one all
# the way: one stall (another process took the core) does not send a fast model's requests to
# the worker thread, while a model that is slow every time gets there within a few predicts.
RISE = 0.1


class Table(NamedTuple):
    """A batch's numeric inputs as the predictor read them: float64, a null as NaN, input
    column ``name`` in ``matrix[:, at[name]]``. Built once for the model, read again by the
    outlier checks."""

    matrix: np.ndarray  # (rows, columns)
    at: Mapping[str, int]


class Prediction(NamedTuple):
    """What the model said about a batch: one value or label per row and, for a classifier
    answering them, the class probabilities (rows x classes, in the model's class order), and
    the numeric inputs it read, when it has them as one table."""

    values: np.ndarray
    proba: np.ndarray | None = None
    table: Table | None = None


@dataclass
class Answer:
    predictions: list[Any]
    flags: list[list[str]]
    probabilities: list[list[float]] | None = None


class ModelFailed(Exception):
    """The model raised on a request's (validated) rows."""

    def __init__(self, cause: BaseException):
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause


@dataclass
class _Job:
    columns: Columns
    rows: int
    future: asyncio.Future[Answer]


class Batcher:
    def __init__(
        self,
        predict: Callable[[Columns], np.ndarray | Prediction],
        check: Callable[[Columns, np.ndarray, Table | None], list[list[str]]],
        cfg: BatchingConfig,
        on_batch: Callable[[int, int, float], None] | None = None,
    ):
        self.predict = predict
        self.check = check
        self.enabled = cfg.enabled
        self.max_rows = max(1, cfg.max_rows)
        self.max_wait = max(0.0, cfg.max_wait_ms) / 1000.0
        self.on_batch = on_batch  # (requests, rows, seconds) after each predict, for metrics
        self.inline_max = max(0.0, cfg.inline_max_ms) / 1000.0
        # seconds a predict takes (see RISE), by batch size rounded up to a power of two
        self.cost: dict[int, float] = {}
        self.last_seen: dict[Any, float] = {}  # connection -> when it last submitted
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="mlrelease-predict")
        self.pending: list[_Job] = []
        self.busy = False
        self.arriving = 0  # requests being read that will submit soon
        self._timer: asyncio.TimerHandle | None = None

    # -- called by the app, on the event loop

    def arrive(self) -> None:
        self.arriving += 1

    def left(self) -> None:
        """A request that called arrive() submitted or gave up."""
        self.arriving -= 1
        if self._timer is not None and self.arriving <= 0:
            self._fire()

    async def submit(
        self, columns: Columns, rows: int, *, arrived: bool = False, source: Any = None
    ) -> Answer:
        """Predict ``rows`` rows; ``arrived``: this request called arrive() before; ``source``:
        the connection it came on (client address and port)."""
        loop = asyncio.get_running_loop()
        job = _Job(columns, rows, loop.create_future())
        if arrived:
            self.arriving -= 1
        alone = self.alone(source)  # first: every request must mark its connection as seen
        if alone and not self.busy and not self.pending and self.arriving <= 0 and self.fast(rows):
            return _unwrap(self._run([job])[0])
        if not self.enabled:
            answers = await loop.run_in_executor(self.executor, self._run, [job])
            return _unwrap(answers[0])
        self.pending.append(job)
        if self._timer is not None:
            if self.arriving <= 0 or sum(j.rows for j in self.pending) >= self.max_rows:
                self._fire()
        elif not self.busy:
            self._dispatch(loop)
        return await job.future

    def fast(self, rows: int) -> bool:
        """Whether a predict of ``rows`` rows is estimated under ``inline_max_ms``."""
        seconds = self.cost.get(_bucket(rows))
        if seconds is None:  # not measured yet: only an unlimited budget says yes
            return self.inline_max == float("inf")
        return seconds <= self.inline_max

    def alone(self, source: Any) -> bool:
        """Whether no connection other than ``source`` submitted in the last ALONE_S seconds."""
        if source is None:
            return True
        now = time.monotonic()
        seen = self.last_seen
        seen[source] = now
        if len(seen) == 1:
            return True
        stale = []
        busy = False
        for other, t in seen.items():
            if other == source:
                continue
            if now - t < ALONE_S:
                busy = True
                break
            stale.append(other)
        for other in stale:
            del seen[other]
        return not busy

    def _fire(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.busy = False
        if self.pending:
            self._dispatch(asyncio.get_running_loop(), wait=False)

    def _dispatch(self, loop: asyncio.AbstractEventLoop, wait: bool = True) -> None:
        rows = sum(j.rows for j in self.pending)
        # Others are still being read: give them up to max_wait to join this batch.
        if wait and self.max_wait > 0 and self.arriving > 0 and rows < self.max_rows:
            self.busy = True
            self._timer = loop.call_later(self.max_wait, self._fire)
            return
        jobs: list[_Job] = []
        taken = 0
        while self.pending and (not jobs or taken + self.pending[0].rows <= self.max_rows):
            job = self.pending.pop(0)
            jobs.append(job)
            taken += job.rows
        self.busy = True
        fut = loop.run_in_executor(self.executor, self._run, jobs)
        fut.add_done_callback(lambda f: self._done(loop, jobs, f))

    def _done(self, loop: asyncio.AbstractEventLoop, jobs: list[_Job], fut: asyncio.Future[Any]) -> None:
        self.busy = False
        try:
            answers = fut.result()
        except BaseException as exc:  # the worker itself failed: every job hears it
            answers = [ModelFailed(exc)] * len(jobs)
        for job, answer in zip(jobs, answers, strict=True):
            if job.future.done():
                continue
            if isinstance(answer, BaseException):
                job.future.set_exception(answer)
            else:
                job.future.set_result(answer)
        if self.pending:
            self._dispatch(loop, wait=False)

    # -- in the worker thread

    def _predict(self, columns: Columns, rows: int) -> tuple[Prediction, list[list[str]]]:
        out = self.predict(columns)
        if not isinstance(out, Prediction):
            out = Prediction(out)
        if len(out.values) != rows:
            raise ValueError(f"the model returned {len(out.values)} predictions for {rows} rows")
        if out.proba is not None and len(out.proba) != rows:
            raise ValueError(f"the model returned {len(out.proba)} probability rows for {rows} rows")
        return out, self.check(columns, out.values, out.table)

    def warm(self, columns: Columns, rows: int) -> None:
        """Predict once and note the time it took (the first inline decisions use it)."""
        t0 = time.perf_counter()
        self._predict(columns, rows)
        self.note(rows, time.perf_counter() - t0)

    def note(self, rows: int, seconds: float) -> None:
        """Take in that a predict of ``rows`` rows took ``seconds``: a faster one at once, a
        slower one by RISE of the difference."""
        key = _bucket(rows)
        old = self.cost.get(key)
        self.cost[key] = seconds if old is None or seconds <= old else old + (seconds - old) * RISE

    def _run(self, jobs: list[_Job]) -> list[Answer | BaseException]:
        t0 = time.perf_counter()
        total = sum(j.rows for j in jobs)
        try:
            if len(jobs) == 1:
                columns = jobs[0].columns
            else:
                columns = {name: [v for j in jobs for v in j.columns[name]] for name in jobs[0].columns}
            preds, flags = self._predict(columns, total)
            out: list[Answer | BaseException] = []
            start = 0
            for j in jobs:
                end = start + j.rows
                out.append(_answer(preds, flags, start, end))
                start = end
        except Exception as exc:
            if len(jobs) == 1:
                out = [ModelFailed(exc)]
            else:  # isolate the request that broke the batch
                out = []
                for j in jobs:
                    try:
                        p, f = self._predict(j.columns, j.rows)
                        out.append(_answer(p, f, 0, j.rows))
                    except Exception as one:
                        out.append(ModelFailed(one))
        seconds = time.perf_counter() - t0
        self.note(total, seconds)
        if self.on_batch is not None:
            self.on_batch(len(jobs), total, seconds)
        return out

    def close(self) -> None:
        self.executor.shutdown(wait=True)


def _answer(pred: Prediction, flags: list[list[str]], start: int, end: int) -> Answer:
    proba = None if pred.proba is None else pred.proba[start:end].tolist()
    return Answer(pred.values[start:end].tolist(), flags[start:end], proba)


def row_count(columns: Columns) -> int:
    return len(next(iter(columns.values()), []))


def _bucket(rows: int) -> int:
    return 1 << max(rows - 1, 0).bit_length()


def _unwrap(answer: Answer | BaseException) -> Answer:
    if isinstance(answer, BaseException):
        raise answer
    return answer
