"""Is the running server the release, and does it give the release's golden predictions?"""

from __future__ import annotations

import json
import time
from pathlib import Path

from mlrelease.errors import CheckFailed
from mlrelease.image.verify import Tolerance, chunks, compare_predictions, read_golden
from mlrelease.registry import Release
from mlrelease.serve.runner import request

GOLDEN_TOLERANCE = Tolerance()  # what test-image holds the image to


def wait_ready(port: int, timeout: float = 120, alive: object = None) -> float:
    """Seconds until ``/readyz`` answers 200 on 127.0.0.1:``port``; ``alive()`` False stops early."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if callable(alive) and not alive():
            raise CheckFailed(f"the server on port {port} exited before it was ready")
        try:
            if request(port, "GET", "/readyz", timeout=2)[0] == 200:
                return time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(0.05)
    raise CheckFailed(f"the server on port {port} was not ready after {timeout:.0f} s")


def check_version(port: int, release: Release) -> dict[str, object]:
    """The server's /version names the release's model, version and model sha256."""
    status, _, body = request(port, "GET", "/version", timeout=10)
    if status != 200:
        raise CheckFailed(f"GET /version on port {port} answered {status}")
    info: dict[str, object] = json.loads(body)
    wrong = [
        f"{key} is {info.get(key)!r}, not {want!r}"
        for key, want in (
            ("model", release.model),
            ("version", release.tag),
            ("sha256", release.model_sha256),
        )
        if info.get(key) != want
    ]
    if wrong:
        raise CheckFailed(
            f"the server on port {port} is not {release.model} {release.tag}: " + "; ".join(wrong)
        )
    return info


def check_golden(port: int, golden: Path) -> int:
    """Send the golden rows to /predict; every prediction must match. Returns the number of rows."""
    records, expected, row_ids = read_golden(golden)
    got: list[object] = []
    for body in chunks(records):
        status, _, answer = request(port, "POST", "/predict", body=body.encode(), timeout=60)
        if status != 200:
            raise CheckFailed(f"POST /predict of the golden rows answered {status}: {answer[:300]!r}")
        got += json.loads(answer)["predictions"]
    diffs, max_abs = compare_predictions(expected, got, row_ids, GOLDEN_TOLERANCE)
    if diffs:
        first = diffs[0]
        raise CheckFailed(
            f"{len(diffs)} of {len(records)} golden rows differ (max |diff| {max_abs:.6g}); "
            f"row {first.row_id}: expected {first.expected}, got {first.got}"
        )
    return len(records)
