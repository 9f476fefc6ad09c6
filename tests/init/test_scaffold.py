"""`mlrelease init`: what it infers from a handoff folder."""

from __future__ import annotations

import pandas as pd
import pytest

from mlrelease import config, scaffold
from mlrelease.errors import UsageError


def make_handoff(root, target_values, target_name="price"):
    (root / "model").mkdir(parents=True)
    (root / "model" / "clf.skops").write_bytes(b"x")
    (root / "notebooks").mkdir()
    (root / "notebooks" / "research.ipynb").write_text("{}")
    (root / "requirements.in").write_text("scikit-learn\n")
    (root / "data").mkdir()
    n = len(target_values)
    frame = pd.DataFrame({"age": range(n), "city": ["Brno"] * n, target_name: target_values})
    frame.to_csv(root / "data" / "train.csv", index=False)
    frame.to_csv(root / "data" / "validation.csv", index=False)


def test_infers_regression_target_and_files(tmp_path):
    root = tmp_path / "Brno Houses"
    make_handoff(root, [float(i) * 1.5 for i in range(200)])
    path, _ = scaffold.init(root)
    cfg = config.load(path)
    assert cfg.model.name == "brno-houses"
    assert (cfg.model.task, cfg.model.target) == ("regression", "price")
    assert cfg.model.artifact == root.resolve() / "model" / "clf.skops"
    assert cfg.validation.data.name == "validation.csv"
    assert cfg.validation.reference.name == "train.csv"
    assert cfg.notebooks == ("notebooks/*.ipynb",)


def test_infers_classification_from_few_integer_labels(tmp_path):
    make_handoff(tmp_path / "h", [i % 3 for i in range(300)], target_name="label")
    _, found = scaffold.init(tmp_path / "h")
    assert (found.task, found.target) == ("classification", "label")


def test_never_replaces_an_existing_config(tmp_path):
    make_handoff(tmp_path, [1.0, 2.5])
    path, _ = scaffold.init(tmp_path)
    first = path.read_bytes()
    with pytest.raises(UsageError, match="already exists: init never replaces it"):
        scaffold.init(tmp_path)
    assert path.read_bytes() == first


def test_last_column_is_the_fallback_target():
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    assert scaffold.infer_target(frame) == ("b", "classification")
