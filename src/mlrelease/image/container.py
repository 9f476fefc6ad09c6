"""``test-image``'s container: start the image locked down, wait for its health, gather its answers.

How the test talks to the server: the container runs with ``network_mode=none`` (no network at
all, not even a bridge to the host), a read-only root file system with a tmpfs on /tmp, all
capabilities dropped and a non-root user. With no network, no port can be reached from the host,
so every probe is a small standard-library Python client started inside the container with
``docker exec``, talking to the server on 127.0.0.1. The golden rows travel as the exec's
arguments, in chunks well under the kernel's 128 KiB limit per argument, so the test needs no
bind mount and works against a remote engine too. Readiness is the image's own HEALTHCHECK,
run by the engine every half second during the test (the image's interval is for production).
What the image answered goes to ``verify.judge``, which decides.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from mlrelease.errors import CheckFailed, DataError, EnvironmentUnavailable
from mlrelease.image.dockerfile import USER_ID, VENV
from mlrelease.image.lockfile import Lock
from mlrelease.image.runtime import BUILD_ONLY_LABEL
from mlrelease.image.verify import (
    DEFAULT_TOLERANCE,
    GpuReport,
    ImageTestResult,
    Observed,
    Tolerance,
    judge,
    load_golden,
    predict_bodies,
)

HEALTH_INTERVAL_NS = 500_000_000

_CLIENT = """
import json, sys, urllib.error, urllib.request
port, body = sys.argv[1], sys.argv[2].encode()
req = urllib.request.Request(
    f"http://127.0.0.1:{port}/predict", data=body, headers={"Content-Type": "application/json"}
)
try:
    with urllib.request.urlopen(req, timeout=120) as resp:
        sys.stdout.write(resp.read().decode())
except urllib.error.HTTPError as exc:
    sys.stdout.write(json.dumps({"status": exc.code, "error": exc.read().decode(errors="replace")}))
    sys.exit(3)
"""

_PACKAGES = """
import importlib.metadata as md, json, os
dists = {(d.metadata["Name"], d.version) for d in md.distributions()}
print(json.dumps({"uid": os.getuid(), "packages": sorted(dists)}))
"""

_GPU = """
import json, shutil, subprocess
out = {"nvidia_smi": None, "nvidia_smi_error": None, "torch": None, "cuda_available": None, "devices": 0}
exe = shutil.which("nvidia-smi")
if exe is None:
    out["nvidia_smi_error"] = "nvidia-smi is not on PATH inside the container"
else:
    run = subprocess.run([exe, "-L"], capture_output=True, text=True)
    if run.returncode == 0:
        out["nvidia_smi"] = run.stdout.strip()
    else:
        out["nvidia_smi_error"] = (run.stderr or run.stdout).strip()[-500:]
try:
    import torch
except ImportError:
    pass
else:
    out["torch"] = torch.__version__
    out["cuda_available"] = bool(torch.cuda.is_available())
    out["devices"] = torch.cuda.device_count() if out["cuda_available"] else 0
print(json.dumps(out))
"""


def build_only_of(labels: dict[str, str]) -> frozenset[str]:
    """The locked packages a compiled-only image says it leaves out (its build-only label)."""
    return frozenset(name for name in labels.get(BUILD_ONLY_LABEL, "").split(",") if name)


def has_gpu_runtime(client: Any) -> bool:
    """Whether the engine lists the NVIDIA runtime (nvidia-container-toolkit), which --gpu needs."""
    info = client.info()
    return "nvidia" in (info.get("Runtimes") or {})


def exec_json(container: Any, argv: list[str], what: str) -> object:
    """Run ``argv`` in ``container`` as the image's user and read its stdout as JSON; a failed
    run or an answer that is not JSON is ``CheckFailed`` naming ``what``."""
    code, (stdout, stderr) = container.exec_run(argv, user=f"{USER_ID}:{USER_ID}", demux=True)
    text = (stdout or b"").decode(errors="replace")
    if code != 0:
        detail = text.strip() or (stderr or b"").decode(errors="replace").strip()
        raise CheckFailed(f"{what} failed inside the container (exit {code}): {detail[-2000:]}")
    try:
        answer: object = json.loads(text)
    except ValueError:
        raise CheckFailed(
            f"{what}: the container answered something that is not JSON: {text[:500]}"
        ) from None
    return answer


def gpu_probe(container: Any) -> GpuReport:
    """nvidia-smi and torch.cuda.is_available(), as seen inside ``container``."""
    data = exec_json(container, [f"{VENV}/bin/python", "-c", _GPU], "the GPU probe")
    if not isinstance(data, dict):
        raise CheckFailed(f"the GPU probe answered no report: {str(data)[:500]}")
    return GpuReport(**data)


def wait_healthy(container: Any, timeout: float) -> float:
    """Seconds until the engine reports ``container`` healthy; ``CheckFailed`` with its last log
    lines when it exits, turns unhealthy or is not healthy within ``timeout`` seconds."""
    started = time.monotonic()
    while True:
        container.reload()
        state = container.attrs["State"]
        health = (state.get("Health") or {}).get("Status")
        if health == "healthy":
            return time.monotonic() - started
        if state.get("Status") in ("exited", "dead") or health == "unhealthy":
            logs = container.logs(tail=40).decode(errors="replace")
            what = "exited" if state.get("Status") != "running" else "became unhealthy"
            raise CheckFailed(
                f"the server in the image {what} before it was healthy; its last log lines:\n{logs}"
            )
        if time.monotonic() - started > timeout:
            logs = container.logs(tail=40).decode(errors="replace")
            raise CheckFailed(
                f"the server in the image was not healthy within {timeout:.0f}s; its log:\n{logs}"
            )
        time.sleep(0.25)


def run_image_test(
    client: Any,
    reference: str,
    *,
    golden: Path,
    lock: Lock,
    port: int,
    tol: Tolerance = DEFAULT_TOLERANCE,
    gpu: bool = False,
    timeout: float = 180.0,
) -> ImageTestResult:
    """Start the image locked down, wait for health, send the golden rows, judge the answers;
    never raises on a diff."""
    rows = load_golden(golden)
    import docker

    try:
        image = client.images.get(reference)
    except docker.errors.ImageNotFound:
        raise DataError(
            f"image {reference} is not in the local engine", hint="run `mlrelease build` first"
        ) from None
    test = ((image.attrs.get("Config") or {}).get("Healthcheck") or {}).get("Test")
    if not test or test[0] == "NONE":
        raise CheckFailed(
            f"image {reference} declares no HEALTHCHECK", hint="build it with `mlrelease build`"
        )
    if gpu and not has_gpu_runtime(client):
        raise EnvironmentUnavailable(
            "--gpu: this Docker engine has no GPU runtime (docker info lists no 'nvidia' runtime), "
            "so the GPU cannot be checked here",
            hint="run on a machine with an NVIDIA driver and nvidia-container-toolkit",
        )
    options: dict[str, Any] = {}
    if gpu:
        options["device_requests"] = [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])]
    container = client.containers.run(
        image.id,
        detach=True,
        network_mode="none",
        read_only=True,
        tmpfs={"/tmp": "rw,nosuid,nodev,size=256m"},
        user=f"{USER_ID}:{USER_ID}",
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        # Probe often while starting; failures before the first success do not count (start period).
        healthcheck={
            "test": test,
            "interval": HEALTH_INTERVAL_NS,
            "timeout": 3_000_000_000,
            "retries": 3,
            "start_period": int(timeout * 1e9),
        },
        labels={"io.mlrelease.test-image": reference},
        **options,
    )
    try:
        seconds = wait_healthy(container, timeout)
        answers = [
            exec_json(container, [f"{VENV}/bin/python", "-c", _CLIENT, str(port), body], "POST /predict")
            for body in predict_bodies(rows)
        ]
        listing = exec_json(container, [f"{VENV}/bin/python", "-c", _PACKAGES], "listing packages")
        seen = Observed(
            reference=reference,
            image_id=image.id,
            self_version=(image.labels or {}).get("io.mlrelease.version"),
            build_only=build_only_of(image.labels or {}),
            seconds_to_healthy=seconds,
            answers=answers,
            listing=listing,
            gpu=gpu_probe(container) if gpu else None,
        )
    finally:
        container.remove(force=True)
    return judge(rows, seen, lock, tol)
