"""One replica's sustainable throughput, for the HPA's arithmetic.

Runs ``mlrelease serve`` on the Brno example pinned to one core with ``taskset`` (what a pod's
``cpu: 1`` request and limit give it), loads it with wrk at concurrency 1, 2, 4 and 8 with
one-row ``/predict`` bodies, and reads the server's CPU time from /proc around each run. Prints,
per step, req/s, the server's CPU utilisation of its one core, p50 and p99; then the req/s and
p99 at the HPA's CPU target (linear between the two steps around it, or the saturated rate scaled
by the target when no step reaches it). That figure is ``deploy.gke.replica_rps``'s default.

    python bench/bench_replica.py [--core 1] [--duration 5] [--target-cpu 60] [--json]

Needs wrk (apt install wrk) and taskset (util-linux). About 30 s.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "brno-houses"
LUA = Path(__file__).with_name("post_json.lua")
ROW = {
    "listing_id": "BRN-08000",
    "area_m2": 60.6,
    "rooms": 2,
    "floor": 3,
    "year_built": 1927,
    "distance_to_centre_km": 4.75,
    "district": "Židenice",
    "energy_class": "G",
    "has_balcony": 0,
    "has_elevator": 1,
}
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_ready(url: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the server did not become ready")


def run_wrk(url: str, body: Path, connections: int, duration: int) -> dict:
    env = {**os.environ, "WRK_BODY": str(body)}
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-s", str(LUA), url + "/predict"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    return json.loads(line.removeprefix("WRKJSON "))


def at_target(steps: list[dict], target: float) -> tuple[float, float | None]:
    """req/s and p99 where the server's CPU crosses ``target`` percent."""
    for lo, hi in itertools.pairwise(steps):
        if lo["cpu_pct"] <= target <= hi["cpu_pct"] and hi["cpu_pct"] > lo["cpu_pct"]:
            f = (target - lo["cpu_pct"]) / (hi["cpu_pct"] - lo["cpu_pct"])
            return lo["rps"] + f * (hi["rps"] - lo["rps"]), lo["p99_ms"] + f * (hi["p99_ms"] - lo["p99_ms"])
    top = max(steps, key=lambda s: s["rps"])
    return top["rps"] * target / max(top["cpu_pct"], 1e-9), None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--core", type=int, default=1)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--target-cpu", type=float, default=60)
    ap.add_argument("--port", type=int, default=18931)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    url = f"http://127.0.0.1:{args.port}"
    with tempfile.TemporaryDirectory() as tmp:
        body = Path(tmp) / "body.json"
        body.write_text(json.dumps([ROW]))
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        cmd = ["taskset", "-c", str(args.core), sys.executable, "-m", "mlrelease", "serve"]
        cmd += ["-c", str(EXAMPLE), "--host", "127.0.0.1", "--port", str(args.port)]
        server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        try:
            wait_ready(url)
            run_wrk(url, body, 4, 1)  # warm-up
            idle_rss = rss_mib(server.pid)
            steps = []
            for c in (1, 2, 4, 8):
                t0, w0 = cpu_seconds(server.pid), time.monotonic()
                r = run_wrk(url, body, c, args.duration)
                busy = (cpu_seconds(server.pid) - t0) / (time.monotonic() - w0)
                steps.append(
                    {
                        "connections": c,
                        "rps": r["requests"] / (r["duration_us"] / 1e6),
                        "cpu_pct": 100 * busy,
                        "p50_ms": r["p50_us"] / 1000,
                        "p99_ms": r["p99_us"] / 1000,
                        "errors": r["err_status"] + r["err_timeout"] + r["err_connect"],
                    }
                )
            peak_rss = rss_mib(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
    rps, p99 = at_target(steps, args.target_cpu)
    result = {
        "core": args.core,
        "target_cpu_pct": args.target_cpu,
        "replica_rps_at_target": round(rps, 1),
        "p99_ms_at_target": None if p99 is None else round(p99, 2),
        "rss_mib": {"idle": round(idle_rss, 1), "after_load": round(peak_rss, 1)},
        "steps": steps,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{'conns':>5} {'req/s':>9} {'cpu%':>6} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for s in steps:
        print(
            f"{s['connections']:>5} {s['rps']:>9.1f} {s['cpu_pct']:>6.1f} {s['p50_ms']:>8.2f}"
            f" {s['p99_ms']:>8.2f} {s['errors']:>6}"
        )
    p99_text = "n/a (no step reached the target)" if p99 is None else f"{p99:.2f} ms"
    print(f"at {args.target_cpu:g}% of one core: {rps:.0f} req/s, p99 {p99_text}")
    print(f"server RSS: {idle_rss:.0f} MiB idle, {peak_rss:.0f} MiB after the load")


if __name__ == "__main__":
    main()
