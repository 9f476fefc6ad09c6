"""Serving benchmark: mlrelease serve against BentoML, `mlflow models serve` and FastAPI, on the
same model, in one interleaved run.

The model is the peers' shared one (/work/shared/peer-bench/make_model.py: a
HistGradientBoostingRegressor on 8 numeric features, saved with joblib; BentoML and MLflow store
it with servers/save_models.py). mlrelease serves the same fitted estimator, re-saved with skops,
behind a generated handoff (mlrelease.yaml + the sample rows as validation data). Every server
runs one worker on 127.0.0.1; wrk (1 thread) loads it at concurrency 1, 8 and 32 with one-row
bodies and with 100-row bodies, each for --duration seconds after a short warm-up. mlrelease
runs with everything on, then with one part switched off at a time: logging, outlier checks,
batching, the compiled predictor, predicting on the event loop (bench/serve_variant.py). The
server order rotates between repetitions.

Two bare ASGI apps on the same uvicorn stack (bench/bare_asgi.py) give the transport's limit:
``bare`` answers constant JSON, ``bare-parse`` parses the body first. The example's model
(examples/brno-houses) runs too (``mlrelease-example``, with its own bodies and bare rows).

Prints req/s, p50 and p99 for each cell, the ratios of mlrelease (all on) to each peer, the
ratio to the raw in-process one-row predict floor, the server's fraction of its own stack's
limit (req/s over the bare apps'), and each server's start-up time. The machine may be shared:
read the ratios of one interleaved run, not the absolute figures.

    python bench/bench_serving.py [--work /tmp/peer-bench-work] [--duration 3] [--reps 1]
        [--only mlrelease,fastapi,bentoml,mlflow,mlrelease-nolog,mlrelease-nooutliers,mlrelease-nobatch,
         mlrelease-nocompile,mlrelease-noinline,bare,bare-parse,mlrelease-example,bare-example,
         bare-parse-example]

Needs the peers' venvs (bash /work/shared/peer-bench/setup_venvs.sh /tmp/peer-bench-work), their
model (make_model.py, servers/save_models.py bento|mlflow) and wrk (apt install wrk).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEER = Path(os.environ.get("PEER_BENCH", "/work/shared/peer-bench"))
LUA = PEER / "post_json.lua"
LOADS = [
    ("1row_c1", "rows1", 1),
    ("1row_c8", "rows1", 8),
    ("1row_c32", "rows1", 32),
    ("100rows_c1", "rows100", 1),
    ("100rows_c8", "rows100", 8),
    ("100rows_c32", "rows100", 32),
]
PEERS = ("bentoml", "mlflow", "fastapi")
EXAMPLE = ROOT / "examples" / "brno-houses"
BARE = ("bare", "bare-parse")  # the stack's limit: constant answer; answer after parsing the body


def prepare_handoff(work: Path) -> Path:
    """mlrelease.yaml + skops model + validation CSV for the peers' joblib model."""
    import joblib
    import numpy as np
    import pandas as pd
    import skops.io as sio

    handoff = work / "mlrelease-handoff"
    (handoff / "model").mkdir(parents=True, exist_ok=True)
    manifest = json.loads((work / "model" / "manifest.json").read_text())
    features = manifest["features"]
    model = joblib.load(work / "model" / "hgb.joblib")
    sio.dump(model, handoff / "model" / "model.skops")
    sample = np.load(work / "model" / "sample.npz")
    frame = pd.DataFrame(sample["X"], columns=features)
    frame["price"] = sample["y"]
    frame.to_csv(handoff / "validation.csv", index=False)
    (handoff / "requirements.in").write_text("scikit-learn\n")
    trusted = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"
    (handoff / "mlrelease.yaml").write_text(
        "version: 1\n"
        "model:\n  name: house-hgb\n  task: regression\n  artifact: model/model.skops\n  target: price\n"
        f"  features: [{', '.join(features)}]\n  trusted_types: [{trusted}]\n"
        "validation: {data: validation.csv}\n"
        "serving: {outliers: {mode: flag}, logging: {sample_rate: 1.0}}\n"
    )
    return handoff


def specs(work: Path, handoff: Path) -> dict[str, dict]:
    vb = work / "venv-base" / "bin"
    py = sys.executable
    variant = str(ROOT / "bench" / "serve_variant.py")
    ours = {"path": "/predict", "key": None, "cwd": ROOT, "env": {}}
    bare = str(ROOT / "bench" / "bare_asgi.py")
    example = {**ours, "model": "example"}
    return {
        "bare": {**ours, "cmd": [py, bare, "{port}"], "bare": True},
        "bare-parse": {**ours, "cmd": [py, bare, "{port}", "--parse"], "bare": True},
        "mlrelease-example": {**example, "cmd": [py, variant, str(EXAMPLE), "{port}"]},
        "bare-example": {**example, "cmd": [py, bare, "{port}"], "bare": True},
        "bare-parse-example": {**example, "cmd": [py, bare, "{port}", "--parse"], "bare": True},
        "mlrelease": {**ours, "cmd": [py, variant, str(handoff), "{port}"]},
        "mlrelease-nolog": {**ours, "cmd": [py, variant, str(handoff), "{port}", "--no-logging"]},
        "mlrelease-nooutliers": {**ours, "cmd": [py, variant, str(handoff), "{port}", "--no-outliers"]},
        "mlrelease-nobatch": {**ours, "cmd": [py, variant, str(handoff), "{port}", "--no-batching"]},
        "mlrelease-nocompile": {**ours, "cmd": [py, variant, str(handoff), "{port}", "--no-compile"]},
        "mlrelease-noinline": {**ours, "cmd": [py, variant, str(handoff), "{port}", "--no-inline"]},
        "bentoml": {
            "cmd": [
                str(work / "venv-bento" / "bin" / "bentoml"),
                "serve",
                "bento_service:HousePrice",
                "--port",
                "{port}",
                "--host",
                "127.0.0.1",
            ],
            "path": "/predict",
            "key": "rows",
            "cwd": PEER / "servers",
            "env": {"BENTOML_HOME": str(work / "bentohome")},
        },
        "mlflow": {
            "cmd": [
                str(work / "venv-mlflow" / "bin" / "mlflow"),
                "models",
                "serve",
                "-m",
                str(work / "model" / "mlflow_hgb"),
                "--env-manager",
                "local",
                "-w",
                "1",
                "-p",
                "{port}",
                "-h",
                "127.0.0.1",
            ],
            "path": "/invocations",
            "key": "inputs",
            "cwd": PEER / "servers",
            "env": {},
        },
        "fastapi": {
            "cmd": [str(vb / "uvicorn"), "fastapi_app:app", "--port", "{port}", "--host", "127.0.0.1"],
            "path": "/predict",
            "key": "rows",
            "cwd": PEER / "servers",
            "env": {"MODEL_PATH": str(work / "model" / "hgb.joblib")},
        },
    }


def bodies(spec: dict, payloads: dict, features: list[str], outdir: Path, name: str) -> dict[str, Path]:
    out = {}
    for key in ("rows1", "rows100"):
        rows = payloads[key]
        body = (
            [dict(zip(features, r, strict=True)) for r in rows]
            if spec["key"] is None
            else {spec["key"]: rows}
        )
        path = outdir / f"body_{name}_{key}.json"
        path.write_text(json.dumps(body))
        out[key] = path
    return out


def post(url: str, path: Path, timeout: float = 5) -> tuple[int, object]:
    req = urllib.request.Request(url, data=path.read_bytes(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, json.loads(r.read())


def wrk(url: str, body: Path, conc: int, duration: int) -> dict:
    env = {**os.environ, "WRK_BODY": str(body)}
    cmd = ["wrk", "-t1", f"-c{conc}", f"-d{duration}s", "--timeout", "10s", "-s", str(LUA), url]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=duration + 60).stdout
    for line in out.splitlines():
        if line.startswith("WRKJSON "):
            r = json.loads(line[8:])
            r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
            r["errors"] = sum(v for k, v in r.items() if k.startswith("err_"))
            return r
    raise RuntimeError("wrk gave no result:\n" + out)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_one(
    name: str, spec: dict, files: dict[str, Path], expected: dict, args: argparse.Namespace, logdir: Path
) -> dict:
    port = free_port()
    cmd = [c.replace("{port}", str(port)) for c in spec["cmd"]]
    env = {**os.environ, **spec["env"], "DO_NOT_TRACK": "true", "BENTOML_DO_NOT_TRACK": "true",
           "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONUNBUFFERED": "1"}  # fmt: skip
    env["PATH"] = str(Path(cmd[0]).parent) + os.pathsep + env.get("PATH", "")
    url = f"http://127.0.0.1:{port}{spec['path']}"
    log = logdir / f"{name}.log"
    t0 = time.perf_counter()
    with open(log, "ab") as lf:
        proc = subprocess.Popen(
            cmd, cwd=spec["cwd"], env=env, stdout=lf, stderr=subprocess.STDOUT, start_new_session=True
        )
    res: dict = {"server": name, "loads": {}}
    try:
        deadline = time.time() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited {proc.returncode}; see {log}")
            try:
                if post(url, files["rows1"])[0] == 200:
                    break
            except (urllib.error.URLError, OSError, ValueError):
                pass
            if time.time() > deadline:
                raise RuntimeError(f"{name} not ready in 120 s; see {log}")
            time.sleep(0.03)
        res["startup_s"] = time.perf_counter() - t0
        _, answer = post(url, files["rows100"])
        got = answer["predictions"] if isinstance(answer, dict) else answer
        res["max_abs_diff"] = (
            None
            if spec.get("bare")
            else max(abs(a - b) for a, b in zip(got, expected["expected100"], strict=True))
        )
        wrk(url, files["rows1"], 8, args.warmup)
        for lname, key, conc in LOADS:
            r = wrk(url, files[key], conc, args.duration)
            res["loads"][lname] = r
            print(f"  {name:22s} {lname:10s} {r['rps']:8.1f} req/s  p50 {r['p50_us'] / 1e3:6.2f} ms  "
                  f"p99 {r['p99_us'] / 1e3:6.2f} ms  errors {r['errors']}", flush=True)  # fmt: skip
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return res


def floor_1row(handoff: Path) -> tuple[float, float]:
    """In-process predict time of the served estimator (1 row, 100 rows), one OpenMP thread."""
    import joblib
    import numpy as np

    del handoff
    model = joblib.load(Path(ARGS.work) / "model" / "hgb.joblib")
    X = np.load(Path(ARGS.work) / "model" / "sample.npz")["X"]
    out = []
    for rows in (X[:1], X[:100]):
        for _ in range(50):
            model.predict(rows)
        ts = []
        for _ in range(300):
            t = time.perf_counter()
            model.predict(rows)
            ts.append(time.perf_counter() - t)
        out.append(statistics.median(ts))
    return out[0], out[1]


def example_payloads() -> tuple[dict, list[str]]:
    """The example's bodies (its first validation rows) and its in-process predictions."""
    import pandas as pd

    from mlrelease import config as cfgmod
    from mlrelease.serve.schema import Validator
    from mlrelease.serve.service import load_service

    cfg = cfgmod.load(str(EXAMPLE))
    service = load_service(cfg)
    features = list(service.signature.names)
    assert cfg.validation is not None
    frame = pd.read_csv(cfg.validation.data).head(100)
    rows = [[_plain(v) for v in row] for row in frame[features].itertuples(index=False)]
    columns = Validator(service.signature, len(rows)).rows(rows, None, "instances")
    expected = service.predict_answer(columns).values.tolist()
    return {"rows1": rows[:1], "rows100": rows, "expected100": expected}, features


def _plain(value: object) -> object:
    """A CSV cell as JSON sends it: NaN as null, numpy scalars as Python's."""
    if isinstance(value, float) and value != value:
        return None
    return value.item() if hasattr(value, "item") else value


def main() -> int:
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/tmp/peer-bench-work")
    ap.add_argument("--duration", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--only", default="")
    ap.add_argument(
        "--baseline",
        default="",
        help="the src/ folder of another checkout: adds mlrelease-baseline and mlrelease-example-baseline, "
        "the same server from that code, run interleaved with the others (a before/after in one run)",
    )
    ARGS = args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    work = Path(args.work)
    handoff = prepare_handoff(work)
    all_specs = specs(work, handoff)
    if args.baseline:
        base_env = {"PYTHONPATH": str(Path(args.baseline).resolve())}
        for name in ("mlrelease", "mlrelease-example"):
            all_specs[f"{name}-baseline"] = {**all_specs[name], "env": base_env}
    names = [n for n in all_specs if not args.only or n in args.only.split(",")]
    payloads = json.loads((work / "model" / "payloads.json").read_text())
    features = json.loads((work / "model" / "manifest.json").read_text())["features"]
    outdir = work / "results" / "mlrelease"
    outdir.mkdir(parents=True, exist_ok=True)
    models = {"benchmark": (payloads, features)}
    if any(all_specs[n].get("model") == "example" for n in names):
        models["example"] = example_payloads()
    expected = {n: models[all_specs[n].get("model", "benchmark")][0] for n in names}
    files = {
        n: bodies(all_specs[n], *models[all_specs[n].get("model", "benchmark")], outdir, n) for n in names
    }
    floor1, floor100 = floor_1row(handoff)
    print(f"raw predict floor (in process, OMP_NUM_THREADS=1): 1 row {floor1 * 1e3:.3f} ms "
          f"({1 / floor1:.0f} req/s), 100 rows {floor100 * 1e3:.3f} ms", flush=True)  # fmt: skip
    runs: list[dict] = []
    for rep in range(args.reps):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for name in order:
            print(f"rep {rep} -> {name}", flush=True)
            try:
                runs.append(run_one(name, all_specs[name], files[name], expected[name], args, outdir))
            except Exception as exc:  # record and go on with the others
                print(f"  FAILED {name}: {exc}", flush=True)
    summary = summarize(runs, names)
    report(summary, floor1, floor100)
    (outdir / "serving.json").write_text(
        json.dumps({"runs": runs, "summary": summary, "floor_1row_s": floor1}, indent=1)
    )
    return 0


def summarize(runs: list[dict], names: list[str]) -> dict:
    out: dict = {}
    for name in names:
        rs = [r for r in runs if r["server"] == name and r["loads"]]
        if not rs:
            continue
        out[name] = {
            "startup_s": statistics.median(r["startup_s"] for r in rs),
            "max_abs_diff": None if rs[0]["max_abs_diff"] is None else max(r["max_abs_diff"] for r in rs),
            "loads": {
                lname: {
                    "rps": statistics.median(r["loads"][lname]["rps"] for r in rs),
                    "p50_ms": statistics.median(r["loads"][lname]["p50_us"] / 1e3 for r in rs),
                    "p99_ms": statistics.median(r["loads"][lname]["p99_us"] / 1e3 for r in rs),
                    "errors": sum(r["loads"][lname]["errors"] for r in rs),
                }
                for lname, _, _ in LOADS
                if all(lname in r["loads"] for r in rs)
            },
        }
    return out


def report(summary: dict, floor1: float, floor100: float) -> None:
    print("\n| server | load | req/s | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|")
    for name, s in summary.items():
        for lname, v in s["loads"].items():
            cells = f"{v['rps']:.0f} | {v['p50_ms']:.2f} | {v['p99_ms']:.2f} | {v['errors']}"
            print(f"| {name} | {lname} | {cells} |")
    peers = [p for p in PEERS if p in summary]
    for server in ("mlrelease", "mlrelease-baseline"):
        if server not in summary:
            continue
        print(f"\n| load | {server} req/s | " + " | ".join(f"x {p}" for p in peers) + " | vs 1-row floor |")
        print("|---|---|" + "---|" * len(peers) + "---|")
        for lname, v in summary[server]["loads"].items():
            ratios = [
                v["rps"] / summary[p]["loads"][lname]["rps"] for p in peers if lname in summary[p]["loads"]
            ]
            floor = v["rps"] * (floor1 if lname.startswith("1row") else floor100)
            print(
                f"| {lname} | {v['rps']:.0f} | "
                + " | ".join(f"{r:.2f}" for r in ratios)
                + f" | {floor:.2f} |"
            )
    ours = summary.get("mlrelease")
    if ours:
        variants = [n for n in summary if n.startswith("mlrelease-") and "example" not in n]
        if variants:
            print("\n| load | " + " | ".join(f"{n} / all on" for n in variants) + " |")
            print("|---|" + "---|" * len(variants))
            for lname, v in ours["loads"].items():
                cells = [
                    summary[n]["loads"][lname]["rps"] / v["rps"]
                    for n in variants
                    if lname in summary[n]["loads"]
                ]
                print(f"| {lname} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
    stack_limit(summary)
    print("\n| server | start-up to first answer, s | max abs diff vs in-process |")
    print("|---|---|---|")
    for name, s in summary.items():
        diff = "-" if s["max_abs_diff"] is None else f"{s['max_abs_diff']:.2g}"
        print(f"| {name} | {s['startup_s']:.2f} | {diff} |")


def stack_limit(summary: dict) -> None:
    """The server's req/s as a fraction of the bare apps' on the same stack and bodies."""
    pairs = [
        ("mlrelease", ""),
        ("mlrelease-baseline", ""),
        ("mlrelease-example", "-example"),
        ("mlrelease-example-baseline", "-example"),
    ]
    lines = []
    for server, suffix in pairs:
        ours = summary.get(server)
        if not ours:
            continue
        for lname, v in ours["loads"].items():
            cells = []
            for bare in BARE:
                limit = summary.get(bare + suffix, {}).get("loads", {}).get(lname)
                cells.append(f"{v['rps'] / limit['rps']:.2f}" if limit else "-")
            lines.append(f"| {server} | {lname} | {v['rps']:.0f} | " + " | ".join(cells) + " |")
    if lines:
        print("\n| server | load | req/s | x bare (constant answer) | x bare-parse (answer after parsing) |")
        print("|---|---|---|---|---|")
        print("\n".join(lines))


ARGS: argparse.Namespace

if __name__ == "__main__":
    sys.exit(main())
