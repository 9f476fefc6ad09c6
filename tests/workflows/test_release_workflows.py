"""release.yml then rollback.yml through act: a release recorded, deployed, then rolled back on request.

The registry already holds v1 (recorded by the CLI); release.yml evaluates, gates, builds and pushes
the image, records v2 and deploys it (as a process, on a port of the host); rollback.yml then goes
back to v1, and the server on that port answers with v1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "registry"))
from handoffs import Handoff

from mlrelease.cli import main
from mlrelease.deploy.local import LocalTarget
from mlrelease.registry import open_backend
from mlrelease.serve.runner import free_port, request

pytestmark = [pytest.mark.act, pytest.mark.docker, pytest.mark.slow]

WORKFLOW = "tests/fixtures/workflows/release-rollback.yml"


def test_release_then_a_dispatched_rollback_leaves_the_version_asked_for_serving(
    act, base_image: str, registry_auth, tmp_path: Path
):
    handoff = Handoff.copy(tmp_path / "brno")
    cfg = handoff.root / "mlrelease.yaml"  # a loaded shared runner measures seconds, not ms, at p95
    cfg.write_text(cfg.read_text().replace("p95_latency_ms: {max: 1000}", "p95_latency_ms: {max: 600000}"))
    registry, state, port = tmp_path / "releases", tmp_path / "local", free_port()
    try:
        main(["release", "-c", str(handoff.root), "--registry", str(registry), *handoff.build("one").args()])
    except SystemExit as exc:
        assert exc.code == 0
    try:
        run = act(
            WORKFLOW,
            event="workflow_dispatch",
            workspace=handoff.root,
            inputs={
                "release-registry": str(registry),
                "image-registry": registry_auth.host,
                "base-image": base_image,
                "port": str(port),
                "state-dir": str(state),
                "to": "v1",
            },
            secrets={
                "REGISTRY_USERNAME": registry_auth.username,
                "REGISTRY_PASSWORD": registry_auth.password,
            },
            timeout=1500,
        )
        assert run.returncode == 0, "the workflow failed; act's output is printed above"
        assert "release-rollback report released=v2 serving=v1" in run.stdout
        status, _, body = request(port, "GET", "/version")
        assert status == 200 and json.loads(body)["version"] == "v1"
        events = [(e.kind, e.version) for e in open_backend(registry).events("brno-house-prices")]
        assert events[-3:] == [("deployed", 2), ("rolled_back", 1), ("superseded", 2)]
        assert registry_auth.password not in run.stdout
    finally:
        LocalTarget(state, "brno-house-prices").down()
