"""What the PR check costs per push: pr-check.yml on examples/brno-houses through act, job by job.

    python bench/bench_pr_check.py [--runs 2] [--image BASE_IMAGE]

The first run starts from an empty tool cache (actions/setup installs the locked dependencies);
every later run reuses it, as a self-hosted runner or a cached hosted one does. For each run it
prints each job's wall time (first to last line act printed for it), the time its setup step took,
and the setup's share. Every job runs on this host (`act -P ubuntu-latest=-self-hosted`), our own
actions resolved from this checkout, the third-party actions replaced by local stand-ins that are
never run (the reports pass through a folder, the handoff is copied). With ``--image``, the image
job builds on BASE_IMAGE and tests the golden predictions; Docker's layer cache is the engine's and
is not emptied, so only the first build of a lock on a machine pays for its layers.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPOSITORY = "mlrelease/mlrelease"
LINE = re.compile(r"^\[(?P<job>[^\]]+?)\s*\] (?P<text>.*)$")
SETUP_DONE = re.compile(r"Success - Main mlrelease/mlrelease/actions/setup@main \[(?P<took>[^\]]+)\]")
PINNED = re.compile(r"uses: (actions/[a-z-]+)@([0-9a-f]{40})")


def seconds(text: str) -> float:
    """act's Go durations: ``7.57s``, ``47.2ms``, ``1m2.3s``."""
    total = 0.0
    for value, unit in re.findall(r"([\d.]+)(ms|µs|s|m|h)", text):
        total += float(value) * {"ms": 1e-3, "µs": 1e-6, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def snapshot(target: Path) -> Path:
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, files.split("\0")):
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    return target


def stand_ins(target: Path) -> list[str]:
    args: list[str] = []
    text = (ROOT / ".github" / "workflows" / "pr-check.yml").read_text()
    for name, sha in sorted(set(PINNED.findall(text))):
        stub = target / name.replace("/", "-")
        stub.mkdir(parents=True, exist_ok=True)
        (stub / "action.yml").write_text(
            f"name: stand-in for {name}\ndescription: not run\nruns:\n  using: composite\n"
            "  steps:\n    - run: exit 1\n      shell: bash\n"
        )
        args += ["--local-repository", f"{name}@{sha}={stub}"]
    return args


def handoff(target: Path) -> Path:
    shutil.copytree(ROOT / "examples" / "brno-houses", target, ignore=shutil.ignore_patterns(".github"))
    path = target / "notebooks" / "house_prices.ipynb"
    notebook = json.loads(path.read_text())
    count = 0
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code" and cell.get("execution_count") is not None:
            count += 1
            cell["execution_count"] = count
    path.write_text(json.dumps(notebook, indent=1))
    return target


def run_once(act: str, work: Path, source: Path, cache: Path, extra: list[str], n: int) -> dict[str, object]:
    repo = work / f"caller-{n}"
    (repo / ".github" / "workflows").mkdir(parents=True)
    shutil.copy2(ROOT / "bench" / "pr-check-example.yml", repo / ".github" / "workflows" / "bench.yml")
    git = ["git", "-C", str(repo), "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "bench"]):
        subprocess.run([*git, *command], check=True, capture_output=True)
    argv = [
        act, "workflow_dispatch", "--workflows", ".github/workflows/bench.yml",
        "--platform", "ubuntu-latest=-self-hosted", "--action-offline-mode", "--use-new-action-cache",
        "--local-repository", f"{REPOSITORY}@main={source}", "--action-cache-path", str(cache),
        "--no-cache-server", "--input", f"handoff={handoff(work / f'handoff-{n}')}",
        "--input", f"exchange={work / f'exchange-{n}'}", *extra,
    ]  # fmt: skip
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    setup: dict[str, float] = defaultdict(float)
    started = time.monotonic()
    process = subprocess.Popen(argv, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        now = time.monotonic() - started
        match = LINE.match(line.rstrip("\n"))
        if not match or "/" not in match["job"]:
            continue
        job = match["job"].rsplit("/", 1)[-1]
        first.setdefault(job, now)
        last[job] = now
        if done := SETUP_DONE.search(match["text"]):
            setup[job] += seconds(done["took"])
    code = process.wait()
    total = time.monotonic() - started
    jobs = {job: {"wall_s": last[job] - first[job], "setup_s": setup[job]} for job in first}
    return {"returncode": code, "total_s": total, "jobs": jobs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="runs; the first one starts with an empty cache")
    parser.add_argument("--image", metavar="BASE_IMAGE", default=None, help="run the image job on this base")
    args = parser.parse_args()
    act = shutil.which("act") or str(Path(sys.executable).with_name("act"))
    with tempfile.TemporaryDirectory(prefix="bench-pr-check-") as tmp:
        work = Path(tmp)
        source = snapshot(work / "source")
        extra = stand_ins(work / "stand-ins")
        if args.image:
            extra += ["--input", "image=true", "--input", f"base-image={args.image}"]
        cache = work / "act-cache"  # empty: the first run installs the locked dependencies
        results = [run_once(act, work, source, cache, extra, n) for n in range(args.runs)]
    for n, result in enumerate(results):
        label = "empty cache" if n == 0 else "warm cache"
        print(f"run {n + 1} ({label}): {result['total_s']:.1f} s, act exit {result['returncode']}")
        print(f"  {'job':<20} {'wall s':>8} {'setup s':>8} {'setup share':>12}")
        for job, t in result["jobs"].items():  # type: ignore[union-attr]
            if t["wall_s"] < 0.5:  # the caller's job that only calls pr-check.yml
                continue
            share = t["setup_s"] / t["wall_s"] if t["wall_s"] else 0.0
            print(f"  {job:<20} {t['wall_s']:>8.1f} {t['setup_s']:>8.1f} {share:>12.0%}")
    if len(results) > 1:
        ratio = results[0]["total_s"] / results[-1]["total_s"]  # type: ignore[operator]
        print(f"second run / first run: {1 / ratio:.2f} (the cache saves {1 - 1 / ratio:.0%})")
    return 0 if all(r["returncode"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
