"""The compiled model as files (mlrelease.serve.artifact, written by mlrelease.serve.freeze): it
round-trips bit for bit, the start-up proof refuses any changed leaf, threshold or recorded
prediction with the reason, and only models that compile fully are frozen."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
)
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

from mlrelease.errors import CheckFailed
from mlrelease.model import LoadedModel
from mlrelease.serve import artifact
from mlrelease.serve.compiled import NotCompilable
from mlrelease.serve.freeze import blueprint, freeze
from mlrelease.serve.service import check_samples
from mlrelease.signature import Signature, infer_signature

pytestmark = pytest.mark.usefixtures("predictor_cache")
ROOT = Path(__file__).resolve().parents[2]
FEATURES = ["district", "energy", "area", "year"]


def _houses(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    area = rng.uniform(20, 150, n)
    area[rng.random(n) < 0.1] = np.nan
    frame = pd.DataFrame(
        {
            "district": rng.choice(["centre", "north", "south", "east"], n),
            "energy": rng.choice(["A", "B", "C"], n),
            "area": area,
            "year": rng.integers(1900, 2024, n),
        }
    )
    frame["price"] = (
        np.nan_to_num(area, nan=60.0) * 50_000 * (1 + (frame["district"] == "centre"))
        + rng.normal(0, 1e5, n)
        + 1e6
    )
    frame["band"] = np.where(frame["price"] > 5e6, "high", np.where(frame["price"] > 3e6, "mid", "low"))
    return frame


def _encode(encoder: object) -> ColumnTransformer:
    return ColumnTransformer(
        [("categories", encoder, ["district", "energy"])],
        remainder="passthrough",
        verbose_feature_names_out=False,
    )


def _regressor(frame: pd.DataFrame) -> TransformedTargetRegressor:
    ordinal = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    boost = HistGradientBoostingRegressor(max_iter=20, categorical_features=[0, 1], random_state=0)
    model = TransformedTargetRegressor(
        Pipeline([("encode", _encode(ordinal)), ("boost", boost)]), func=np.log, inverse_func=np.exp
    )
    return model.fit(frame[FEATURES], frame["price"])


def _loaded(est: object) -> LoadedModel:
    return LoadedModel(estimator=est, format="skops", path=None, sha256="0" * 64, features=FEATURES)


def _signature(frame: pd.DataFrame, task: str) -> Signature:
    return infer_signature(frame, FEATURES, task=task)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def frozen(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TransformedTargetRegressor, pd.DataFrame]:
    frame = _houses()
    est = _regressor(frame)
    sig = _signature(frame, "regression")
    out = tmp_path_factory.mktemp("compiled")
    freeze(_loaded(est), sig, check_samples(sig, frame), prebuilt=[], out=out, about={"name": "houses"})
    return out, est, frame


def _copy(folder: Path, to: Path) -> Path:
    to.mkdir()
    for f in folder.iterdir():
        (to / f.name).write_bytes(f.read_bytes())
    return to


def _edit_arrays(folder: Path, **changes: np.ndarray) -> None:
    with np.load(folder / artifact.ARRAYS) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays.update(changes)
    np.savez(folder / artifact.ARRAYS, **arrays)


def test_the_compiled_model_round_trips_and_predicts_as_the_model_bit_for_bit(frozen):
    folder, est, _ = frozen
    model = artifact.read(folder)
    predictor = artifact.Predictor(model, folder)
    assert predictor.engine == "native"  # the library written beside the arrays
    fresh = _houses(300, seed=7)  # rows the proof never saw
    columns = {
        n: [None if isinstance(v, float) and np.isnan(v) else v for v in fresh[n].tolist()] for n in FEATURES
    }
    got = predictor(columns)
    assert isinstance(got, np.ndarray)
    assert np.array_equal(got, est.predict(fresh[FEATURES]))
    assert artifact.prove(predictor) == model.rows > 600
    assert model.about["family"] == "HistGradientBoostingRegressor" and "numpy.exp" in model.about["steps"]


def test_the_numpy_walk_serves_the_same_when_the_library_is_missing(frozen, tmp_path: Path, monkeypatch):
    folder = _copy(frozen[0], tmp_path / "c")
    for lib in folder.glob("*.so"):
        lib.unlink()
    monkeypatch.setenv("CC", "/nonexistent/cc")
    monkeypatch.setenv("MLRELEASE_PREDICTOR_CACHE", str(tmp_path / "empty-cache"))
    predictor = artifact.Predictor(artifact.read(folder), folder)
    assert predictor.engine == "numpy" and "no C compiler" in predictor.engine_note
    assert artifact.prove(predictor) > 600


def test_start_up_refuses_a_changed_leaf(frozen, tmp_path: Path):
    folder = _copy(frozen[0], tmp_path / "c")
    model = artifact.read(folder)
    value = model.forest.value.copy()
    leaf = int(np.flatnonzero(value[:, 0])[3])
    value[leaf, 0] += 1e-3  # one leaf of one tree, a thousandth in log-price
    _edit_arrays(folder, value=value)
    with pytest.raises(CheckFailed, match="differ from the model's own") as caught:
        artifact.prove(artifact.Predictor(artifact.read(folder), folder))
    assert "does not start" in caught.value.message


def test_start_up_refuses_a_changed_threshold(frozen, tmp_path: Path):
    folder = _copy(frozen[0], tmp_path / "c")
    forest = artifact.read(folder).forest
    inner = np.flatnonzero((forest.child != np.arange(forest.child.size)) & np.isfinite(forest.threshold))
    numeric = [i for i in inner if forest.cat_row is None or forest.cat_row[i] == 0]
    threshold = forest.threshold.copy()
    threshold[numeric[0]] = -np.inf  # every row now goes right at the first numeric split
    _edit_arrays(folder, threshold=threshold)
    with pytest.raises(CheckFailed, match="predictions differ"):
        artifact.prove(artifact.Predictor(artifact.read(folder), folder))


def test_start_up_refuses_a_changed_recorded_prediction_and_names_the_row(frozen, tmp_path: Path):
    folder = _copy(frozen[0], tmp_path / "c")
    recorded = artifact.read(folder).recorded[0].predictions.copy()
    recorded[5] = np.nextafter(recorded[5], 0)
    _edit_arrays(folder, predictions_0=recorded)
    with pytest.raises(CheckFailed, match=r"recorded input 0: 1 of 600 .*\(first at row 5"):
        artifact.prove(artifact.Predictor(artifact.read(folder), folder))


def test_a_compiled_only_server_refuses_to_start_on_a_changed_leaf(frozen, tmp_path: Path):
    """The real `mlrelease serve --compiled-model` process: exit 1 with the reason, nothing served."""
    folder = _copy(frozen[0], tmp_path / "c")
    value = artifact.read(folder).forest.value.copy()
    value[int(np.flatnonzero(value[:, 0])[0]), 0] += 1.0
    _edit_arrays(folder, value=value)
    (tmp_path / "mlrelease.yaml").write_text(
        "version: 1\nmodel: {name: houses, task: regression, artifact: model.skops}\n"
    )
    (tmp_path / "model.skops").write_bytes(b"")  # never read: the compiled model serves alone
    env = {**os.environ, "MLRELEASE_PREDICTOR_CACHE": str(tmp_path / "cache")}
    run = subprocess.run(
        [sys.executable, "-m", "mlrelease", "serve", "-c", str(tmp_path), "--compiled-model", str(folder),
         "--port", "0"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert "compiled model is not the one that was built" in run.stderr
    assert "arrays.npz has sha256" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_leaf_no_recorded_row_reaches_is_still_covered_by_the_arrays_digest(tmp_path: Path, monkeypatch):
    """The proof walks only the leaves the recorded rows reach; a change anywhere else in the
    packed trees passes it, and the digest of the arrays the build recorded refuses it."""
    frame = _houses().fillna(0.0)
    est = Pipeline(
        [
            ("encode", _encode(OrdinalEncoder())),
            ("forest", RandomForestClassifier(n_estimators=5, random_state=0)),
        ]
    ).fit(frame[FEATURES], frame["band"])
    sig = _signature(frame, "classification")
    few = check_samples(sig, frame.head(5))[:1]  # five rows: most leaves are never reached
    freeze(_loaded(est), sig, few, prebuilt=[], out=tmp_path, about={})
    artifact.read(tmp_path, check_digest=True)  # as built
    for lib in tmp_path.glob("*.so"):
        lib.unlink()  # the numpy walk, so that no edit below compiles a library
    monkeypatch.setenv("CC", "/nonexistent/cc")
    value = artifact.read(tmp_path).forest.value
    for leaf in np.flatnonzero(value.any(axis=1))[:50]:
        changed = value.copy()
        changed[leaf] = changed[leaf][::-1] + 1.0
        _edit_arrays(tmp_path, value=changed)
        try:
            artifact.prove(artifact.Predictor(artifact.read(tmp_path), tmp_path))
        except CheckFailed:
            continue
        break  # a leaf the proof cannot see
    else:
        pytest.fail("the recorded rows reach each of the first 50 leaves")
    with pytest.raises(CheckFailed, match="is not the one that was built") as caught:
        artifact.read(tmp_path, check_digest=True)
    assert "arrays.npz has sha256" in caught.value.message and "model.json" in caught.value.message


def test_a_manifest_without_the_arrays_digest_is_refused(frozen, tmp_path: Path):
    folder = _copy(frozen[0], tmp_path / "c")
    manifest = json.loads((folder / artifact.MANIFEST).read_text())
    del manifest["arrays_sha256"]
    (folder / artifact.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(CheckFailed, match="not the None its build recorded"):
        artifact.read(folder, check_digest=True)


def test_a_random_forest_classifier_round_trips_labels_and_probabilities(tmp_path: Path):
    frame = _houses()
    est = Pipeline(
        [
            ("encode", _encode(OrdinalEncoder())),
            ("forest", RandomForestClassifier(n_estimators=15, random_state=0)),
        ]
    ).fit(frame[FEATURES].fillna(0.0), frame["band"])
    sig = _signature(frame, "classification")
    rows = frame.assign(area=frame["area"].fillna(0.0))
    model = freeze(_loaded(est), sig, check_samples(sig, rows)[:1], prebuilt=[], out=tmp_path, about={})
    predictor = artifact.Predictor(artifact.read(tmp_path), tmp_path)
    assert model.classes == ("high", "low", "mid")
    labels, proba = predictor({n: rows[n].tolist() for n in FEATURES})
    assert labels.tolist() == est.predict(rows[FEATURES]).tolist()
    assert np.array_equal(proba, est.predict_proba(rows[FEATURES]))
    assert artifact.prove(predictor) == len(rows)


@pytest.mark.parametrize(
    ("make", "classifier", "why"),
    [
        (lambda: Pipeline([("encode", _encode(OneHotEncoder(handle_unknown="ignore"))),
                           ("boost", HistGradientBoostingRegressor(max_iter=5))]), False, "OneHotEncoder"),
        (lambda: Pipeline([("encode", _encode(OrdinalEncoder())),
                           ("boost", HistGradientBoostingClassifier(max_iter=5))]), True, "loss functions"),
        (lambda: Pipeline([("encode", _encode(OrdinalEncoder())), ("lin", LinearRegression())]), False,
         "not a tree ensemble"),
    ],
)  # fmt: skip
def test_models_that_do_not_compile_fully_say_why(make, classifier: bool, why: str):
    frame = _houses().fillna(0.0)
    est = make().fit(frame[FEATURES], frame["band" if classifier else "price"])
    with pytest.raises(NotCompilable, match=why):
        blueprint(est, FEATURES, classifier)


IMPORTS = """
import sys
from pathlib import Path
from mlrelease import config
from mlrelease.cli import serve  # the command's module
from mlrelease.serve.runner import build_app
from mlrelease.serve.startup import Startup
app = build_app(config.load(sys.argv[1]), None, Startup(), Path(sys.argv[2]))
print(sorted({m.split(".")[0] for m in sys.modules}))
"""


def test_the_compiled_only_server_imports_no_model_library(frozen, tmp_path: Path):
    """Its import path loads none of what a compiled-only image leaves out."""
    (tmp_path / "mlrelease.yaml").write_text(
        "version: 1\nmodel: {name: houses, task: regression, artifact: model.skops}\n"
    )
    (tmp_path / "model.skops").write_bytes(b"")
    run = subprocess.run(
        [sys.executable, "-c", IMPORTS, str(tmp_path), str(frozen[0])],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=True,
    )  # fmt: skip
    loaded = set(eval(run.stdout))
    assert loaded.isdisjoint({"sklearn", "scipy", "pandas", "joblib", "skops", "threadpoolctl", "pyarrow"}), (
        loaded
    )
    assert {"numpy", "orjson", "prometheus_client"} <= loaded
