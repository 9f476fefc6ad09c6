"""On an NVIDIA GPU, on the host: the probe script that ``test-image --gpu`` runs inside the
container reads the real device when run here, and a PyTorch model given as code is served from
CUDA with the answers it gives on the CPU.

What this does not cover: no test here builds the CUDA Dockerfile or runs ``mlrelease test-image
--gpu`` against a container on a device, so the image's CUDA runtime and the engine's GPU runtime
are not exercised.

Deselected by default (pyproject's addopts say ``-m "not gpu"``); on a machine with a GPU and
PyTorch built for CUDA, run ``pytest -m gpu tests/gpu``. There a missing GPU or PyTorch fails.
"""

from __future__ import annotations

import importlib.util
import io
import json
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlrelease import config as cfgmod
from mlrelease.serve import runner
from mlrelease.serve.app import ServerApp
from mlrelease.serve.service import load_service

pytestmark = pytest.mark.gpu
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "serve-torch"
FEATURES = ["x1", "x2", "x3"]


def fixture_module():
    spec = importlib.util.spec_from_file_location("serve_torch_model", FIXTURE / "model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_gpu_probe_script_reads_the_device_on_the_host():
    """The script `mlrelease test-image --gpu` runs inside the container, run here on the host."""
    import torch

    from mlrelease.image.container import _GPU
    from mlrelease.image.verify import GpuReport

    out = subprocess.run([sys.executable, "-c", _GPU], capture_output=True, text=True, check=True)
    report = GpuReport(**json.loads(out.stdout))
    assert report.ok, report.problems()
    assert report.nvidia_smi is not None and report.nvidia_smi.startswith("GPU 0:")
    assert report.devices == torch.cuda.device_count() >= 1
    assert report.torch == torch.__version__ and report.problems() == []


def test_a_pytorch_model_is_served_from_cuda_with_its_cpu_answers(monkeypatch):
    import torch
    import uvicorn

    monkeypatch.setenv("MODEL_DEVICE", "cuda")
    cfg = cfgmod.load(str(FIXTURE))
    service = load_service(cfg)
    assert service.model.estimator.device.type == "cuda" and torch.cuda.memory_allocated() > 0
    assert not service.compiled.compiled  # no trees: served through its own predict
    app = ServerApp(service, cfg.serving, log_stream=io.StringIO())
    port = runner.free_port()
    server = uvicorn.Server(runner.uvicorn_config(app, "127.0.0.1", port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        runner.wait_ready(port, timeout=60)
        rows = pd.read_csv(FIXTURE / "data" / "validation.csv")[FEATURES]
        cpu = fixture_module().Net("cpu").predict(rows)

        status, _, body = runner.request(port, "POST", "/predict", rows.head(64).to_dict("records"))
        assert status == 200, body
        np.testing.assert_allclose(json.loads(body)["predictions"], cpu[:64], rtol=1e-9)

        def one(i: int) -> float:  # concurrent one-row requests: batched on the GPU, routed back
            status, _, body = runner.request(port, "POST", "/predict", rows.iloc[[i]].to_dict("records"))
            assert status == 200, body
            return json.loads(body)["predictions"][0]

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(one, range(len(rows))))
        np.testing.assert_allclose(answers, cpu, rtol=1e-9)
        status, _, body = runner.request(port, "GET", "/metrics")
        assert status == 200 and b"mlrelease_batch_rows" in body
    finally:
        server.should_exit = True
        thread.join(30)
