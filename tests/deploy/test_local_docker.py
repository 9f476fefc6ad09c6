"""The same story on the real Docker engine and registry: images run by digest, pulled from the registry.

One image is built per session from the test base image; the bad v4 is a cheap variant of it
(one layer with an mlrelease.yaml whose outlier bounds flag every row), pushed as its own digest.
"""

from __future__ import annotations

import io
import json
import sys
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "registry"))
from handoffs import Handoff
from test_local_process import BAD_OUTLIERS, MODEL, _traffic, run

from mlrelease.deploy import verify
from mlrelease.deploy.local import LocalTarget
from mlrelease.image.push import push_image
from mlrelease.image.record import ImageRecord
from mlrelease.image.wheelhouse import build_self_wheel
from mlrelease.serve.runner import free_port, request

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@dataclass
class Stage:
    handoff: Handoff
    registry: Path
    state: Path
    port: int
    image: ImageRecord
    bad_image: ImageRecord

    def args(self) -> list[str]:
        return ["-c", str(self.handoff.root), "--registry", str(self.registry)]

    def target(self) -> list[str]:
        return ["--runtime", "docker", "--port", str(self.port), "--state-dir", str(self.state)]

    def version(self) -> str:
        status, _, body = request(self.port, "GET", "/version")
        assert status == 200
        return json.loads(body)["version"]


def _bad_variant(docker_client, image: ImageRecord, handoff: Handoff, registry_host: str) -> ImageRecord:
    """FROM the good image, one layer: a config whose outlier bounds every prediction misses."""
    from mlrelease import config
    from mlrelease.image.context import serving_config

    cfg_path = handoff.root / "mlrelease.yaml"
    original = cfg_path.read_text()
    cfg_path.write_text(original.replace(BAD_OUTLIERS, "    prediction: {min: 1.0e+12, max: 1.0e+13}"))
    try:
        text, _ = serving_config(config.load(cfg_path))
    finally:
        cfg_path.write_text(original)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (
            ("Dockerfile", f"FROM {image.image_id}\nCOPY mlrelease.yaml /app/mlrelease.yaml\n".encode()),
            ("mlrelease.yaml", text.encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    built, _ = docker_client.images.build(fileobj=buf, custom_context=True, tag="mlrelease-test/brno-bad:v4")
    record = ImageRecord(
        reference="mlrelease-test/brno-bad:v4", image_id=built.id, size_bytes=0, gpu=False,
        base_image=image.image_id, labels={}, port=image.port,
    )  # fmt: skip
    return push_image(docker_client, record, registry_host)


@pytest.fixture(scope="module")
def stage(
    docker_client, base_image: str, registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stage]:
    root = tmp_path_factory.mktemp("deploy-docker")
    handoff = Handoff.copy(root / "brno")
    cfg = handoff.root / "mlrelease.yaml"
    cfg.write_text(cfg.read_text() + "watch: {interval_s: 0.5, min_requests: 20, duration_s: 90}\n")
    wheel = build_self_wheel(root / "dist", source_date_epoch=0)
    image_json = root / "image.json"
    built = run(
        "build", "-c", str(handoff.root), "--evaluation", str(handoff.root / "baseline"), "--base-image",
        base_image, "--tag", "mlrelease-test/brno-deploy:session", "--mlrelease-wheel", str(wheel),
        "-o", str(image_json),
    )  # fmt: skip
    assert built.exit_code == 0, built.output[-3000:]
    pushed = run(
        "push", "-c", str(handoff.root), "--image-json", str(image_json), "--registry", registry.host
    )
    assert pushed.exit_code == 0, pushed.output
    image = ImageRecord.read(image_json)
    bad = _bad_variant(docker_client, image, handoff, registry.host)
    for tag in (image.reference, *image.pushed, bad.reference, *bad.pushed):  # deploy must pull by digest
        docker_client.images.remove(tag, force=True)
    s = Stage(handoff, root / "registry", root / "state", free_port(), image, bad)
    for name in ("one", "two", "three"):
        result = run("release", *s.args(), *handoff.build(name, image=image).args())
        assert result.exit_code == 0, result.output
    yield s
    LocalTarget(s.state, MODEL, docker_client=docker_client).down()


def test_deploy_roll_back_twice_and_watch_catches_a_bad_v4_on_the_docker_engine(stage: Stage, docker_client):
    deployed = run("deploy", "v3", *stage.args(), *stage.target(), "--json")
    assert deployed.exit_code == 0, deployed.output
    assert stage.version() == "v3"
    golden = stage.handoff.root / "baseline" / "golden.parquet"
    assert verify.check_golden(stage.port, golden) > 0
    running = docker_client.containers.list(filters={"label": "io.mlrelease.release=v3"})
    assert [c.image.id for c in running] == [stage.image.image_id]  # the image pulled by its digest

    switches = []
    for expected in ("v2", "v1"):
        back = run("rollback", *stage.args(), *stage.target(), "--json")
        assert back.exit_code == 0, back.output
        switches.append(json.loads(back.stdout)["switch"])
        assert stage.version() == expected
        assert verify.check_golden(stage.port, golden) > 0
    print(f"docker switches: {switches}")
    assert all(s["failed_probes"] == 0 for s in switches)
    stopped = docker_client.containers.list(all=True, filters={"label": "io.mlrelease.release=v3"})
    assert stopped and stopped[0].status == "exited"  # the previous stays runnable

    released = run("release", *stage.args(), *stage.handoff.build("four", image=stage.bad_image).args())
    assert released.exit_code == 0, released.output
    assert run("deploy", "v4", *stage.args(), *stage.target()).exit_code == 0
    assert stage.version() == "v4"
    from mlrelease.image.verify import read_golden

    rows = read_golden(golden)[0][:3]
    stop, failures = threading.Event(), []
    hammer = threading.Thread(target=_traffic, args=(stage.port, rows, stop, failures))
    hammer.start()
    try:
        watched = run("watch", *stage.args(), "--state-dir", str(stage.state), "--duration", "90")
    finally:
        stop.set()
        hammer.join()
    assert watched.exit_code == 1, watched.output
    assert "outlier rate 100.0% > watch.max_outlier_rate 5.0%" in watched.output
    assert stage.version() == "v3"
