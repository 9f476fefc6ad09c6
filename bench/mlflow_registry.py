"""MLflow's model registry under the same load as bench_registry.py; run by it in the mlflow venv.

    <peer-bench-work>/venv-mlflow/bin/python bench/mlflow_registry.py --releases 1000 --workdir DIR

A sqlite backend in DIR (tracking and registry). For version i = 1..N:
  release   `mlflow.register_model` (a local model folder per version, written beforehand and
            not timed; MLflow records a pointer to it, it copies nothing) plus
            `set_registered_model_alias(champion)`: median of the last 10 at each checkpoint;
  releases  `search_model_versions` for the newest 20 (order by version_number DESC);
  rollback  the decision: is the champion tagged bad, and the newest version before it that is
            not, one `get_model_version` per step (MLflow has no index of bad versions).
Every other version among the last 10 is tagged bad=true, as bench_registry.py marks them.
Prints one line `MLFLOWJSON {checkpoint: {op: ms}}`. Needs only mlflow (not mlrelease).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path

MODEL = "bench-model"
CHECKPOINTS = (10, 100, 1000)


def timed(fn: Callable[[], object], reps: int = 5) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=1000)
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    import mlflow
    from mlflow import MlflowClient

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    work = args.workdir.resolve()
    uri = f"sqlite:///{work / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient()

    def previous_good() -> tuple[bool, int | None]:
        current = client.get_model_version_by_alias(MODEL, "champion")
        bad = current.tags.get("bad") == "true"
        v = int(current.version) - 1
        while v >= 1:
            if client.get_model_version(MODEL, str(v)).tags.get("bad") != "true":
                return bad, v
            v -= 1
        return bad, None

    out: dict[int, dict[str, float]] = {}
    register_ms: list[float] = []
    for i in range(1, args.releases + 1):
        folder = work / "models" / f"v{i}"
        folder.mkdir(parents=True)
        for name in ("model", "lock", "golden", "metrics"):
            (folder / name).write_bytes(f"{name} {i}".encode() * 64)
        (folder / "MLmodel").write_text("flavors: {}\n")
        t0 = time.perf_counter()
        mv = mlflow.register_model(str(folder), MODEL)
        client.set_registered_model_alias(MODEL, "champion", mv.version)
        register_ms.append((time.perf_counter() - t0) * 1000)
        if i % 2 == 0 and i > args.releases - 10:
            client.set_model_version_tag(MODEL, mv.version, "bad", "true")
        if i in CHECKPOINTS or i == args.releases:
            out[i] = {
                "release": statistics.median(register_ms[-min(len(register_ms), 10) :]),
                "releases": timed(
                    lambda: client.search_model_versions(
                        f"name='{MODEL}'", max_results=20, order_by=["version_number DESC"]
                    ),
                    reps=3,
                ),
                "rollback": timed(previous_good),
            }
            assert previous_good() == (i % 2 == 0 and i > args.releases - 10, i - 1 if i > 1 else None)
    print("MLFLOWJSON " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
