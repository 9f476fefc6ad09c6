"""XGBoost and LightGBM models compiled: the same margins (XGBoost's float32 sums, LightGBM's
float64 ones), the same probabilities (their own sigmoid and softmax, with the C library's exp
and expf) and the same labels as their own predict, with missing values, through a Pipeline and
over HTTP; the variants not reproduced exactly are served by their own predict, with the reason."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from servekit import REPO
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from mlrelease import config as cfgmod
from mlrelease.artifacts import sha256_file
from mlrelease.image.context import prebuild_trees
from mlrelease.model import LoadedModel
from mlrelease.process import run
from mlrelease.serve import native
from mlrelease.serve.compiled import CompiledTrees, compile_for_serving, compile_trees
from mlrelease.serve.links import SOURCE, NativeLinks, PythonLinks, links
from mlrelease.serve.service import Service
from mlrelease.signature import infer_signature

xgboost = pytest.importorskip("xgboost")
lightgbm = pytest.importorskip("lightgbm")

RNG = np.random.default_rng(23)


pytestmark = pytest.mark.usefixtures("predictor_cache")  # compiled trees in a folder of their own


def numbers(n: int, missing: float) -> np.ndarray:
    X = RNG.normal(size=(n, 4)) * [1.0, 10.0, 0.1, 1e4]
    X[RNG.random(X.shape) < missing] = np.nan
    return X


def target(X: np.ndarray, classes: int) -> np.ndarray:
    y = np.nan_to_num(X[:, 0]) * 2 + np.isnan(X[:, 1]) + np.nan_to_num(X[:, 2]) * 5
    if classes == 0:
        return y
    return np.digitize(y, np.quantile(y, np.linspace(0, 1, classes + 1)[1:-1]))


def identical(a: Any, b: Any) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


def both(model: Any, X: Any) -> tuple[np.ndarray, np.ndarray]:
    return model.predict(X), model.predict_proba(X)


MODELS = {
    "xgb-regressor": (lambda: xgboost.XGBRegressor(n_estimators=60, max_depth=5), 0),
    "xgb-binary": (lambda: xgboost.XGBClassifier(n_estimators=60, max_depth=5), 2),
    "xgb-three-classes": (lambda: xgboost.XGBClassifier(n_estimators=30, max_depth=4), 3),
    "lgbm-binary": (lambda: lightgbm.LGBMClassifier(n_estimators=60, verbose=-1), 2),
    "lgbm-three-classes": (lambda: lightgbm.LGBMClassifier(n_estimators=30, verbose=-1), 3),
}


def margins(est: Any, X: np.ndarray) -> np.ndarray:
    """The model's own raw sums, (rows, outputs) in float64."""
    if type(est).__module__.startswith("xgboost"):
        raw = est.predict(X, output_margin=True)
    else:
        raw = est.predict(X, raw_score=True)
    return np.asarray(raw, dtype=np.float64).reshape(len(X), -1)


@pytest.mark.parametrize("name", list(MODELS))
def test_boosters_predict_bit_identically_with_missing_values_natively_and_with_numpy(name: str) -> None:
    make, classes = MODELS[name]
    train, rows = numbers(3000, missing=0.1), numbers(800, missing=0.2)
    rows[0] = [np.nan] * 4
    rows[1] = [1e-46, -0.0, 3e38, -3e38]  # below float32's smallest, and near its largest
    est = make().fit(train, target(train, classes))
    predict = both if classes else (lambda m, X: m.predict(X))
    model, _, outcome = compile_for_serving(est, predict, [rows])
    assert outcome.compiled and outcome.engine == "native", outcome
    assert outcome.family == type(est).__name__ and outcome.rows_checked == 800
    assert isinstance(model, CompiledTrees)
    for engine in ("native", "numpy"):
        if engine == "numpy":
            model.use_numpy()
        assert identical(model.raw(rows), margins(est, rows))
        assert identical(model.predict(rows), est.predict(rows))
        if classes:
            assert identical(model.predict_proba(rows), est.predict_proba(rows))


def test_xgboost_sends_a_value_equal_to_a_split_condition_right() -> None:
    """``value < condition`` in float32: rows made of the model's own conditions, and of the
    floats just beside them, land in the same leaves as in XGBoost."""
    train = numbers(2000, missing=0.05)
    est = xgboost.XGBRegressor(n_estimators=40, max_depth=6).fit(train, target(train, 0))
    trees = json.loads(bytes(est.get_booster().save_raw("json")))["learner"]["gradient_booster"]["model"][
        "trees"
    ]
    at = [[] for _ in range(4)]
    for tree in trees:
        for feature, cond, left in zip(
            tree["split_indices"], tree["split_conditions"], tree["left_children"], strict=True
        ):
            if left >= 0:
                c = np.float32(cond)
                at[feature] += [c, np.nextafter(c, np.float32(-np.inf)), np.nextafter(c, np.float32(np.inf))]
    n = max(len(v) for v in at)
    rows = np.stack([RNG.choice(np.asarray(v, dtype=np.float64), n) for v in at], axis=1)
    compiled = compile_trees(est)
    compiled.max_rows = 1 << 30
    for engine in ("numpy", "native"):
        if engine == "native":
            compiled.use_native()
            assert compiled.engine == "native", compiled.engine_note
        assert identical(compiled.predict(rows), est.predict(rows)), engine


def test_xgboost_uses_the_trees_up_to_its_best_iteration() -> None:
    train, valid = numbers(2000, 0.1), numbers(500, 0.1)
    est = xgboost.XGBClassifier(n_estimators=300, learning_rate=0.5, early_stopping_rounds=5)
    est.fit(train, target(train, 2), eval_set=[(valid, target(valid, 2))], verbose=False)
    assert est.best_iteration < 299
    model, _, outcome = compile_for_serving(est, both, [valid])
    assert outcome.compiled, outcome.reason
    assert identical(model.predict_proba(valid), est.predict_proba(valid))


@pytest.mark.parametrize("transforms", [NativeLinks, PythonLinks], ids=["generated-c", "python"])
def test_the_transforms_equal_xgboosts_over_its_whole_range_of_margins(transforms: type) -> None:
    """Margins from -120 to 120 (past the 88.7 where XGBoost's sigmoid clamps), through both forms
    of the transforms, give XGBoost's own probabilities to the bit."""
    impl = links() if transforms is NativeLinks else PythonLinks()
    assert isinstance(impl, transforms)
    X = numbers(4000, missing=0.0)
    binary = xgboost.XGBClassifier(n_estimators=3, max_depth=2).fit(X, target(X, 2))
    shift = np.linspace(-120, 120, len(X))
    margin = binary.predict(X, output_margin=True, base_margin=shift)
    want = binary.predict_proba(X, base_margin=shift)[:, 1]
    assert identical(impl.xgb_sigmoid(margin), want)
    multi = xgboost.XGBClassifier(n_estimators=3, max_depth=2).fit(X, target(X, 4))
    shifts = RNG.normal(size=(len(X), 4)) * 30
    margin = multi.predict(X, output_margin=True, base_margin=shifts)
    assert identical(impl.xgb_softmax(margin), multi.predict_proba(X, base_margin=shifts))


@pytest.mark.parametrize("transforms", [NativeLinks, PythonLinks], ids=["generated-c", "python"])
def test_the_transforms_equal_lightgbms(transforms: type) -> None:
    impl = links() if transforms is NativeLinks else PythonLinks()
    assert isinstance(impl, transforms)
    X = numbers(3000, missing=0.1)
    for classes in (2, 5):
        est = lightgbm.LGBMClassifier(n_estimators=80, learning_rate=0.3, verbose=-1).fit(
            X, target(X, classes)
        )
        raw = margins(est, X)
        want = est.predict_proba(X)
        got = impl.lgb_sigmoid(raw[:, 0], 1.0) if classes == 2 else impl.lgb_softmax(raw)
        assert identical(got, want[:, 1] if classes == 2 else want)


def test_an_images_prebuilt_transforms_serve_where_no_compiler_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``prebuild_trees`` puts the transforms beside the trees' library; a server without a
    compiler or a cache loads both from there, and the start-up check passes."""
    X = numbers(1500, missing=0.1)
    est = xgboost.XGBClassifier(n_estimators=20).fit(X, target(X, 3))
    joblib.dump(est, tmp_path / "model.joblib")
    clf = cfgmod.load(str(REPO / "tests" / "fixtures" / "eval-classification"))
    model = dataclasses.replace(
        clf.model,
        artifact=tmp_path / "model.joblib",
        format="joblib",
        allow_pickle=True,
        sha256=sha256_file(tmp_path / "model.joblib"),
        features=None,
    )
    app = tmp_path / "app"
    app.mkdir()
    monkeypatch.setenv("MLRELEASE_PREDICTOR_CACHE", str(tmp_path / "cache"))
    trees = prebuild_trees(dataclasses.replace(clf, model=model), app)
    assert trees is not None and trees.parent == app
    transforms = app / native.library_name(SOURCE)
    assert transforms.exists()
    monkeypatch.setenv("CC", "no-such-compiler")
    monkeypatch.setenv("MLRELEASE_PREDICTOR_CACHE", str(tmp_path / "no-cache"))
    compiled, _, outcome = compile_for_serving(est, both, [X[:300]], prebuilt=[app])
    assert outcome.compiled and outcome.engine == "native", outcome
    chosen = links()
    assert isinstance(chosen, NativeLinks) and chosen.path == transforms
    assert not (tmp_path / "no-cache").exists()
    assert identical(compiled.predict_proba(X), est.predict_proba(X))


def houses(n: int) -> pd.DataFrame:
    frame = pd.DataFrame(numbers(n, missing=0.1), columns=["area", "age", "rate", "income"])
    frame["district"] = RNG.choice(["north", "south", "centre"], n)
    return frame


@pytest.mark.parametrize("name", list(MODELS))
def test_boosters_behind_preprocessing_predict_bit_identically(name: str) -> None:
    make, classes = MODELS[name]
    train, rows = houses(2000), houses(500)
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    prep = ColumnTransformer(
        [
            ("numeric", numeric, ["area", "age"]),
            ("district", OneHotEncoder(handle_unknown="ignore"), ["district"]),
            ("raw", "passthrough", ["rate", "income"]),  # missing values reach the trees
        ]
    )
    y = target(train[["area", "age", "rate", "income"]].to_numpy(), classes)
    est = Pipeline([("prep", prep), ("model", make())]).fit(train, y)
    predict = both if classes else (lambda m, X: m.predict(X))
    model, _, outcome = compile_for_serving(est, predict, [rows])
    assert outcome.compiled and outcome.family == type(est[-1]).__name__, outcome
    assert identical(model.predict(rows), est.predict(rows))
    if classes:
        assert identical(model.predict_proba(rows), est.predict_proba(rows))


def test_an_xgboost_classifier_serves_compiled_over_http_and_version_names_it(start_server) -> None:
    frame = houses(1500)
    y = target(frame[["area", "age", "rate", "income"]].to_numpy(), 3)
    encode = ColumnTransformer(
        [("district", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), ["district"])],
        remainder="passthrough",
    )
    est = Pipeline([("encode", encode), ("boost", xgboost.XGBClassifier(n_estimators=40))]).fit(frame, y)
    features = list(frame.columns)
    model = LoadedModel(estimator=est, format="skops", path=None, sha256="2" * 64, features=features)
    sig = infer_signature(frame, features, task="classification")
    service = Service("xgb-classes", "1", model, sig, "classification", probabilities=True)
    service.compile(frame)
    assert service.compiled.direct == "columns", service.compiled
    cfg = cfgmod.load(str(REPO / "tests" / "fixtures" / "eval-classification"))
    server = start_server(cfg, service)
    status, _, raw = server.request("GET", "/version")
    predictor = json.loads(raw)["predictor"]
    assert status == 200 and predictor["compiled"] and predictor["family"] == "XGBClassifier"
    assert predictor["engine"] == "native" and predictor["reason"] == "bit-identical on every checked row"
    probe = houses(30)
    records = json.loads(probe.to_json(orient="records"))  # NaN becomes null
    status, answer, _ = server.post("/predict", records)
    assert status == 200, answer
    assert answer["predictions"] == est.predict(probe).tolist()
    assert answer["probabilities"] == est.predict_proba(probe).tolist()


def fit(est: Any, X: Any = None, classes: int = 2) -> Any:
    X = numbers(400, missing=0.1) if X is None else X
    if isinstance(X, pd.DataFrame):  # categories by their codes
        values = np.stack([X[c].cat.codes if X[c].dtype == "category" else X[c] for c in X], axis=1)
        return est.fit(X, target(values.astype(np.float64), classes))
    return est.fit(X, target(X, classes))


def categories() -> pd.DataFrame:
    frame = pd.DataFrame(numbers(400, missing=0.0), columns=list("abcd"))
    frame["a"] = pd.Categorical(RNG.choice(["x", "y", "z"], len(frame)))
    return frame


REFUSED = {
    "xgb-gblinear": (
        lambda: fit(xgboost.XGBRegressor(booster="gblinear", n_estimators=3), classes=0),
        "booster 'gblinear'",
    ),
    "xgb-dart": (lambda: fit(xgboost.XGBClassifier(booster="dart", n_estimators=3)), "booster 'dart'"),
    "xgb-logitraw": (
        lambda: fit(xgboost.XGBClassifier(objective="binary:logitraw", n_estimators=3)),
        "objective 'binary:logitraw'",
    ),
    "xgb-softmax": (
        lambda: fit(xgboost.XGBClassifier(objective="multi:softmax", n_estimators=3), classes=3),
        "objective 'multi:softmax'",
    ),
    "xgb-poisson": (
        lambda: fit(xgboost.XGBRegressor(objective="count:poisson", n_estimators=3), classes=2),
        "objective 'count:poisson'",
    ),
    "xgb-missing-zero": (
        lambda: fit(xgboost.XGBRegressor(missing=0.0, n_estimators=3), classes=0),
        "missing=0.0",
    ),
    "xgb-categories": (
        lambda: fit(
            xgboost.XGBClassifier(enable_categorical=True, tree_method="hist", n_estimators=3), categories()
        ),
        "splits on categories",
    ),
    "xgb-vector-leaves": (
        lambda: xgboost.XGBRegressor(multi_strategy="multi_output_tree", n_estimators=3).fit(
            numbers(300, 0.0), RNG.normal(size=(300, 2))
        ),
        "several targets",
    ),
    "lgbm-ova": (
        lambda: fit(
            lightgbm.LGBMClassifier(objective="multiclassova", n_estimators=3, verbose=-1), classes=3
        ),
        "objective 'multiclassova'",
    ),
    "lgbm-cross-entropy": (
        lambda: fit(lightgbm.LGBMRegressor(objective="cross_entropy", n_estimators=3, verbose=-1), classes=2),
        "objective 'cross_entropy'",
    ),
    "lgbm-categories": (
        lambda: fit(
            lightgbm.LGBMClassifier(n_estimators=3, verbose=-1, min_data_per_group=5, cat_smooth=1),
            categories(),
        ),
        "splits on categories",
    ),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_variants_not_reproduced_exactly_are_served_by_their_own_predict(name: str) -> None:
    make, why = REFUSED[name]
    est = make()
    model, _, outcome = compile_for_serving(est, lambda m, X: m.predict(X), [numbers(50, 0.0)])
    assert model is None and not outcome.compiled
    assert why in outcome.reason, outcome.reason


def test_a_model_that_is_not_a_tree_ensemble_is_told_what_is_compiled() -> None:
    from sklearn.linear_model import Ridge

    X = numbers(100, 0.0)
    _, _, outcome = compile_for_serving(Ridge().fit(X, X[:, 0]), lambda m, X: m.predict(X), [X])
    assert "XGBClassifier (binary:logistic, multi:softprob)" in outcome.reason
    assert "LGBMClassifier (binary, multiclass)" in outcome.reason


def test_compiling_a_scikit_learn_model_imports_neither_booster_library(tmp_path: Path) -> None:
    """Serving needs XGBoost or LightGBM only when the model is one of theirs."""
    code = (
        "import sys, numpy as np\n"
        "from sklearn.ensemble import HistGradientBoostingClassifier as H\n"
        "from mlrelease.serve.compiled import compile_for_serving\n"
        "X = np.random.default_rng(0).normal(size=(300, 3))\n"
        "est = H(max_iter=5).fit(X, X[:, 0] > 0)\n"
        "m, _, o = compile_for_serving(est, lambda m, X: m.predict_proba(X), [X])\n"
        "assert o.compiled, o\n"
        "print(sorted(n for n in ('xgboost', 'lightgbm') if n in sys.modules))\n"
    )
    env = {**os.environ, "MLRELEASE_PREDICTOR_CACHE": str(tmp_path)}
    assert run([sys.executable, "-c", code], env=env).stdout.strip() == "[]"
