"""`mlrelease serve` as a real process: start-up time, SIGTERM without lost log lines, the smoke
check, and the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import yaml
from click.testing import CliRunner
from servekit import EXAMPLE, payload

from mlrelease.cli import cli
from mlrelease.serve import runner


def handoff_with_log_file(tmp_path: Path, **serving: object) -> Path:
    """The example handoff's config, pointing at the example's files, with a JSONL log file."""
    raw = yaml.safe_load((EXAMPLE / "mlrelease.yaml").read_text("utf-8"))
    raw["model"]["artifact"] = str(EXAMPLE / raw["model"]["artifact"])
    raw["validation"]["data"] = str(EXAMPLE / raw["validation"]["data"])
    raw["validation"]["reference"] = str(EXAMPLE / raw["validation"]["reference"])
    raw["notebooks"] = [str(EXAMPLE / "notebooks" / "*.ipynb")]
    raw["requirements"] = str(EXAMPLE / "requirements.in")
    raw["trust"] = {
        "outside_paths": [
            "model.artifact",
            "validation.data",
            "validation.reference",
            "notebooks",
            "requirements",
        ]
    }
    raw["serving"] = {
        **raw.get("serving", {}),
        "logging": {"file": str(tmp_path / "requests.jsonl")},
        **serving,
    }
    path = tmp_path / "mlrelease.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
    return path


def start(config: Path, port: int) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "mlrelease",
        "serve",
        "-c",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )


def test_sigterm_writes_every_request_line_to_stdout_and_file(tmp_path):
    config = handoff_with_log_file(tmp_path)
    port = runner.free_port()
    proc = start(config, port)
    try:
        t0 = time.perf_counter()
        runner.wait_ready(port, proc, timeout=60)
        ready_s = time.perf_counter() - t0
        rows = payload("native.json")
        sent = 0
        lock = threading.Lock()

        traces: list[str] = []

        def client(c: int, n: int) -> None:
            nonlocal sent
            for i in range(n):
                trace = f"{c:08x}{i:024x}"  # one trace id per request, to count each line
                headers = {"X-Cloud-Trace-Context": f"{trace}/1;o=1"}
                status, _, _ = runner.request(port, "POST", "/predict", rows, headers)
                assert status == 200
                with lock:
                    sent += 1
                    traces.append(trace)

        threads = [threading.Thread(target=client, args=(c, 40)) for c in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        proc.send_signal(signal.SIGTERM)  # right after the last answer: lines may still be queued
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode in (0, -signal.SIGTERM), err.decode()  # uvicorn re-raises SIGTERM after shutdown
    assert sent == 240
    stdout_lines = [json.loads(ln) for ln in out.decode().splitlines() if ln.strip()]
    file_lines = [json.loads(ln) for ln in (tmp_path / "requests.jsonl").read_text("utf-8").splitlines()]
    for lines in (stdout_lines, file_lines):
        requests = [ln for ln in lines if ln["logging.googleapis.com/labels"]["event"] == "request"]
        assert len(requests) == sent
        logged = Counter(ln["logging.googleapis.com/trace"] for ln in requests)
        assert logged == Counter(traces), "lost or doubled lines: " + str(
            {t: logged[t] for t in set(traces) | set(logged) if logged[t] != 1}
        )
        assert all(ln["httpRequest"]["status"] == 200 and len(ln["predictions"]) == 2 for ln in requests)
        assert lines[-1]["message"] == "stopped"
    for ln in err.decode().splitlines():  # uvicorn's own messages are JSON lines too
        assert "severity" in json.loads(ln)
    assert ready_s < 30, f"start-up to ready took {ready_s:.1f} s"  # bench_serving.py measures the 3 s target


def test_smoke_check_flags_the_absurd_house_and_stops_the_server():
    result = CliRunner().invoke(
        cli, ["serve", "--smoke", "--json", "-c", str(EXAMPLE)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] and not report["failures"]
    predict = report["exchanges"][0]
    assert predict["path"] == "/predict" and predict["status"] == 200
    last = predict["rows"] - 1
    assert any(f.startswith("input_far:") for f in predict["answer"]["flags"][last])
    assert report["outlier_logs"][0]["severity"] == "WARNING"


def test_serve_help_and_bad_config_exit_2(tmp_path):
    runner_ = CliRunner()
    result = runner_.invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0 and "--signature" in result.output and "--smoke" in result.output
    proc = subprocess.run(
        [sys.executable, "-m", "mlrelease", "serve", "-c", str(tmp_path / "missing.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "error:" in proc.stderr


def test_signature_file_is_used_when_given(tmp_path, example_service):
    from mlrelease import config as cfgmod
    from mlrelease.serve.service import load_service

    sig = example_service.signature
    path = tmp_path / "signature.json"
    sig.write(path)
    service = load_service(cfgmod.load(str(EXAMPLE)), path)
    assert service.signature == sig


def test_version_from_environment_when_config_has_none(monkeypatch, example_cfg, example_service):
    from mlrelease.serve.service import model_version

    monkeypatch.setenv("MLRELEASE_MODEL_VERSION", "2026.11.27-rc1")
    assert model_version(example_cfg, example_service.model) == "2026.11.27-rc1"
    monkeypatch.delenv("MLRELEASE_MODEL_VERSION")
    assert model_version(example_cfg, example_service.model) == example_service.model.sha256[:12]


def test_server_imports_only_what_its_requirements_list():
    """The image installs serve/requirements.in beside the model's packages: the server's import
    chain must stay inside it (no rich, no click outside the CLI, no dev packages)."""
    code = (
        "import sys; import mlrelease.serve.app, mlrelease.serve.runner; "
        "print('\\n'.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    for banned in ("rich", "click", "httpx", "fastapi", "starlette", "google", "hypothesis"):
        assert banned not in out, banned
    allowed = {"config", "errors", "model", "signature", "artifacts", "dataset", "serve"}
    code_own = (
        "import sys; import mlrelease.serve.app, mlrelease.serve.runner; "
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('mlrelease.'))))"
    )
    mods = subprocess.run(
        [sys.executable, "-c", code_own], capture_output=True, text=True, check=True
    ).stdout.split()
    assert {m.split(".")[1] for m in mods} <= allowed, mods
