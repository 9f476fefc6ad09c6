"""Serve the survey model and send it the seniors' requests: ``logs/requests.jsonl``.

    python generate_traffic.py      # needs data/ and model/ (generate_data.py, train.py)

The model server runs here as in production (uvicorn on 127.0.0.1, a free port) and logs one
Cloud Logging JSON line per request to ``serving.logging.file``. The requests are the rows of
``data/seniors.csv`` (respondents aged 60 to 85), 25 per request, in file order, so the logged
inputs and predictions are the same every run (only times and latencies differ). Then:

    mlrelease monitor -c . --current logs/requests.jsonl -o report
"""

from __future__ import annotations

import io
import json
import sys
import threading
from pathlib import Path

import pandas as pd

from mlrelease import config
from mlrelease.serve import runner
from mlrelease.serve.app import ServerApp
from mlrelease.serve.service import load_service

HERE = Path(__file__).parent
ROWS_PER_REQUEST = 25


def main() -> int:
    import uvicorn

    cfg = config.load(str(HERE))
    log = cfg.serving.logging.file
    assert log is not None
    log.unlink(missing_ok=True)  # this script's own output: a fresh window each run
    app = ServerApp(load_service(cfg), cfg.serving, log_stream=io.StringIO())
    port = runner.free_port()
    server = uvicorn.Server(runner.uvicorn_config(app, "127.0.0.1", port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        runner.wait_ready(port, timeout=60)
        seniors = pd.read_csv(HERE / "data" / "seniors.csv")
        rows = json.loads(seniors[["respondent_id", *cfg.model.features]].to_json(orient="records"))
        for start in range(0, len(rows), ROWS_PER_REQUEST):
            status, _, body = runner.request(port, "POST", "/predict", rows[start : start + ROWS_PER_REQUEST])
            if status != 200:
                print(f"request {start // ROWS_PER_REQUEST}: HTTP {status}: {body[:200]!r}", file=sys.stderr)
                return 1
    finally:
        server.should_exit = True
        thread.join(30)
    print(f"{log}: {sum(1 for _ in log.open())} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
