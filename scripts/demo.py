"""The demo behind `make demo`: the whole pipeline built so far, run on examples/brno-houses.

Each step is a real `mlrelease` command, run as a user would run it. Outputs go to out/demo/.
A step that is expected to fail (a check that blocks) says so; any other failure stops the demo.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = Path("examples/brno-houses")  # relative to ROOT, where every step runs
OUT = ROOT / "out" / "demo"


@dataclass(frozen=True)
class Step:
    title: str
    args: list[str]
    expect: tuple[int, ...] = (0,)  # exit codes that mean the step behaved as documented


STEPS: list[Step] = [
    Step("Validate the handoff contract", ["config", "validate", str(EXAMPLE)]),
    Step(
        "Lint the notebook: it fails (exit 1) on NB101, the model was saved before the cell that fits it ran;"
        " dead imports, add_age, commented-out code and display-only cells are warnings/info",
        ["lint", "-c", str(EXAMPLE), "--report", "out/demo/lint.json", "--sarif", "out/demo/lint.sarif"],
        expect=(1,),
    ),
    Step("Load the model and predict on the validation data", ["predict", "-c", str(EXAMPLE), "--rows", "8"]),
    Step(
        "Evaluate the candidate: quality overall and per slice, latency, throughput, size, golden rows",
        ["evaluate", "-c", str(EXAMPLE), "-o", "out/demo/evaluate"],
    ),
    Step(
        "Gate the candidate against the production baseline: RMSE about 6% better with confidence, passes",
        [
            "gate",
            "--candidate",
            "out/demo/evaluate",
            "--baseline",
            str(EXAMPLE / "baseline"),
            "-c",
            str(EXAMPLE),
            "-o",
            "out/demo/gate",
        ],
    ),
    Step(
        "Evaluate a degraded model (the baseline recipe trained on 300 rows)",
        [
            "evaluate",
            "-c",
            str(EXAMPLE),
            "--model",
            "tests/fixtures/eval-degraded/model.skops",
            "-o",
            "out/demo/evaluate-degraded",
        ],
    ),
    Step(
        "Gate the degraded model: blocked (exit 1), RMSE 65% worse overall and on every slice",
        [
            "gate",
            "--candidate",
            "out/demo/evaluate-degraded",
            "--baseline",
            str(EXAMPLE / "baseline"),
            "-c",
            str(EXAMPLE),
            "-o",
            "out/demo/gate-degraded",
        ],
        expect=(1,),
    ),
    Step(
        "Lock the packages for the image (linux x86_64, the image's Python), with hashes",
        ["lock", "-c", str(EXAMPLE), "-o", "out/demo/requirements.txt"],
    ),
    Step(
        "Audit the packages: committed lock fresh, none unused, missing or misplaced",
        ["deps", "check", "-c", str(EXAMPLE)],
    ),
    Step(
        "Render the image's Dockerfile (multi-stage, locked wheels, non-root, health check)",
        ["build", "-c", str(EXAMPLE), "--print-dockerfile"],
    ),
    Step(
        "Serve the model on a free local port, send validation rows and a 1,440 m2 flat; the flat is flagged",
        ["serve", "-c", str(EXAMPLE), "--signature", "out/demo/evaluate/signature.json", "--smoke"],
    ),
]


def main() -> int:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    exe = shutil.which("mlrelease", path=str(Path(sys.executable).parent)) or "mlrelease"
    env = {**os.environ, "MLRELEASE_DEMO_OUT": str(OUT)}
    for i, step in enumerate(STEPS, 1):
        print(f"\n== {i}/{len(STEPS)} {step.title}\n$ mlrelease {' '.join(step.args)}", flush=True)
        rc = subprocess.run([exe, *step.args], cwd=ROOT, env=env).returncode
        if rc not in step.expect:
            print(f"demo: step '{step.title}' exited {rc}, expected {step.expect}", file=sys.stderr)
            return 1
    print(f"\ndemo: all {len(STEPS)} steps behaved as documented; artifacts in {OUT.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
