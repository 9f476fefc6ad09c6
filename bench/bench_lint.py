"""Notebook lint speed: `mlrelease lint` (no execution) against nbQA running ruff and vulture,
and against ruff's native notebook mode.

200 notebooks: the lint corpus (tests/fixtures/notebooks: one per rule, the clean realistic ones,
the corpus of handed-over notebooks under corpus/) and the example's notebook, copied round-robin.
mlrelease runs every rule (ruff and vulture inside, plus its own checks); the first peer is what a
team would wire up by hand: `nbqa ruff` with the same pyflakes rules and `nbqa vulture`, run one
after the other on the same folder; the second is `ruff check` on the .ipynb files directly (the
same pyflakes rules; no vulture, no notebook rules). All are timed as whole commands (interpreter
start-up included), medians of --reps interleaved runs.

Peer setup (outside the repo):
    uv venv /tmp/peer-bench-work/nbqa-venv && \
    VIRTUAL_ENV=/tmp/peer-bench-work/nbqa-venv uv pip install nbqa ruff==0.17.6 vulture==2.16

    .venv/bin/python bench/bench_lint.py [--notebooks 200] [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "fixtures" / "notebooks"
EXAMPLE_NB = ROOT / "examples" / "brno-houses" / "notebooks" / "house_prices.ipynb"
WORK = Path("/tmp/peer-bench-work")


def sources() -> list[Path]:
    picked = [
        *sorted(CORPUS.glob("*.ipynb")),
        *sorted((CORPUS / "clean").glob("*.ipynb")),
        *sorted((CORPUS / "corpus").glob("*.ipynb")),
        EXAMPLE_NB,
    ]
    return [p for p in picked if p.stat().st_size > 0]


def make_corpus(folder: Path, n: int) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    src = sources()
    for i in range(n):
        shutil.copy(src[i % len(src)], folder / f"nb{i:03d}_{src[i % len(src)].name}")


def timed(argv: list[str], ok: tuple[int, ...]) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode not in ok:
        sys.exit(f"{argv[:3]} exited {proc.returncode}: {proc.stderr[-1500:]}")
    return elapsed, proc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", type=int, default=200)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--peer-venv", type=Path, default=WORK / "nbqa-venv")
    args = parser.parse_args()
    nbqa = args.peer_venv / "bin" / "nbqa"
    if not nbqa.exists():
        sys.exit(f"{nbqa} not found: create the peer venv first (see this file's docstring)")
    folder = WORK / "lint-notebooks"
    make_corpus(folder, args.notebooks)
    mlrelease = shutil.which("mlrelease", path=str(Path(sys.executable).parent)) or "mlrelease"
    ours_argv = [mlrelease, "lint", str(folder), "--json", "--fail-on", "never"]
    peer_env_path = str(args.peer_venv / "bin")
    ruff_argv = [
        str(nbqa),
        "ruff",
        str(folder),
        "--isolated",
        "--no-cache",
        "--select",
        "F401,F811,F821,F841",
    ]
    vulture_argv = [str(nbqa), "vulture", str(folder), "--min-confidence", "60"]
    native_argv = [str(args.peer_venv / "bin" / "ruff"), "check", str(folder), "--isolated",
                   "--no-cache", "--select", "F401,F811,F821,F841", "--exit-zero", "--output-format",
                   "concise"]  # fmt: skip
    ours, peer, native = [], [], []
    findings_native = 0
    findings_ours = findings_peer = 0
    for _ in range(args.reps):
        t, proc = timed(ours_argv, (0, 1, 2))
        ours.append(t)
        findings_ours = len(json.loads(proc.stdout)["findings"])
        env_argv = ["env", f"PATH={peer_env_path}:/usr/bin:/bin"]
        t1, p1 = timed([*env_argv, *ruff_argv], (0, 1))
        t2, p2 = timed([*env_argv, *vulture_argv], (0, 1, 3))
        peer.append(t1 + t2)
        findings_peer = sum(1 for line in (p1.stdout + p2.stdout).splitlines() if ".ipynb:" in line)
        t3, p3 = timed([*env_argv, *native_argv], (0,))
        native.append(t3)
        findings_native = sum(1 for line in p3.stdout.splitlines() if ".ipynb:" in line)
    m_ours, m_peer, m_native = statistics.median(ours), statistics.median(peer), statistics.median(native)
    print(f"notebooks: {args.notebooks} (from {len(sources())} distinct), reps: {args.reps} (median)")
    print(f"mlrelease lint (every rule):                {m_ours:.2f} s, {findings_ours} findings")
    print(f"nbqa ruff + nbqa vulture (dead code only):  {m_peer:.2f} s, {findings_peer} findings")
    print(f"ruff check on .ipynb (pyflakes rules only): {m_native:.2f} s, {findings_native} findings")
    print(f"ratio nbqa/mlrelease: {m_peer / m_ours:.2f}x ({'faster' if m_ours < m_peer else 'slower'})")
    verdict = "faster" if m_ours < m_native else "slower"
    print(f"ratio ruff-native/mlrelease: {m_native / m_ours:.2f}x ({verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
