"""The release registry at 1,000 releases: time of `release`, `releases` and the rollback decision.

For each backend (the directory; an OCI registry too with --oci HOST[:PORT], plain HTTP), publishes
releases one after another and, at 10, 100 and 1,000 releases in the registry, times:
  release   one more publish (allocating the version, storing artifacts, record, event);
  releases  the table of the newest 20 (what `mlrelease releases` reads);
  rollback  the decision: is the current one bad, and the newest good release before it, with
            every other release marked bad near the top so it has to step over some.
A rollback decision reads an index (the directory's index.json; the OCI backend's bad-v<N> tags,
one HEAD per step), not the history: its time should not grow with the count,
which the printed ratio (1,000 vs 10) shows.

MLflow's registry (register_model + set_registered_model_alias, sqlite) gets the same releases in
a subprocess run by the python of <peers>/venv-mlflow (bench/mlflow_registry.py), where <peers> is
--peers, else $MLRELEASE_PEER_BENCH, else /tmp/peer-bench-work (shared/peer-bench/setup_venvs.sh
makes it); the table at the end gives MLflow's time over the directory backend's. Skipped, with
the reason, when that venv is missing.

    .venv/bin/python bench/bench_registry.py [--releases 1000] [--oci 127.0.0.1:5000 --oci-releases 200]
        [--peers /tmp/peer-bench-work]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))

from mlrelease.registry import Backend, Event, open_backend  # noqa: E402
from mlrelease.registry.base import MEDIA_TYPES  # noqa: E402
from mlrelease.registry.record import Artifact, GateVerdict, Image, Release, now  # noqa: E402
from mlrelease.registry.releases import rows  # noqa: E402

MODEL = "bench-model"
CHECKPOINTS = (10, 100, 1000)


def draft(folder: Path, i: int) -> tuple[Release, dict[str, Path]]:
    files, artifacts = {}, {}
    for name in ("model", "lock", "golden", "metrics"):
        data = f"{name} {i}".encode() * 64
        path = folder / f"{name}-{i}"
        path.write_bytes(data)
        files[name] = path
        artifacts[name] = Artifact(hashlib.sha256(data).hexdigest(), len(data), MEDIA_TYPES[name])
    digest = "sha256:" + hashlib.sha256(str(i).encode()).hexdigest()
    release = Release(
        model=MODEL, version=1, created=now(), model_sha256=artifacts["model"].sha256,
        lock_sha256=artifacts["lock"].sha256, golden_sha256=artifacts["golden"].sha256,
        image=Image(f"registry.example/{MODEL}@{digest}", digest, digest, 8080),
        metrics={"root_mean_squared_error": 1000.0 - i * 0.1}, headline_metric="root_mean_squared_error",
        gate=GateVerdict("pass", "all rules pass", None), config={"model": {"name": MODEL}},
        artifacts=artifacts,
    )  # fmt: skip
    return release, files


def timed(fn: Callable[[], object], reps: int = 5) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def bench(name: str, backend: Backend, total: int, folder: Path) -> dict[int, dict[str, float]]:
    out: dict[int, dict[str, float]] = {}
    publish_ms: list[float] = []
    for i in range(1, total + 1):
        t0 = time.perf_counter()
        backend.publish(*draft(folder, i))
        publish_ms.append((time.perf_counter() - t0) * 1000)
        if i % 2 == 0 and i > total - 10:
            backend.append(Event("marked_bad", MODEL, i, reason="bench"))
        if i in CHECKPOINTS or i == total:
            current = backend.index(MODEL).latest
            out[i] = {
                "release": statistics.median(publish_ms[-min(len(publish_ms), 10) :]),
                "releases": timed(lambda: rows(backend, MODEL, 20), reps=3),
                "rollback": timed(
                    lambda c=current: (backend.is_bad(MODEL, c), backend.previous_good(MODEL, c))
                ),
            }
            print(f"{name:>9} {i:>5} releases: " + "  ".join(f"{k} {v:8.2f} ms" for k, v in out[i].items()))
    return out


def report(name: str, results: dict[int, dict[str, float]]) -> None:
    sizes = sorted(results)
    small, big = sizes[0], sizes[-1]
    for op in ("release", "releases", "rollback"):
        ratio = results[big][op] / results[small][op]
        print(f"{name:>9} {op:<9} {small:>5} -> {big:>5} releases: x{ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--releases", type=int, default=1000)
    parser.add_argument("--oci", default=None, help="HOST[:PORT] of a plain-HTTP OCI registry to bench too")
    parser.add_argument("--oci-releases", type=int, default=200)
    parser.add_argument(
        "--peers",
        type=Path,
        default=Path(os.environ.get("MLRELEASE_PEER_BENCH", "/tmp/peer-bench-work")),
        help="folder of the peer venvs (venv-mlflow); default $MLRELEASE_PEER_BENCH or /tmp/peer-bench-work",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-registry-") as tmp:
        work = Path(tmp)
        files = work / "files"
        files.mkdir()
        directory = bench("directory", open_backend(work / "registry"), args.releases, files)
        report("directory", directory)
        if args.oci:
            oci = open_backend(f"oci+http://{args.oci}/bench{int(time.time())}")
            report("oci", bench("oci", oci, args.oci_releases, files))
        mlflow_python = args.peers / "venv-mlflow" / "bin" / "python"
        if not mlflow_python.exists():
            print(f"no {mlflow_python}: the MLflow registry comparison is skipped")
            return
        (work / "mlflow").mkdir()
        proc = subprocess.run(
            [str(mlflow_python), str(HERE / "mlflow_registry.py"), "--releases", str(args.releases),
             "--workdir", str(work / "mlflow")],
            capture_output=True, text=True, check=False, timeout=3600,
        )  # fmt: skip
        line = next((x for x in proc.stdout.splitlines() if x.startswith("MLFLOWJSON ")), None)
        if line is None:
            sys.exit(f"mlflow_registry.py exit {proc.returncode}: {proc.stderr[-1500:]}")
        mlflow = {int(k): v for k, v in json.loads(line[len("MLFLOWJSON ") :]).items()}
        for i, ops in mlflow.items():
            print(f"{'mlflow':>9} {i:>5} releases: " + "  ".join(f"{k} {v:8.2f} ms" for k, v in ops.items()))
        report("mlflow", mlflow)
        big = max(directory)
        print(f"\n| at {big} releases | mlrelease directory ms | MLflow (sqlite) ms | MLflow / mlrelease |")
        print("| --- | ---: | ---: | ---: |")
        for op in ("release", "releases", "rollback"):
            a, b = directory[big][op], mlflow[big][op]
            print(f"| {op} | {a:.2f} | {b:.2f} | x{b / a:.2f} |")


if __name__ == "__main__":
    main()
