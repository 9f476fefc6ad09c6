"""Golden rows of a classifier carry its class probabilities, and the image test's comparison
fails a server whose probabilities moved beyond the tolerance while its labels stayed the same.

The served models are real: the fixture's LogisticRegression, and the same model with its
logits scaled by 1.5 (every argmax, so every label, unchanged; every probability sharper),
each behind uvicorn on a real socket, answering the golden rows as test-image sends them."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest
from servekit import REPO

from mlrelease import config as cfgmod
from mlrelease.errors import CheckFailed
from mlrelease.evaluate import evaluate
from mlrelease.image import verify
from mlrelease.serve.service import Service, load_service

FIXTURE = REPO / "tests" / "fixtures" / "eval-classification"


@pytest.fixture(scope="module")
def cfg():
    return cfgmod.load(str(FIXTURE))


@pytest.fixture(scope="module")
def golden_path(cfg, tmp_path_factory) -> object:
    out = tmp_path_factory.mktemp("clf-eval")
    evaluate(cfg, latency_samples=20).write(out)
    return out / "golden.parquet"


def sharper(service: Service) -> Service:
    """The same classifier with its logits times 1.5: the same labels, other probabilities."""
    est = copy.deepcopy(service.model.estimator)
    est.coef_ = est.coef_ * 1.5
    est.intercept_ = est.intercept_ * 1.5
    model = copy.copy(service.model)
    model.estimator = est
    return Service(service.name, service.version, model, service.signature, service.task, probabilities=True)


def replay(server, golden: verify.Golden) -> dict:
    """What test-image sends and reads back, in its chunks."""
    answer: dict = {"predictions": [], "probabilities": [], "classes": None}
    for chunk in verify.chunks(golden.records):
        body = json.loads(f'{{"records":{chunk},"probabilities":true}}')
        status, got, _ = server.post("/predict", body)
        assert status == 200, got
        answer["predictions"] += got["predictions"]
        answer["probabilities"] += got["probabilities"]
        answer["classes"] = got["classes"]
    return answer


def test_evaluate_writes_each_class_probability_into_the_golden_rows(cfg, golden_path):
    golden = verify.load_golden(golden_path)
    assert list(golden.proba.columns) == ["proba:high", "proba:low", "proba:mid"]
    assert all(set(r) == {"x1", "x2"} for r in golden.records)  # probabilities are no inputs
    model = load_service(cfg).model
    frame = pd.DataFrame(golden.records)
    assert np.array_equal(golden.proba.to_numpy(), model.predict_proba(frame))
    assert golden.predictions.tolist() == model.predict(frame).tolist()


def test_the_same_model_passes_and_sharper_probabilities_with_the_same_labels_fail(
    start_server, cfg, golden_path
):
    golden = verify.load_golden(golden_path)
    tol = verify.Tolerance(rtol=1e-7, atol=1e-9)
    same = start_server(cfg, load_service(cfg))
    answer = replay(same, golden)
    diffs, _ = verify.compare_predictions(golden.predictions, answer["predictions"], golden.row_ids, tol)
    assert diffs == []
    diffs, max_abs = verify.compare_probabilities(
        golden.proba, answer["probabilities"], answer["classes"], golden.row_ids, tol
    )
    assert diffs == [] and max_abs < 1e-12

    changed = start_server(cfg, sharper(load_service(cfg)))
    answer = replay(changed, golden)
    labels, _ = verify.compare_predictions(golden.predictions, answer["predictions"], golden.row_ids, tol)
    assert labels == []  # every label is the same ...
    diffs, max_abs = verify.compare_probabilities(
        golden.proba, answer["probabilities"], answer["classes"], golden.row_ids, tol
    )
    assert diffs and max_abs > 0.01  # ... and the probabilities are not
    assert {d.output for d in diffs} <= {"proba:high", "proba:low", "proba:mid"}
    loose = verify.Tolerance(atol=max_abs)  # a tolerance wider than the change lets it through
    assert (
        verify.compare_probabilities(
            golden.proba, answer["probabilities"], answer["classes"], golden.row_ids, loose
        )[0]
        == []
    )


def test_probability_columns_compare_by_class_name_not_position():
    expected = pd.DataFrame({"proba:b": [0.25, 0.5], "proba:a": [0.75, 0.5]})
    ids = pd.Series([10, 11])
    tol = verify.Tolerance()
    assert verify.compare_probabilities(expected, [[0.75, 0.25], [0.5, 0.5]], ["a", "b"], ids, tol)[0] == []
    diffs, max_abs = verify.compare_probabilities(expected, [[0.25, 0.75], [0.5, 0.5]], ["a", "b"], ids, tol)
    assert [(d.row_id, d.output) for d in diffs] == [(10, "proba:b"), (10, "proba:a")] and max_abs == 0.5


def test_an_answer_without_probabilities_or_with_other_classes_fails_the_check():
    expected = pd.DataFrame({"proba:0": [0.2], "proba:1": [0.8]})
    ids = pd.Series([1])
    with pytest.raises(CheckFailed, match="answered none"):
        verify.compare_probabilities(expected, None, None, ids, verify.Tolerance())
    with pytest.raises(CheckFailed, match="classes"):
        verify.compare_probabilities(expected, [[0.2, 0.8]], [0, 2], ids, verify.Tolerance())
    with pytest.raises(CheckFailed, match="2 probability rows for 1"):
        verify.compare_probabilities(expected, [[0.2, 0.8], [0.1, 0.9]], [0, 1], ids, verify.Tolerance())


def test_golden_rows_of_a_regressor_have_no_probability_columns(tmp_path):
    frame = pd.DataFrame({"x": [1.0], "row_id": ["a"], "prediction": [2.0]})
    frame.to_parquet(tmp_path / "golden.parquet")
    assert verify.load_golden(tmp_path / "golden.parquet").proba is None
