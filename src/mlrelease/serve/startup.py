"""Where the server's start-up time goes: seconds per phase, for ``/version`` and the ready line.

Phases, in order: ``python_and_cli`` (the interpreter and the CLI, from the process's own start
time where the system says it: Linux's /proc), ``imports`` (the server's modules and the model
format's library: scikit-learn and skops for a skops file, most of a start), ``model_load``,
``signature``, ``compile`` (building the compiled predictor and checking it bit for bit against
the model) and ``warm_up`` (first predictions of 1, 8 and 1 rows).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class Startup:
    """Seconds spent in each start-up phase, in the order they ran."""

    def __init__(self, *, since_process_start: bool = False) -> None:
        """``since_process_start``: count the time before this object too (``python_and_cli``),
        for a process that exists to serve."""
        self.phases: dict[str, float] = {}
        self.began = time.perf_counter()
        self.total: float | None = None
        age = process_age() if since_process_start else None
        if age is not None:
            self.phases["python_and_cli"] = round(age, 3)
            self.began -= age

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self.phases[name] = round(self.phases.get(name, 0.0) + time.perf_counter() - t, 3)

    def finish(self) -> None:
        """The server is ready: the total is the time since the start (the process's, where
        counted); ``other`` is what no phase holds (reading the config, building the app, binding)."""
        self.total = time.perf_counter() - self.began
        self.phases["other"] = round(max(0.0, self.total - sum(self.phases.values())), 3)

    def to_dict(self) -> dict[str, float]:
        total = self.total if self.total is not None else sum(self.phases.values())
        return {**self.phases, "total": round(total, 3)}


def process_age() -> float | None:
    """Seconds since this process started, from /proc (None where there is none)."""
    try:
        stat = Path("/proc/self/stat").read_text()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22, starttime, after the comm field
        return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


def import_model_library(fmt: str) -> None:
    """Import what loading and running a model of ``fmt`` needs, so that the ``imports`` phase
    holds the import time and ``model_load`` the load itself."""
    if fmt == "skops":
        import skops.io  # noqa: F401 - imports scikit-learn too
    elif fmt in ("joblib", "pickle"):
        import joblib  # noqa: F401
    elif fmt == "onnx":
        import onnxruntime  # noqa: F401
