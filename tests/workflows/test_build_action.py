"""actions/build as a caller's workflow uses it: evaluate, build, test the image, push.

One act run of tests/fixtures/workflows/build-action.yml on a copy of examples/brno-houses,
on the test base image, pushing to a local registry that requires a password.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.act, pytest.mark.docker, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = "tests/fixtures/workflows/build-action.yml"
EXAMPLE = REPO_ROOT / "examples" / "brno-houses"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("build-action") / "brno-houses"
    shutil.copytree(EXAMPLE, root)
    return root


@pytest.fixture(scope="module")
def run(act, workspace: Path, base_image: str, registry_auth) -> subprocess.CompletedProcess[str]:
    return act(
        WORKFLOW,
        event="workflow_dispatch",
        workspace=workspace,
        env={
            "HANDOFF": str(workspace),
            "BASE_IMAGE": base_image,
            "REGISTRY": registry_auth.host,
            "REGISTRY_USERNAME": registry_auth.username,
        },
        secrets={"REGISTRY_PASSWORD": registry_auth.password},
        timeout=1200,
    )


def log_of(run: subprocess.CompletedProcess[str]) -> str:
    prefix = re.compile(r"^\[build-action/build\s*\] ?")
    return "\n".join(prefix.sub("", line) for line in run.stdout.splitlines() if prefix.match(line))


def test_build_tests_and_pushes_the_example_image(run, registry_auth, docker_client):
    assert run.returncode == 0, "the job failed; act's output is printed above"
    log = log_of(run)
    found = re.search(r"build: outcome=success image=(\S+) image-id=(sha256:[0-9a-f]{64})", log)
    assert found, log[-3000:]
    image, image_id = found.groups()
    assert image.startswith("brno-house-prices:")
    assert docker_client.images.get(image).id == image_id
    pushed = re.search(r"build pushed: digest=(sha256:[0-9a-f]{64}) image=(\S+)", log)
    assert pushed, log[-3000:]
    digest, by_digest = pushed.groups()
    assert by_digest == f"{registry_auth.host}/brno-house-prices@{digest}"
    assert "build wrote image.json" in log


def test_the_image_test_ran_inside_the_job(run):
    log = log_of(run)
    assert re.search(r"predictions: all \d+ golden rows match \(max \|diff\| 0\)", log), log[-3000:]
    assert "no network, read-only" in log and "locked packages (+ mlrelease)" in log
    assert "Summary - ### Image test passed" in log


def test_the_registry_password_never_reaches_the_log(run, registry_auth):
    assert registry_auth.password not in run.stdout


def test_a_nonsense_gpu_input_fails_that_step_alone_with_an_annotation(run):
    log = log_of(run)
    assert "build nonsense: outcome=failure" in log
    assert (
        "::error title=mlrelease build%3A invalid input::Invalid value for '--gpu' "
        "(env var: 'MLRELEASE_GPU'): 'sometimes' is not a valid boolean"
    ) in log
