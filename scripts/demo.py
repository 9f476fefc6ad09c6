"""The demo behind `make demo`: the whole pipeline built so far, run on examples/brno-houses
(and examples/survey for monitoring).

Each step is a real `mlrelease` command, run as a user would run it. Outputs go to out/demo/.
A step that is expected to fail (a check that blocks) says so; any other failure stops the demo.

The image steps need a Docker engine and a base image on it: `python:3.11-slim` by default, or
the image named by MLRELEASE_DEMO_BASE_IMAGE (for example the Debian-built base of the tests,
`python scripts/build_base_image.py --print-tag`). Without them they are skipped, and say why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = "examples/brno-houses"  # relative to ROOT, where every step runs
OUT = ROOT / "out" / "demo"
BASE_IMAGE = os.environ.get("MLRELEASE_DEMO_BASE_IMAGE", "python:3.11-slim")
GKE_IMAGE = "europe-west3-docker.pkg.dev/acme-models/models/brno-house-prices"


@dataclass(frozen=True)
class Step:
    title: str
    command: str  # the mlrelease arguments, split on white space
    expect: tuple[int, ...] = (0,)  # exit codes that mean the step behaved as documented
    needs_docker: bool = False


STEPS: list[Step] = [
    Step("Validate the handoff contract", f"config validate {EXAMPLE}"),
    Step(
        "Lint the notebook: it fails (exit 1) on NB101, the model was saved before the cell that fits it ran;"
        " dead imports, add_age, commented-out code and display-only cells are warnings/info",
        f"lint -c {EXAMPLE} --report out/demo/lint.json --sarif out/demo/lint.sarif",
        expect=(1,),
    ),
    Step(
        "Lock the packages for the image (linux x86_64, the image's Python), with hashes",
        f"lock -c {EXAMPLE} -o out/demo/requirements.txt",
    ),
    Step("Audit the packages: the lock is fresh, nothing unused or missing", f"deps check -c {EXAMPLE}"),
    Step("Load the model and predict on the validation data", f"predict -c {EXAMPLE} --rows 8"),
    Step(
        "Evaluate the candidate: quality overall and per slice, latency, throughput, size, golden rows",
        f"evaluate -c {EXAMPLE} -o out/demo/evaluate",
    ),
    Step(
        "Gate the candidate against the production baseline: RMSE about 6% better with confidence, passes",
        f"gate -c {EXAMPLE} --candidate out/demo/evaluate --baseline {EXAMPLE}/baseline -o out/demo/gate",
    ),
    Step(
        "Evaluate a degraded model (the baseline recipe trained on 300 rows)",
        f"evaluate -c {EXAMPLE} --model tests/fixtures/eval-degraded/model.skops"
        " -o out/demo/evaluate-degraded",
    ),
    Step(
        "Gate the degraded model: blocked (exit 1), RMSE 65% worse overall and on every slice",
        f"gate -c {EXAMPLE} --candidate out/demo/evaluate-degraded --baseline {EXAMPLE}/baseline"
        " -o out/demo/gate-degraded",
        expect=(1,),
    ),
    Step(
        "Render the image's Dockerfile (multi-stage, locked wheels, non-root, health check)",
        f"build -c {EXAMPLE} --print-dockerfile",
    ),
    Step(
        f"Build the image on {BASE_IMAGE}: wheels downloaded on the host, installed with hashes, no network",
        f"build -c {EXAMPLE} --evaluation out/demo/evaluate --base-image {BASE_IMAGE}"
        " --tag brno-house-prices:demo -o out/demo/image.json",
        needs_docker=True,
    ),
    Step(
        "Test the image: no network, read-only, non-root; golden predictions and packages match",
        f"test-image -c {EXAMPLE} --image-json out/demo/image.json --evaluation out/demo/evaluate",
        needs_docker=True,
    ),
    Step(
        "Serve the model on a free local port, send validation rows and a 1,440 m2 flat; the flat is flagged",
        f"serve -c {EXAMPLE} --signature out/demo/evaluate/signature.json --smoke",
    ),
    Step(
        "Render the GKE objects of release v1 (an illustrative digest) into out/demo/k8s: Deployment,"
        " Service, HPA sized for the lunchtime peak, PDB, ServiceAccount, and a kustomization",
        f"render --target gke -c {EXAMPLE} --image {GKE_IMAGE}@sha256:{'1' * 64} --version v1"
        " --metrics out/demo/evaluate/metrics.json --output-dir out/demo/k8s --kustomize",
    ),
    Step(
        "Diff release v2's objects against v1's: the image digest, the version label and the release"
        " annotation change, nothing else",
        f"render --target gke -c {EXAMPLE} --image {GKE_IMAGE}@sha256:{'2' * 64} --version v2"
        " --metrics out/demo/evaluate/metrics.json --diff out/demo/k8s",
    ),
    Step(
        "Monitor the survey model, trained on students, on a batch of seniors: age, the predictions and"
        " the older slice alert (exit 1); report in out/demo/monitor/drift.html",
        "monitor -c examples/survey --current examples/survey/data/seniors.csv -o out/demo/monitor",
        expect=(1,),
    ),
    Step(
        "Render the alerts as code: log-based metrics and alert policies, as API bodies and Terraform",
        "alerts render -c examples/survey -o out/demo/alerts",
    ),
]


# The release story runs on a copy of the example under out/demo/release (the example itself is
# never written to): release v1..v3, deploy v3 as a local process, roll back, then a v4 whose
# outlier bounds flag every row, caught by watch under traffic and rolled back to v3.
RELEASE = OUT / "release"
GOOD_BOUNDS = "prediction: {min: 1.0e+6, max: 5.0e+7}"
BAD_BOUNDS = "prediction: {min: 1.0e+12, max: 1.0e+13}"


def release_story(exe: str, env: dict[str, str]) -> int:
    """Release, deploy, roll back, and a bad release caught by watch; returns the number of steps."""
    import contextlib
    import json
    import threading
    import urllib.request

    handoff = RELEASE / "brno-houses"
    shutil.copytree(ROOT / EXAMPLE, handoff, ignore=shutil.ignore_patterns("notebooks", "__pycache__"))
    cfg = handoff / "mlrelease.yaml"
    cfg.write_text(
        cfg.read_text().replace("  - notebooks/*.ipynb\n", "").replace("notebooks:\n", "notebooks: []\n")
    )
    cfg.write_text(cfg.read_text() + "watch: {interval_s: 1, min_requests: 20, duration_s: 60}\n")
    port = "18080"
    common = ["-c", str(handoff), "--registry", str(RELEASE / "registry")]
    target = ["--runtime", "process", "--port", port, "--state-dir", str(RELEASE / "local")]
    build = [
        "--evaluate",
        "out/demo/evaluate",
        "--gate",
        "out/demo/gate",
        "--image-json",
        "out/demo/image.json",
    ]
    forced = ["--force", "--reason", "demo: no registry to push the image to"]
    story = [
        (
            "Record the build as a release: refused (exit 1), its image was not pushed",
            ["release", *common, *build],
            1,
        ),
        ("Release it anyway, with the reason recorded: v1", ["release", *common, *build, *forced], 0),
        ("Release v2 and v3 the same way", ["release", *common, *build, *forced], 0),
        ("", ["release", *common, *build, *forced], 0),
        (
            "Deploy v3 as a local process: checked by /version and golden rows before the switch",
            ["deploy", "v3", *common, *target],
            0,
        ),
        (
            "Roll back: to v2, the previous good release, verified the same way",
            ["rollback", *common, *target],
            0,
        ),
        ("The registry's view: versions, metric, where deployed, status", ["releases", *common], 0),
    ]
    for title, argv, expect in story:
        if title:
            print(f"\n== {title}\n$ mlrelease {' '.join(argv)}", flush=True)
        rc = subprocess.run([exe, *argv], cwd=ROOT, env=env).returncode
        if rc != expect:
            print(f"demo: '{' '.join(argv[:2])}' exited {rc}, expected {expect}", file=sys.stderr)
            return -1
    print(
        "\n== Release v4 with outlier bounds no price meets, and deploy it: its golden rows still match",
        flush=True,
    )
    original = cfg.read_text()
    cfg.write_text(original.replace(GOOD_BOUNDS, BAD_BOUNDS))
    bad = subprocess.run([exe, "release", *common, *build, *forced], cwd=ROOT, env=env).returncode
    cfg.write_text(original)
    deployed = subprocess.run([exe, "deploy", "v4", *common, *target], cwd=ROOT, env=env).returncode
    if bad or deployed:
        return -1
    print(
        "\n== Watch v4 under traffic: every row is flagged, so watch marks it bad and rolls back to v3",
        flush=True,
    )
    from mlrelease.image.verify import read_golden

    rows = json.dumps(read_golden(OUT / "evaluate" / "golden.parquet")[0][:3]).encode()
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            req = urllib.request.Request(f"http://127.0.0.1:{port}/predict", data=rows, method="POST")
            req.add_header("Content-Type", "application/json")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(req, timeout=10).read()

    worker = threading.Thread(target=traffic, daemon=True)
    worker.start()
    try:
        watched = subprocess.run(
            [exe, "watch", *common, "--state-dir", str(RELEASE / "local")], cwd=ROOT, env=env
        )
    finally:
        stop.set()
        worker.join()
    subprocess.run([exe, "releases", *common], cwd=ROOT, env=env)
    subprocess.run([sys.executable, "-c", _STOP, str(RELEASE / "local")], cwd=ROOT, env=env)
    return len(story) + 3 if watched.returncode == 1 else -1


_STOP = (
    "import sys; from pathlib import Path; from mlrelease.deploy.local import LocalTarget; "
    "LocalTarget(Path(sys.argv[1]), 'brno-house-prices').down()"
)


def docker_ready() -> str | None:
    """None when the image steps can run, else the reason they cannot."""
    try:
        import docker
        from docker.errors import DockerException, ImageNotFound

        client = docker.from_env(timeout=10)
        client.ping()
    except DockerException as exc:
        return f"no Docker engine answers ({type(exc).__name__})"
    try:
        client.images.get(BASE_IMAGE)
    except ImageNotFound:
        return f"base image {BASE_IMAGE} is not on the engine (pull it, or set MLRELEASE_DEMO_BASE_IMAGE)"
    finally:
        client.close()
    return None


def main() -> int:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    exe = shutil.which("mlrelease", path=str(Path(sys.executable).parent)) or "mlrelease"
    env = {**os.environ, "MLRELEASE_DEMO_OUT": str(OUT)}
    no_docker = docker_ready() if any(s.needs_docker for s in STEPS) else None
    skipped = 0
    for i, step in enumerate(STEPS, 1):
        print(f"\n== {i}/{len(STEPS)} {step.title}\n$ mlrelease {step.command}", flush=True)
        if step.needs_docker and no_docker:
            print(f"skipped: {no_docker}")
            skipped += 1
            continue
        rc = subprocess.run([exe, *step.command.split()], cwd=ROOT, env=env).returncode
        if rc not in step.expect:
            print(f"demo: step '{step.title}' exited {rc}, expected {step.expect}", file=sys.stderr)
            return 1
    ran = len(STEPS) - skipped
    if no_docker:
        print(f"\nskipped: release, deploy, rollback and watch need the built image.json ({no_docker})")
    else:
        steps = release_story(exe, env)
        if steps < 0:
            return 1
        ran += steps
    note = f" ({skipped} skipped: {no_docker})" if skipped else ""
    print(f"\ndemo: {ran} steps behaved as documented{note}; artifacts in {OUT.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
