"""`mlrelease monitor --rollback-on alert` on the local target with the server as a process: v1 and
v2 of the Brno model released, v2 deployed; a window like the reference changes nothing, a window of
flats twice the size marks v2 bad and brings v1 back, both recorded in the registry."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "registry"))
# The registry tests' builder of releasable handoffs.
from handoffs import Handoff

from mlrelease.cli import main
from mlrelease.deploy.local import LocalTarget
from mlrelease.registry import open_backend
from mlrelease.serve.runner import free_port, request

MODEL = "brno-house-prices"


@dataclass
class Ran:
    exit_code: int
    output: str
    stdout: str


def run(*args: str) -> Ran:
    with CliRunner().isolation() as (stdout, _stderr, output):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return Ran(code, output.getvalue().decode(), stdout.getvalue().decode())


@dataclass
class Setup:
    handoff: Handoff
    registry: Path
    state: Path
    port: int
    root: Path

    def args(self) -> list[str]:
        return ["-c", str(self.handoff.root), "--registry", str(self.registry)]

    def serving(self) -> str:
        status, _, body = request(self.port, "GET", "/version")
        assert status == 200
        return str(json.loads(body)["version"])


def _window(source: Path, target: Path, scale: float) -> Path:
    """The first 600 rows of ``source`` with area_m2 times ``scale``."""
    with source.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[:600]
    for row in rows:
        row["area_m2"] = f"{float(row['area_m2']) * scale:.1f}"
    with target.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return target


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("monitor-rollback")
    handoff = Handoff.copy(root / "brno")
    s = Setup(handoff, root / "registry", root / "state", free_port(), root)
    for name in ("one", "two"):
        result = run("release", *s.args(), *handoff.build(name).args())
        assert result.exit_code == 0, result.output
    target = ["--runtime", "process", "--port", str(s.port), "--state-dir", str(s.state)]
    deployed = run("deploy", "v2", *s.args(), *target)
    assert deployed.exit_code == 0, deployed.output
    yield s
    LocalTarget(s.state, MODEL).down()


def _history(setup: Setup) -> list[tuple[str, int]]:
    return [(e.kind, e.version) for e in open_backend(setup.registry).events(MODEL) if e.kind != "released"]


def test_without_an_alert_nothing_is_marked_or_rolled_back(setup: Setup) -> None:
    reference = setup.handoff.root / "data" / "reference.csv"
    same = _window(reference, setup.root / "same.csv", 1.0)
    before = _history(setup)
    ran = run(
        "monitor", *setup.args(), "--current", str(same), "--rollback-on", "alert",
        "--state-dir", str(setup.state), "--json",
    )  # fmt: skip
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.stdout)["verdict"] != "alert"
    assert _history(setup) == before == [("deployed", 2)]
    assert setup.serving() == "v2"


def test_an_alert_marks_the_deployed_release_bad_and_rolls_back_to_the_previous(setup: Setup) -> None:
    reference = setup.handoff.root / "data" / "reference.csv"
    bigger = _window(reference, setup.root / "bigger.csv", 2.0)
    ran = run(
        "monitor", *setup.args(), "--current", str(bigger), "--rollback-on", "alert",
        "--state-dir", str(setup.state), "-o", str(setup.root / "report"),
    )  # fmt: skip
    assert ran.exit_code == 1, ran.output
    assert "brno-house-prices v2 monitor: drift alert:" in ran.output
    assert "area_m2 (alert)" in ran.output
    assert "marked bad, rolled back to v1" in ran.output
    assert setup.serving() == "v1"

    events = [e for e in open_backend(setup.registry).events(MODEL) if e.kind != "released"]
    assert [(e.kind, e.version, e.from_version) for e in events] == [
        ("deployed", 2, None),
        ("marked_bad", 2, None),
        ("rolled_back", 1, 2),
        ("superseded", 2, None),
    ]
    bad = events[1]
    assert bad.reason is not None and bad.reason.startswith("monitor: drift alert:")
    assert bad.target == "local"
    assert "area_m2" in bad.detail["drifted"]
    assert bad.detail["report"] == str(setup.root / "report" / "drift.json")
    assert events[2].reason == bad.reason
    table = json.loads(run("releases", *setup.args(), "--json").stdout)
    assert [(r["version"], r["status"]) for r in table] == [(2, "bad"), (1, "deployed: local")]


def test_rollback_on_without_a_registry_is_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLRELEASE_REGISTRY", raising=False)
    data = Path(__file__).resolve().parents[2] / "examples" / "survey" / "data" / "reference.csv"
    ran = run("monitor", "--current", str(data), "--reference", str(data), "--rollback-on", "alert")
    assert ran.exit_code == 2
    assert "--rollback-on needs the release registry, and none is configured" in ran.output
    assert "Traceback" not in ran.output


def test_rollback_on_with_nothing_deployed_is_bad_input(setup: Setup, tmp_path: Path) -> None:
    reference = setup.handoff.root / "data" / "reference.csv"
    ran = run(
        "monitor", *setup.args(), "--current", str(reference), "--rollback-on", "alert",
        "--state-dir", str(tmp_path / "empty"),
    )  # fmt: skip
    assert ran.exit_code == 2
    assert f"nothing of {MODEL} is deployed on local" in ran.output
