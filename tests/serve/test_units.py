"""Pieces of the server on their own: the batcher's error isolation, validation, a model fitted
on a plain array (served from an array, and through a v2 [rows, columns] tensor)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlrelease.config import BatchingConfig
from mlrelease.serve.batching import Batcher, ModelFailed
from mlrelease.serve.schema import BadRequest, Validator
from mlrelease.signature import infer_signature


def _predict(columns: dict[str, list]) -> np.ndarray:
    """Doubles x; raises on a poisoned value, as a model does on input it cannot take."""
    if -1 in columns["x"]:
        raise ValueError("x must not be -1")
    return np.array(columns["x"], dtype=float) * 2


def test_batcher_gathers_concurrent_requests_and_isolates_a_failing_one():
    calls: list[int] = []
    batcher = Batcher(
        _predict,
        lambda c, p: [[] for _ in p],
        BatchingConfig(max_wait_ms=2, max_rows=64),
        lambda r, n, s: calls.append(r),
    )

    async def main() -> list:
        return await asyncio.gather(
            *(batcher.submit({"x": [i]}, 1) for i in [1, 2, -1, 4, 5, 6]), return_exceptions=True
        )

    out = asyncio.run(main())
    batcher.close()
    assert [a.predictions for a in out if not isinstance(a, BaseException)] == [
        [2.0],
        [4.0],
        [8.0],
        [10.0],
        [12.0],
    ]
    assert isinstance(out[2], ModelFailed) and "must not be -1" in str(out[2])
    assert max(calls) > 1, "requests submitted together should share a model call"


def test_batcher_respects_max_rows():
    sizes: list[int] = []
    batcher = Batcher(
        _predict, lambda c, p: [[] for _ in p], BatchingConfig(max_rows=4), lambda r, n, s: sizes.append(n)
    )

    async def main() -> list:
        return await asyncio.gather(*(batcher.submit({"x": [i, i]}, 2) for i in range(10)))

    out = asyncio.run(main())
    batcher.close()
    assert [a.predictions for a in out] == [[2.0 * i, 2.0 * i] for i in range(10)]
    assert max(sizes) <= 4


def test_fast_predicts_run_on_the_event_loop_slow_ones_in_the_worker(example_service):
    """A predict measured under inline_max_ms runs on the event loop thread when the server is
    idle; one measured slower, or not measured yet, goes to the worker thread."""
    import threading
    import time

    from mlrelease.config import ServingConfig
    from mlrelease.serve.app import Features, ServerApp

    seen: list[str] = []

    def predict(columns: dict[str, list]) -> np.ndarray:
        seen.append(threading.current_thread().name)
        if len(columns["x"]) > 1:
            time.sleep(0.01)  # a 10 ms predict: too slow for the event loop
        return _predict(columns)

    batcher = Batcher(predict, lambda c, p: [[] for _ in p], BatchingConfig(inline_max_ms=1))
    assert asyncio.run(batcher.submit({"x": [3]}, 1)).predictions == [6.0]
    assert seen[-1].startswith("mlrelease-predict")  # first time: not measured, so the worker
    assert batcher.fast(1)
    asyncio.run(batcher.submit({"x": [4]}, 1))
    assert seen[-1] == "MainThread"
    batcher.warm({"x": [1, 2]}, 2)
    assert not batcher.fast(2)
    asyncio.run(batcher.submit({"x": [1, 2]}, 2))
    assert seen[-1].startswith("mlrelease-predict")
    batcher.close()

    never = Batcher(predict, lambda c, p: [[] for _ in p], BatchingConfig(inline_max_ms=0))
    for _ in range(2):
        asyncio.run(never.submit({"x": [3]}, 1))
        assert seen[-1].startswith("mlrelease-predict")
    never.close()

    # another client sent a request just now: the worker takes it, so the loop can read theirs
    chosen = Batcher(predict, lambda c, p: [[] for _ in p], BatchingConfig(inline_max_ms=1))
    chosen.warm({"x": [1]}, 1)
    asyncio.run(chosen.submit({"x": [3]}, 1, source=("127.0.0.1", 5001)))
    assert seen[-1] == "MainThread"
    asyncio.run(chosen.submit({"x": [3]}, 1, source=("127.0.0.1", 5002)))
    assert seen[-1].startswith("mlrelease-predict")
    chosen.close()

    for inline, limit in ((False, 0.0), (True, float("inf")), (None, 0.001)):
        app = ServerApp(example_service, ServingConfig(), features=Features(inline=inline))
        assert app.batcher.inline_max == limit
        app.shutdown()


def test_a_connection_is_alone_until_another_sends_within_the_window():
    import time

    from mlrelease.serve.batching import ALONE_S

    batcher = Batcher(_predict, lambda c, p: [[] for _ in p], BatchingConfig())
    a, b = ("127.0.0.1", 1), ("127.0.0.1", 2)
    assert batcher.alone(None) and batcher.alone(a) and batcher.alone(a)
    assert not batcher.alone(b) and not batcher.alone(a)
    batcher.last_seen[b] = time.monotonic() - 2 * ALONE_S  # b went quiet
    assert batcher.alone(a) and b not in batcher.last_seen  # and is forgotten
    batcher.close()


def test_validator_lists_every_problem_and_normalises_values(example_service):
    v = Validator(example_service.signature, max_rows=10)
    row = {"area_m2": 70, "rooms": 3.0, "floor": 1, "year_built": 1990, "distance_to_centre_km": 2}
    cols = v.records([{**row, "district": "Líšeň", "energy_class": "B", "has_balcony": 1, "has_elevator": 0}])
    assert cols["area_m2"] == [70.0] and cols["rooms"] == [3] and type(cols["rooms"][0]) is int
    with pytest.raises(BadRequest) as exc:
        v.records([{"area_m2": float("inf")}, "row"])
    problems = exc.value.problems
    assert exc.value.status == 422
    assert {(p["row"], p["field"]) for p in problems} >= {(0, "area_m2"), (0, "rooms"), (1, None)}
    with pytest.raises(BadRequest) as exc:
        v.records([{}] * 11)
    assert exc.value.status == 413


@pytest.fixture(scope="module")
def numeric_handoff(tmp_path_factory) -> Path:
    """A handoff whose model was fitted on a numpy array of 3 numeric features."""
    import skops.io as sio
    from sklearn.ensemble import HistGradientBoostingRegressor

    root = tmp_path_factory.mktemp("serve-numeric")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"a": rng.normal(0, 1, 400), "b": rng.normal(5, 2, 400), "c": rng.integers(0, 9, 400)}
    )
    frame["y"] = frame.a * 3 + frame.b + rng.normal(0, 0.1, 400)
    model = HistGradientBoostingRegressor(max_iter=20, random_state=0).fit(
        frame[["a", "b", "c"]].to_numpy(), frame.y
    )
    (root / "model").mkdir()
    sio.dump(model, root / "model" / "model.skops")
    frame.to_csv(root / "data.csv", index=False)
    config = {
        "version": 1,
        "model": {
            "name": "numeric",
            "task": "regression",
            "artifact": "model/model.skops",
            "target": "y",
            "features": ["a", "b", "c"],
            "trusted_types": ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"],
        },
        "validation": {"data": "data.csv"},
    }
    (root / "mlrelease.yaml").write_text(yaml.safe_dump(config))
    (root / "requirements.in").write_text("scikit-learn\n")
    return root


def test_array_model_is_served_from_an_array_and_a_v2_matrix(numeric_handoff, start_server):
    from mlrelease import config as cfgmod
    from mlrelease.serve.service import load_service

    cfg = cfgmod.load(str(numeric_handoff))
    service = load_service(cfg)
    assert service.array_input
    data = pd.read_csv(numeric_handoff / "data.csv").head(3)
    expected = service.model.estimator.predict(data[["a", "b", "c"]].to_numpy()).tolist()
    server = start_server(cfg, service)
    matrix = data[["a", "b", "c"]].to_numpy().tolist()
    body = {"inputs": [{"name": "input-0", "shape": [3, 3], "datatype": "FP32", "data": matrix}]}
    status, answer, _ = server.post("/v2/models/numeric/infer", body)
    assert status == 200, answer
    assert answer["outputs"][0]["data"] == pytest.approx(expected)
    status, answer, _ = server.post("/v1/models/numeric:predict", {"instances": matrix})
    assert status == 200 and answer["predictions"] == pytest.approx(expected)
    bad = {"inputs": [{"name": "input-0", "shape": [3, 2], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]}]}
    status, answer, _ = server.post("/v2/models/numeric/infer", bad)
    assert status == 400 and "[rows, 3]" in answer["error"]


def test_signature_inferred_without_evaluate_records_prediction_spread(example_service):
    sig = example_service.signature
    assert sig.prediction is not None and sig.prediction.max > sig.prediction.min > 0
    assert replace(sig, prediction=None) == infer_signature(
        pd.read_csv(Path(__file__).resolve().parents[2] / "examples/brno-houses/data/reference.csv"),
        sig.names,
        target="price",
        task="regression",
    )
