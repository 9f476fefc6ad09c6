"""Windows from the server's own request logs, CSV, Parquet and folders of JSONL."""

from __future__ import annotations

import io
import json
import os
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlrelease import config as cfgmod
from mlrelease.config import LoggingConfig
from mlrelease.errors import DataError
from mlrelease.monitor import sources
from mlrelease.monitor.run import monitor
from mlrelease.monitor.sources import read_window

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "brno-houses"


@pytest.fixture(scope="module")
def server_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Request logs written by the real server (uvicorn, the example's model) for 200 ordinary
    rows, one absurd row, and one refused request."""
    import uvicorn

    from mlrelease.serve import runner
    from mlrelease.serve.app import ServerApp
    from mlrelease.serve.service import load_service

    log = tmp_path_factory.mktemp("logs") / "requests.jsonl"
    cfg = cfgmod.load(str(EXAMPLE))
    serving = replace(cfg.serving, logging=LoggingConfig(sample_rate=1.0, file=log))
    app = ServerApp(load_service(cfg), serving, log_stream=io.StringIO())
    port = runner.free_port()
    server = uvicorn.Server(runner.uvicorn_config(app, "127.0.0.1", port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        runner.wait_ready(port, timeout=30)
        rows = (
            pd.read_csv(EXAMPLE / "data" / "validation.csv").drop(columns=["listing_id", "price"]).head(200)
        )
        for start in (0, 100):
            body = json.loads(rows.iloc[start : start + 100].to_json(orient="records"))
            assert runner.request(port, "POST", "/predict", body)[0] == 200
        absurd = dict(body[0], area_m2=40_000.0, rooms=400)
        assert runner.request(port, "POST", "/predict", [absurd])[0] == 200
        assert runner.request(port, "POST", "/predict", [{"area_m2": "big"}])[0] in (400, 422)
    finally:
        server.should_exit = True
        thread.join(15)
    return log


def test_the_servers_request_lines_become_rows_with_predictions_and_flags(server_log: Path) -> None:
    w = read_window(server_log)
    assert w.from_logs and w.rows == 201
    assert {"area_m2", "district", "prediction"} <= set(w.columns)
    assert w.columns["area_m2"].dtype == np.float64 and w.columns["district"].dtype == object
    assert w.flags is not None and not any(w.flags[:200])
    assert any(f.startswith("input_far:area_m2") for f in w.flags[200])
    assert w.skipped.get("refused requests") == 1
    assert w.times is not None and w.times[0].endswith("Z")


def test_monitor_on_server_logs_lists_the_absurd_row_first(server_log: Path) -> None:
    cfg = cfgmod.load(str(EXAMPLE))
    result = monitor(server_log, cfg=cfg)
    assert result.reference["source"].endswith("reference.csv")
    names = [c.name for c in result.overall.columns]
    assert "prediction" in names and "listing_id" not in names and "price" not in names
    assert result.outliers is not None and result.outliers.flagged == 1
    assert result.outliers.worst[0]["row"] == 200
    assert result.outliers.worst[0]["input"]["area_m2"] == 40_000.0
    assert [s.name for s in result.slices] == ["city-centre", "panel-estates", "new-builds"]
    # 200 rows of the validation set are the reference's own distribution
    assert result.overall.verdict == "ok", [(c.name, c.reason) for c in result.overall.columns]


def _frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    f = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "income": rng.lognormal(10, 1, n),
            "region": rng.choice(["north", "south", "east"], n),
        }
    )
    f.loc[::17, "income"] = np.nan
    f.loc[::23, "region"] = None
    return f


def test_csv_parquet_and_a_folder_of_jsonl_give_the_same_window(tmp_path: Path, monkeypatch) -> None:
    frame = _frame(1000)
    frame.to_csv(tmp_path / "w.csv", index=False)
    frame.to_parquet(tmp_path / "w.parquet", row_group_size=128)
    (tmp_path / "logs").mkdir()
    for part in range(3):
        chunk = frame.iloc[part * 334 : (part + 1) * 334]
        (tmp_path / "logs" / f"part-{part}.jsonl").write_text(
            "\n".join(json.dumps(r) for r in json.loads(chunk.to_json(orient="records"))) + "\n"
        )
    monkeypatch.setattr(sources, "BATCH_ROWS", 100)  # many batches per file
    windows = [read_window(tmp_path / p) for p in ("w.csv", "w.parquet", "logs")]
    for w in windows:
        assert w.rows == 1000
        np.testing.assert_array_equal(w.columns["age"], frame["age"].to_numpy(dtype=float))
        np.testing.assert_allclose(
            w.columns["income"], frame["income"].to_numpy(), equal_nan=True, rtol=1e-12
        )
        assert list(w.columns["region"][:3]) == [None, *frame["region"][1:3]]
        assert sum(v is None for v in w.columns["region"]) == frame["region"].isna().sum()


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("w.txt", "a,b\n1,2\n", "expected .csv, .parquet or .jsonl"),
        ("w.jsonl", '{"a": 1}\n{"a": \n', "w.jsonl:2: not a JSON line"),
        ("w.jsonl", "[1, 2]\n", "w.jsonl:1: expected a JSON object"),
        ("w.csv", "a,b\n", "no rows"),
        ("w.parquet", "not parquet", "cannot read as Parquet"),
    ],
)
def test_bad_files_name_the_file_and_line(tmp_path: Path, name: str, content: str, expected: str) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(DataError, match=expected.replace(".", r"\.").replace("[", r"\[")):
        read_window(tmp_path / name)


def test_logs_without_sampled_inputs_say_how_to_get_them(tmp_path: Path) -> None:
    line = {
        "logging.googleapis.com/labels": {"event": "request"},
        "sampled": False,
        "rows": 3,
    }
    (tmp_path / "r.jsonl").write_text(json.dumps(line) + "\n")
    with pytest.raises(DataError) as err:
        read_window(tmp_path / "r.jsonl")
    assert "sample_rate" in err.value.render()


MEASURE = """
import sys
import pyarrow as pa
from pathlib import Path
from mlrelease.monitor.sources import read_window
w = read_window(Path(sys.argv[1]))
assert w.rows == int(sys.argv[2])
print(pa.default_memory_pool().max_memory())
"""


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_memory_for_reading_stays_flat_as_the_window_grows(tmp_path: Path, suffix: str) -> None:
    """Arrow's peak allocation while reading 1.6M rows is about what 200k rows take."""
    import subprocess
    import sys

    peaks = []
    for n in (200_000, 1_600_000):
        rng = np.random.default_rng(0)
        frame = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(4)})
        path = tmp_path / f"w{n}{suffix}"
        if suffix == ".parquet":
            frame.to_parquet(path, row_group_size=50_000)
        else:
            frame.to_csv(path, index=False, float_format="%.6f")
        proc = subprocess.run(
            [sys.executable, "-c", MEASURE, str(path), str(n)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        )
        peaks.append(int(proc.stdout.strip()))
    table_bytes = 1_600_000 * 4 * 8  # 51 MB as Arrow float64 columns
    print(f"{suffix}: Arrow peak {peaks[0] / 1e6:.1f} MB at 200k rows, {peaks[1] / 1e6:.1f} MB at 1.6M")
    assert peaks[1] < 1.5 * peaks[0] + 2_000_000
    assert peaks[1] < table_bytes / 3


def test_a_past_window_of_logs_is_a_reference_too(server_log: Path, tmp_path: Path) -> None:
    """Week over week: both sides are request logs, predictions included, no model needed."""
    (tmp_path / "last-week").mkdir()
    (tmp_path / "last-week" / "requests.jsonl").write_bytes(server_log.read_bytes())
    result = monitor(server_log, reference=tmp_path / "last-week")
    by = {c.name: c for c in result.overall.columns}
    assert by["prediction"].role == "prediction" and by["prediction"].kind == "numeric"
    assert by["prediction"].ks_statistic == 0.0 and result.verdict == "ok"


def _parquet_pair(tmp_path: Path, n: int, k: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(k)
    ref = pd.DataFrame({f"x{i:02d}": rng.normal(size=n) for i in range(k)})
    cur = pd.DataFrame({f"x{i:02d}": rng.normal(1.0 if i == 0 else 0.0, size=n) for i in range(k)})
    paths = tmp_path / f"ref{k}.parquet", tmp_path / f"cur{k}.parquet"
    for frame, path in zip((ref, cur), paths, strict=True):
        frame.to_parquet(path, row_group_size=100_000)
    return paths


def test_parquet_windows_without_a_config_give_the_statistics_of_the_whole_window(tmp_path: Path) -> None:
    from mlrelease.monitor.analyse import analyse
    from mlrelease.monitor.drift import Settings

    ref, cur = _parquet_pair(tmp_path, 20_000, 5)
    lazy = monitor(cur, reference=ref)
    assert isinstance(sources.lazy_parquet(cur).columns, sources.ParquetColumns)  # type: ignore[union-attr]
    whole = analyse(read_window(ref), read_window(cur), settings=Settings())
    got, want = lazy.to_dict(), whole.to_dict()
    for d in (got, want):
        d.pop("created")
    assert got == want
    assert lazy.drifted and lazy.drifted[0].name == "x00"


def test_parquet_windows_are_compared_a_column_at_a_time(tmp_path: Path) -> None:
    """Four times the columns, about the same peak: no window is ever held whole."""
    import tracemalloc

    peaks = []
    for k in (8, 32):
        ref, cur = _parquet_pair(tmp_path, 300_000, k)
        tracemalloc.start()
        try:
            result = monitor(cur, reference=ref)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        assert len(result.overall.columns) == k
    window = 300_000 * 32 * 8  # 77 MB: one window of 32 float64 columns
    print(f"numpy peak {peaks[0] / 1e6:.0f} MB for 8 columns, {peaks[1] / 1e6:.0f} MB for 32")
    assert peaks[1] < 1.5 * peaks[0]
    assert peaks[1] < window
