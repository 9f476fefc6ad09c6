"""End to end on the local target with the server as a process: release v1..v3, deploy v3, roll back to
v2 and v1 (each verified by /version and the golden rows through the public port), then a bad v4 that
flags every row is caught by `watch`, marked bad and rolled back to v3 by itself."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "registry"))
# The registry tests' builder of releasable handoffs.
from handoffs import Handoff

from mlrelease.cli import main
from mlrelease.deploy import verify
from mlrelease.deploy.local import LocalTarget
from mlrelease.registry import open_backend
from mlrelease.serve.runner import free_port, request

MODEL = "brno-house-prices"
BAD_OUTLIERS = "    prediction: {min: 1.0e+6, max: 5.0e+7}"


@dataclass
class Ran:
    exit_code: int
    output: str
    stdout: str


def run(*args: str) -> Ran:
    with CliRunner().isolation() as (stdout, _stderr, output):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return Ran(code, output.getvalue().decode(), stdout.getvalue().decode())


@dataclass
class Setup:
    handoff: Handoff
    registry: Path
    state: Path
    port: int

    def args(self) -> list[str]:
        return ["-c", str(self.handoff.root), "--registry", str(self.registry)]

    def target(self) -> list[str]:
        return [
            "--target",
            "local",
            "--runtime",
            "process",
            "--port",
            str(self.port),
            "--state-dir",
            str(self.state),
        ]

    def serving(self) -> dict[str, object]:
        status, _, body = request(self.port, "GET", "/version")
        assert status == 200
        return json.loads(body)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("deploy")
    handoff = Handoff.copy(root / "brno")
    cfg = handoff.root / "mlrelease.yaml"
    cfg.write_text(cfg.read_text() + "watch: {interval_s: 0.5, min_requests: 20, duration_s: 60}\n")
    s = Setup(handoff, root / "registry", root / "state", free_port())
    for name in ("one", "two", "three"):
        result = run("release", *s.args(), *handoff.build(name).args())
        assert result.exit_code == 0, result.output
    yield s
    LocalTarget(s.state, MODEL).down()


def _traffic(port: int, rows: list[dict[str, object]], stop: threading.Event, failures: list[str]) -> int:
    sent = 0
    body = json.dumps(rows).encode()
    while not stop.is_set():
        try:
            status, _, answer = request(port, "POST", "/predict", body=body, timeout=30)
            if status != 200:
                failures.append(f"{status}: {answer[:200]!r}")
        except OSError as exc:
            failures.append(repr(exc))
        sent += 1
    return sent


def _rows(setup: Setup) -> list[dict[str, object]]:
    from mlrelease.image.verify import read_golden

    records, _, _ = read_golden(setup.handoff.root / "baseline" / "golden.parquet")
    return records[:3]


def test_deploy_v3_then_roll_back_to_v2_and_v1_without_a_failed_request(setup: Setup):
    deployed = run("deploy", "v3", *setup.args(), *setup.target(), "--json")
    assert deployed.exit_code == 0, deployed.output
    assert json.loads(deployed.stdout)["golden_rows"] > 0
    assert setup.serving()["version"] == "v3"
    golden = setup.handoff.root / "baseline" / "golden.parquet"
    assert verify.check_golden(setup.port, golden) > 0

    dry = run("rollback", *setup.args(), *setup.target(), "--dry-run")
    assert dry.exit_code == 0 and "v3 -> v2" in dry.output
    assert setup.serving()["version"] == "v3"  # the dry run changed nothing

    stop, failures = threading.Event(), []
    hammer = threading.Thread(target=_traffic, args=(setup.port, _rows(setup), stop, failures))
    hammer.start()
    try:
        back = run("rollback", *setup.args(), *setup.target(), "--json")
    finally:
        stop.set()
        hammer.join()
    assert back.exit_code == 0, back.output
    switch = json.loads(back.stdout)["switch"]
    print(f"switch v3 -> v2 under traffic: {switch}")
    assert failures == [] and switch["failed_probes"] == 0
    assert setup.serving()["version"] == "v2"
    assert verify.check_golden(setup.port, golden) > 0

    without_runtime = [a for a in setup.target() if a not in ("--runtime", "process")]
    again = run("rollback", *setup.args(), *without_runtime)  # the runtime of what runs now
    assert again.exit_code == 0, again.output
    assert setup.serving()["version"] == "v1"

    events = open_backend(setup.registry).events(MODEL)
    kinds = [(e.kind, e.version, e.from_version) for e in events if e.kind != "released"]
    assert kinds == [
        ("deployed", 3, None),
        ("rolled_back", 2, 3),
        ("superseded", 3, None),
        ("rolled_back", 1, 2),
        ("superseded", 2, None),
    ]
    table = json.loads(run("releases", *setup.args(), "--json").stdout)
    assert [(r["version"], r["status"]) for r in table] == [
        (3, "released"), (2, "released"), (1, "deployed: local")
    ]  # fmt: skip


def test_rollback_refuses_a_release_whose_model_fails_its_sha256(setup: Setup):
    backend = open_backend(setup.registry)
    blob = setup.registry / "blobs" / "sha256" / backend.get(MODEL, 2).model_sha256
    original = blob.read_bytes()
    blob.write_bytes(original[:-1])
    try:
        dry = run("rollback", "--to", "v2", *setup.args(), *setup.target(), "--dry-run")
        assert dry.exit_code == 1 and "'model' fails its sha256" in dry.output
        refused = run("rollback", "--to", "v2", *setup.args(), *setup.target())
        assert refused.exit_code == 1 and "refusing to roll back" in refused.output
        blob.unlink()
        missing = run("rollback", "--to", "v2", *setup.args(), *setup.target())
        assert missing.exit_code == 1 and "is missing" in missing.output
    finally:
        blob.write_bytes(original)
    assert setup.serving()["version"] == "v1"  # untouched


def test_a_bad_v4_is_caught_by_watch_marked_bad_and_rolled_back_to_v3(setup: Setup):
    cfg = setup.handoff.root / "mlrelease.yaml"
    original = cfg.read_text()
    assert BAD_OUTLIERS in original
    cfg.write_text(original.replace(BAD_OUTLIERS, "    prediction: {min: 1.0e+12, max: 1.0e+13}"))
    try:
        released = run("release", *setup.args(), *setup.handoff.build("four").args())
    finally:
        cfg.write_text(original)
    assert released.exit_code == 0, released.output
    assert run("deploy", "v4", *setup.args(), *setup.target()).exit_code == 0
    assert setup.serving()["version"] == "v4"

    stop, failures = threading.Event(), []
    hammer = threading.Thread(target=_traffic, args=(setup.port, _rows(setup), stop, failures))
    hammer.start()
    try:
        watched = run("watch", *setup.args(), "--state-dir", str(setup.state), "--duration", "60")
    finally:
        stop.set()
        hammer.join()
    assert watched.exit_code == 1, watched.output
    assert "outlier rate 100.0% > watch.max_outlier_rate 5.0%" in watched.output
    assert "rolled back to v3" in watched.output
    assert setup.serving()["version"] == "v3"
    table = json.loads(run("releases", *setup.args(), "--json").stdout)
    assert table[0]["version"] == 4 and table[0]["status"] == "bad"
    assert table[1]["status"] == "deployed: local"
    refused = run("deploy", "v4", *setup.args(), *setup.target())
    assert refused.exit_code == 2 and "marked bad" in refused.output


def test_a_release_whose_golden_rows_disagree_is_never_switched_to(setup: Setup):
    import pandas as pd

    build = setup.handoff.build("five")
    golden = build.evaluate / "golden.parquet"
    frame = pd.read_parquet(golden)
    frame.loc[0, "prediction"] = frame.loc[0, "prediction"] * 1.5
    frame.to_parquet(golden, index=False)
    released = run("release", *setup.args(), *build.args(), "--json")
    assert released.exit_code == 0, released.output
    version = json.loads(released.stdout)["version"]
    before = setup.serving()["version"]
    refused = run("deploy", f"v{version}", *setup.args(), *setup.target())
    assert refused.exit_code == 1, refused.output
    assert (
        "failed its checks; nothing was switched" in refused.output and "golden rows differ" in refused.output
    )
    assert setup.serving()["version"] == before


def test_the_gate_compares_with_what_is_in_production(setup: Setup, tmp_path: Path):
    serving = setup.serving()["version"]
    out = tmp_path / "gate"
    candidate = setup.handoff.root / "baseline"
    gated = run(
        "gate",
        *setup.args(),
        "--candidate",
        str(candidate),
        "--baseline",
        "release:production",
        "-o",
        str(out),
    )
    assert gated.exit_code == 0, gated.output
    assert json.loads((out / "gate.json").read_text())["baseline"]["release"] == serving
    missing = run(
        "gate", *setup.args(), "--candidate", str(candidate), "--baseline", "release:gke", "-o", str(out)
    )
    assert missing.exit_code == 2 and "nor a target with a deployed release (local: " in missing.output
