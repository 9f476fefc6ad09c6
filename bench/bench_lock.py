"""Lock time: `mlrelease lock` against pip-compile and bare `uv pip compile`, cold and warm cache.

Two inputs, both with hashes for linux x86_64 and Python 3.11:
  example  examples/brno-houses/requirements.in together with the model server's requirements
           (what `mlrelease lock` compiles for the image);
  larger   scikit-learn, pandas, fastapi, uvicorn, kubernetes, google-cloud-logging, docker, click,
           pyyaml, nbformat (the peers' list in /work/shared/peer-bench/bench_lock.py), --no-server.
cold = a brand-new cache folder per tool and repetition; warm = the same command again right after.
pip's machine-wide config is masked for every tool (PIP_CONFIG_FILE=/dev/null, PIP_*/UV_* unset),
so all resolve from PyPI alone. Prints seconds, ratios to pip-compile, and whether the pinned sets
agree. Bounded: one repetition by default (pip-compile cold takes most of a minute per input).

--check-only times just `mlrelease lock --check` on the example's committed lock (what every pull
request runs; no network): wall and CPU time of a fresh `python -m mlrelease` each run, median of
--check-reps, with bytecode compiled first as an installed package has it. --baseline OTHER/src
times another checkout's mlrelease interleaved with this one: a before/after in one run.

    .venv/bin/python bench/bench_lock.py [--reps 1] [--workdir /tmp/peer-bench-work/lock-mlrelease]
    .venv/bin/python bench/bench_lock.py --check-only [--check-reps 10] [--baseline OTHER/src]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from mlrelease.deps import lock as lockmod  # noqa: E402
from mlrelease.deps import process  # noqa: E402
from mlrelease.deps.requirements import read_lock  # noqa: E402

LARGER = [
    "scikit-learn",
    "pandas",
    "fastapi",
    "uvicorn",
    "kubernetes",
    "google-cloud-logging",
    "docker",
    "click",
    "pyyaml",
    "nbformat",
]
TOOLS = ("pip-compile", "uv", "mlrelease")


def prepare(work: Path) -> dict[str, Path]:
    """One handoff folder per input: requirements.in, mlrelease.yaml and (example) the server's list."""
    folders = {}
    example = work / "example"
    example.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "examples" / "brno-houses" / "requirements.in", example / "requirements.in")
    (example / lockmod.SERVER_LABEL).write_text(lockmod.server_requirements())
    folders["example"] = example
    larger = work / "larger"
    larger.mkdir(parents=True, exist_ok=True)
    (larger / "requirements.in").write_text("\n".join(LARGER) + "\n")
    folders["larger"] = larger
    for folder in folders.values():
        (folder / "mlrelease.yaml").write_text(
            'version: 1\nmodel: {name: bench, task: regression, entrypoint: "m.py:load"}\n'
            'image: {python: "3.11"}\n'
        )
        (folder / "m.py").write_text("")
    return folders


def command(tool: str, name: str, folder: Path, cache: Path, out: Path) -> tuple[list[str], dict[str, str]]:
    env = process.isolated_env()
    sources = ["requirements.in"] + ([lockmod.SERVER_LABEL] if name == "example" else [])
    if tool == "pip-compile":
        argv = [*process.pip_compile_argv(), "--quiet", "--generate-hashes", "--allow-unsafe"]
        argv += ["--strip-extras"]
        argv += ["--cache-dir", str(cache / "pip-tools"), "--pip-args", f"--cache-dir {cache / 'pip'}"]
        return [*argv, "-o", str(out), *sources], env
    if tool == "uv":
        argv = [*process.uv_argv(), "pip", "compile", "--no-config", "--quiet", "--generate-hashes"]
        argv += ["--python-version", "3.11", "--python-platform", lockmod.DEFAULT_PLATFORM]
        return [*argv, "--cache-dir", str(cache / "uv"), "-o", str(out), *sources], env
    env["UV_CACHE_DIR"] = str(cache / "uv")
    argv = [sys.executable, "-m", "mlrelease", "lock", "-c", str(folder), "-o", str(out)]
    return argv + ([] if name == "example" else ["--no-server"]), env


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed


def check_only(reps: int, baseline: Path | None) -> int:
    """`lock --check` on the example's committed lock, this checkout (and --baseline) interleaved."""
    example = ROOT / "examples" / "brno-houses"
    sources = {"mlrelease": ROOT / "src"} | ({"baseline": baseline.resolve()} if baseline else {})
    compile_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for src in sources.values():
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(src)], env=compile_env, check=True)
    argv = [sys.executable, "-m", "mlrelease", "lock", "-c", str(example), "--check"]
    walls: dict[str, list[float]] = {name: [] for name in sources}
    cpus: dict[str, list[float]] = {name: [] for name in sources}
    for rep in range(reps):
        order = list(sources) if rep % 2 == 0 else list(reversed(sources))
        for name in order:
            env = {**process.isolated_env(), "PYTHONPATH": str(sources[name])}
            env = {k: v for k, v in env.items() if not k.startswith("GITHUB_")}
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            walls[name].append(timed(argv, env, ROOT))
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus[name].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    print(
        f"lock --check on examples/brno-houses, {reps} runs each, median (min); load {os.getloadavg()[0]:.1f}"
    )
    print("| mlrelease | wall ms | CPU ms |")
    print("|---|---|---|")
    for name in sources:
        wall, cpu = walls[name], cpus[name]
        print(
            f"| {name} ({sources[name]}) | {statistics.median(wall) * 1e3:.0f} ({min(wall) * 1e3:.0f}) "
            f"| {statistics.median(cpu) * 1e3:.0f} ({min(cpu) * 1e3:.0f}) |"
        )
    if baseline:
        ratio = statistics.median(walls["mlrelease"]) / statistics.median(walls["baseline"])
        cpu_ratio = statistics.median(cpus["mlrelease"]) / statistics.median(cpus["baseline"])
        print(f"this checkout / baseline: wall x{ratio:.2f}, CPU x{cpu_ratio:.2f}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/peer-bench-work/lock-mlrelease"))
    ap.add_argument("--check-only", action="store_true", help="time only `lock --check` on the example")
    ap.add_argument("--check-reps", type=int, default=10)
    ap.add_argument("--baseline", type=Path, default=None, help="another checkout's src/ (--check-only)")
    args = ap.parse_args()
    if args.check_only:
        return check_only(args.check_reps, args.baseline)
    work: Path = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    folders = prepare(work)
    versions = [process.tool_version(process.uv_argv()), process.tool_version(process.pip_compile_argv())]
    print(" | ".join(versions), flush=True)
    times: dict[tuple[str, str, str], list[float]] = {}
    pins: dict[tuple[str, str], dict[str, str | None]] = {}
    for name, folder in folders.items():
        for rep in range(args.reps):
            order = TOOLS if rep % 2 == 0 else tuple(reversed(TOOLS))
            for tool in order:
                cache = work / f"cache-{name}-{tool}-{rep}"
                shutil.rmtree(cache, ignore_errors=True)
                cache.mkdir()
                for state in ("cold", "warm"):
                    out = work / f"{name}-{tool}-{rep}-{state}.txt"
                    argv, env = command(tool, name, folder, cache, out)
                    dt = timed(argv, env, folder)
                    times.setdefault((name, tool, state), []).append(dt)
                    pins[(name, tool)] = {n: p.version for n, p in read_lock(out).by_name().items()}
                    n = len(pins[(name, tool)])
                    print(f"{name:8s} rep{rep} {tool:12s} {state}: {dt:7.2f} s  pins={n}", flush=True)
                shutil.rmtree(cache, ignore_errors=True)
        # the freshness check: no resolving at all
        lock_out = work / f"{name}-mlrelease-0-warm.txt"
        check = [sys.executable, "-m", "mlrelease", "lock", "-c", str(folder), "-o", str(lock_out), "--check"]
        check_times = [timed(check, process.isolated_env(), folder) for _ in range(10)]
        times[(name, "mlrelease --check", "warm")] = check_times

    print("\n| input | tool | cold s | warm s | cold vs pip-compile | warm vs pip-compile |")
    print("|---|---|---|---|---|---|")
    for name in folders:
        base_cold = statistics.median(times[(name, "pip-compile", "cold")])
        base_warm = statistics.median(times[(name, "pip-compile", "warm")])
        for tool in (*TOOLS, "mlrelease --check"):
            warm = statistics.median(times[(name, tool, "warm")])
            cold_list = times.get((name, tool, "cold"))
            cold = statistics.median(cold_list) if cold_list else None
            cold_txt = f"{cold:.2f}" if cold is not None else "-"
            ratio_cold = f"x{base_cold / cold:.1f} faster" if cold else "-"
            ratio_warm = f"x{base_warm / warm:.1f} faster"
            print(f"| {name} | {tool} | {cold_txt} | {warm:.3f} | {ratio_cold} | {ratio_warm} |")
    for name in folders:
        same = pins[(name, "pip-compile")] == pins[(name, "uv")] == pins[(name, "mlrelease")]
        n = len(pins[(name, "uv")])
        print(f"{name}: {n} pins; pip-compile, uv and mlrelease pin the same set: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
