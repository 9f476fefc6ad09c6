"""`mlrelease release`, `releases`, `show`, `mark-bad` and `gate --baseline release:...` on a real handoff."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from handoffs import Handoff

from mlrelease.cli import main
from mlrelease.registry import open_backend

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Ran:
    exit_code: int
    output: str  # stdout and stderr interleaved
    stdout: str


def run(*args: str, env: dict[str, str] | None = None) -> Ran:
    """``mlrelease ARGS`` in this process through ``main``, so errors map to exit codes as for a user."""
    with CliRunner().isolation(env=env) as (stdout, _stderr, output):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return Ran(code, output.getvalue().decode(), stdout.getvalue().decode())


@pytest.fixture(scope="module")
def handoff(tmp_path_factory: pytest.TempPathFactory) -> Handoff:
    return Handoff.copy(tmp_path_factory.mktemp("handoff") / "brno")


def test_a_failed_gate_and_an_unpushed_image_are_refused_with_both_reasons(handoff: Handoff, tmp_path: Path):
    build = handoff.build("worse", rmse_factor=1.5, pushed=False)
    registry = str(tmp_path / "reg")
    result = run("release", "-c", str(handoff.root), "--registry", registry, *build.args())
    assert result.exit_code == 1, result.output
    assert "the gate did not pass" in result.output and "root_mean_squared_error" in result.output
    assert "was not pushed" in result.output and "--force --reason" in result.output
    assert "Traceback" not in result.output
    assert open_backend(registry).index("brno-house-prices").latest == 0  # nothing recorded

    forced = run("release", "-c", str(handoff.root), "--registry", registry, *build.args(), "--force")
    assert forced.exit_code == 2 and "--force needs --reason" in forced.output

    cfg = ["-c", str(handoff.root), "--registry", registry]
    ok = run("release", *cfg, *build.args(), "--force", "--reason", "hotfix")
    assert ok.exit_code == 0, ok.output
    record = open_backend(registry).get("brno-house-prices", 1)
    assert record.forced and "forced: hotfix" in record.forced and "gate did not pass" in record.forced


def test_release_show_diff_mark_bad_and_gate_against_a_release(handoff: Handoff, tmp_path: Path):
    registry = str(tmp_path / "reg")
    cfg = ["-c", str(handoff.root), "--registry", registry]
    first = run("release", *cfg, *handoff.build("one").args(), "--json")
    assert first.exit_code == 0, first.output
    v1 = json.loads(first.stdout)
    assert v1["version"] == 1 and v1["gate"]["verdict"] == "pass"
    assert v1["image"]["reference"] == "127.0.0.1:5000/brno-house-prices@sha256:" + "5e" * 32
    assert set(v1["artifacts"]) >= {"model", "lock", "golden", "metrics", "gate", "config", "predictions"}

    # v2: gated against release:v1 (read from the registry), one package bumped in the lock.
    lock = handoff.root / "requirements.txt"
    original = lock.read_text()
    try:
        lock.write_text(original.replace("numpy==", "numpy==9", 1))
        build = handoff.build("two", baseline="release:v1", registry=registry, rmse_factor=0.99)
        assert json.loads((build.gate / "gate.json").read_text())["baseline"]["release"] == "v1"
        second = run("release", *cfg, *build.args())
        assert second.exit_code == 0, second.output
    finally:
        lock.write_text(original)

    shown = run("show", "v2", *cfg, "--json")
    assert shown.exit_code == 0, shown.output
    diff = json.loads(shown.stdout)["diff"]
    assert diff["parent"] == 1
    assert [p["name"] for p in diff["packages"]] == ["numpy"]
    assert [m["name"] for m in diff["metrics"]] == ["root_mean_squared_error"]
    text = run("show", "2", *cfg).output
    assert "package numpy:" in text and "metric  root_mean_squared_error" in text
    assert "against release:v1" in text

    bad = run("mark-bad", "v2", *cfg, "--reason", "flags every row")
    assert bad.exit_code == 0, bad.output
    table = json.loads(run("releases", *cfg, "--json").stdout)
    assert [(r["version"], r["status"]) for r in table] == [(2, "bad"), (1, "released")]
    assert table[0]["headline_metric"] == "root_mean_squared_error" and table[0]["change"] < 0
    human = run("releases", *cfg)
    assert "v2" in human.output and "bad" in human.output

    missing = run("show", "v9", *cfg)
    assert missing.exit_code == 2 and "no such release" in missing.output
    nonsense = run("mark-bad", "banana", *cfg, "--reason", "x")
    assert nonsense.exit_code == 2 and "not a version" in nonsense.output


WRITER_START_DELAY_S = 4.0


@pytest.mark.parametrize("kind", ["directory", "oci"])
def test_two_release_commands_at_once_get_distinct_versions(handoff: Handoff, tmp_path: Path, request, kind):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    if kind == "directory":
        registry = str(tmp_path / "reg")
    else:
        reg = request.getfixturevalue("registry_auth")
        registry = f"oci+http://{reg.host}/concurrent{os.getpid()}"
        env.update(MLRELEASE_REGISTRY_USERNAME=reg.username, MLRELEASE_REGISTRY_PASSWORD=reg.password)
    build = handoff.build(f"race-{kind}")
    start = time.time() + WRITER_START_DELAY_S
    code = (
        "import time,sys; from mlrelease.cli import main\n"
        f"time.sleep(max(0, {start} - time.time())); main(sys.argv[1:])"
    )
    argv = [sys.executable, "-c", code, "release", "-c", str(handoff.root), "--registry", registry]
    argv += build.args()
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    procs = [subprocess.Popen(argv, env=env, text=True, **pipes) for _ in "ab"]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    said = sorted(out.split()[2] for out, _ in outs)  # "released brno-house-prices vN to ..."
    assert said == ["v1", "v2"]
    backend = open_backend(
        registry,
        username=env.get("MLRELEASE_REGISTRY_USERNAME"),
        password=env.get("MLRELEASE_REGISTRY_PASSWORD"),
    )
    assert [e.version for e in backend.events("brno-house-prices") if e.kind == "released"] == [1, 2]
