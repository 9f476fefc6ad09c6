"""The model's input signature: inference from data, JSON round trip, JSON Schema of a record."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from jsonschema import Draft202012Validator

from mlrelease.errors import DataError
from mlrelease.signature import Signature, infer_signature, with_predictions


@pytest.fixture
def frame():
    return pd.DataFrame(
        {
            "area_m2": [50.0, 60.0, 70.0, np.nan, 1000.0],
            "rooms": [1, 2, 3, 2, 9],
            "district": ["Líšeň", "Bystrc", "Líšeň", "Komín", "Bystrc"],
            "balcony": [True, False, True, True, False],
            "price": [1, 2, 3, 4, 5],
        }
    )


def test_kinds_nullability_categories_and_robust_spread(frame):
    sig = infer_signature(
        frame, ["area_m2", "rooms", "district", "balcony"], target="price", task="regression"
    )
    area = sig.field("area_m2")
    assert (area.kind, area.nullable, area.min, area.max) == ("number", True, 50.0, 1000.0)
    assert area.median == 65.0
    assert area.mad == pytest.approx(10.0 * 1.4826)  # robust: the 1000 m2 outlier does not widen it
    assert sig.field("rooms").kind == "integer" and not sig.field("rooms").nullable
    assert sig.field("district").categories == ("Bystrc", "Komín", "Líšeň")
    assert sig.field("balcony").kind == "boolean"
    assert sig.names == ["area_m2", "rooms", "district", "balcony"]


def test_round_trip_through_a_file(tmp_path, frame):
    sig = with_predictions(infer_signature(frame, ["area_m2", "district"]), np.array([1.0, 2.0, 3.0, np.nan]))
    sig.write(tmp_path / "signature.json")
    again = Signature.read(tmp_path / "signature.json")
    assert again == sig
    assert again.prediction.min == 1.0 and again.prediction.max == 3.0
    assert json.loads((tmp_path / "signature.json").read_text())["schema_version"] == 1


def test_record_schema_accepts_good_rows_and_rejects_bad(frame):
    sig = infer_signature(frame, ["area_m2", "rooms", "district"])
    validator = Draft202012Validator(sig.json_schema())
    assert validator.is_valid({"area_m2": None, "rooms": 2, "district": "Bystrc"})
    assert not validator.is_valid({"area_m2": 50.0, "rooms": "two", "district": "Bystrc"})
    assert not validator.is_valid({"area_m2": 50.0, "rooms": 2, "district": "Praha"})
    assert not validator.is_valid({"area_m2": 50.0, "district": "Bystrc"})


def test_missing_columns_are_named(frame):
    with pytest.raises(DataError, match="floor, year_built"):
        infer_signature(frame, ["area_m2", "floor", "year_built"])


def test_unsupported_version_is_refused():
    with pytest.raises(DataError, match="schema_version 2"):
        Signature.from_dict({"schema_version": 2, "fields": []})
