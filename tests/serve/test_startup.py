"""Start-up time by phase, in /version and the ready line; the skops model read in one pass."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import skops.io as sio
from servekit import REPO
from sklearn.tree import DecisionTreeClassifier

from mlrelease import config as cfgmod
from mlrelease.config import ModelConfig
from mlrelease.errors import ModelLoadError
from mlrelease.model import load_model
from mlrelease.serve import runner
from mlrelease.serve.service import load_service

CLASSIFIER = REPO / "tests" / "fixtures" / "eval-classification"
PHASES = ["imports", "model_load", "signature", "compile", "warm_up", "other"]


def test_version_and_the_ready_line_give_the_seconds_of_each_phase(start_server, example_cfg):
    server = start_server(example_cfg, load_service(example_cfg))
    _, _, raw = server.request("GET", "/version")
    startup = json.loads(raw)["startup_s"]
    assert list(startup) == [*PHASES, "total"]
    assert all(isinstance(v, float) and v >= 0 for v in startup.values())
    assert startup["compile"] > 0 and startup["warm_up"] > 0 and startup["model_load"] > 0
    assert startup["total"] == pytest.approx(sum(startup[p] for p in PHASES), abs=0.01)
    deadline = time.monotonic() + 5  # the writer thread writes log lines off the request path
    while not (ready := [ln for ln in server.stream.lines() if ln["message"].startswith("ready:")]):
        assert time.monotonic() < deadline, "no ready line in 5 s"
        time.sleep(0.02)
    assert ready[-1]["startup_phases_s"] == startup


def test_a_served_process_accounts_for_its_whole_start_from_the_process_start():
    port = runner.free_port()
    cmd = [sys.executable, "-m", "mlrelease", "serve", "-c", str(CLASSIFIER), "--port", str(port)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        runner.wait_ready(port, proc, timeout=120)
        wall = time.perf_counter() - t0
        _, _, raw = runner.request(port, "GET", "/version")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    startup = json.loads(raw)["startup_s"]
    assert list(startup) == ["python_and_cli", *PHASES, "total"]
    assert startup["python_and_cli"] > 0 and startup["imports"] > 0
    # the phases hold the process's whole start: no more than the parent saw, not much less
    assert startup["total"] <= wall + 0.05
    assert startup["total"] >= 0.5 * wall
    assert startup["total"] == pytest.approx(sum(v for k, v in startup.items() if k != "total"), abs=0.01)


@pytest.fixture(scope="module")
def tree_file(tmp_path_factory):
    """A model with a type outside skops' safe set (a fitted tree's node storage)."""
    path = tmp_path_factory.mktemp("skops") / "tree.skops"
    X = np.random.default_rng(0).normal(size=(50, 2))
    sio.dump(DecisionTreeClassifier(max_depth=2).fit(X, X[:, 0] > 0), path)
    return path


def skops_config(path, trusted: tuple[str, ...] = ()) -> ModelConfig:
    return ModelConfig(
        name="m", task="classification", artifact=path, format="skops", sha256=None, allow_pickle=False,
        trusted_types=trusted, entrypoint=None, target=None, id_column=None, features=None, version=None,
    )  # fmt: skip


def test_a_skops_model_with_an_untrusted_type_is_refused_with_its_name(tree_file):
    cfg = skops_config(tree_file)
    with pytest.raises(ModelLoadError) as err:
        load_model(cfg)
    assert "sklearn.tree._tree.Tree" in err.value.message and "model.trusted_types" in err.value.hint
    model = load_model(skops_config(tree_file, ("sklearn.tree._tree.Tree",)))
    assert model.estimator.predict(np.zeros((1, 2))).shape == (1,)


def test_a_corrupt_skops_file_is_a_load_error(tmp_path):
    path = tmp_path / "broken.skops"
    path.write_bytes(b"PK\x03\x04 not a zip")
    cfg = skops_config(path)
    with pytest.raises(ModelLoadError, match="not a readable skops file"):
        load_model(cfg)


def test_load_service_measures_each_phase_it_runs():
    cfg = cfgmod.load(str(CLASSIFIER))
    service = load_service(cfg)
    assert service.startup is not None and set(service.startup.phases) == {
        "imports",
        "model_load",
        "signature",
        "compile",
    }
