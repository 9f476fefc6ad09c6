"""Every tree ensemble the server compiles predicts bit-identically to the model itself, through
the numpy walk and through the generated C, with the common preprocessing in front; models it
cannot compile exactly are served as they are, and the outcome says which happened."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from mlrelease.process import run
from mlrelease.serve import native
from mlrelease.serve.compiled import CompiledTrees, compile_for_serving, compile_trees

RNG = np.random.default_rng(11)


pytestmark = pytest.mark.usefixtures("predictor_cache")  # compiled trees in a folder of their own


def numbers(n: int, missing: float = 0.0) -> np.ndarray:
    X = RNG.normal(size=(n, 4)) * [1.0, 10.0, 0.1, 1e4]
    X[RNG.random(X.shape) < missing] = np.nan
    return X


def houses(n: int) -> pd.DataFrame:
    """A table such as a handoff's: numbers with holes, and two categorical columns."""
    frame = pd.DataFrame(numbers(n, missing=0.1), columns=["area", "age", "rate", "income"])
    frame["district"] = RNG.choice(["north", "south", "centre", "east"], n)
    frame["energy"] = RNG.choice(["A", "B", "C"], n)
    return frame


def prices(frame: pd.DataFrame) -> np.ndarray:
    base = frame["area"].fillna(0) * 3 + (frame["district"] == "centre") * 2 + frame["age"].fillna(0) * 0.1
    return np.asarray(base + RNG.normal(0, 0.1, len(frame)))


def preprocessing() -> ColumnTransformer:
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    return ColumnTransformer(
        [
            ("numeric", numeric, ["area", "age", "rate", "income"]),
            ("district", OneHotEncoder(handle_unknown="ignore"), ["district"]),
            ("energy", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), ["energy"]),
        ]
    )


def identical(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


REGRESSORS = {
    "random-forest": lambda: RandomForestRegressor(n_estimators=12, max_depth=8, random_state=0),
    "extra-trees": lambda: ExtraTreesRegressor(n_estimators=12, max_depth=8, random_state=0),
    "gradient-boosting": lambda: GradientBoostingRegressor(n_estimators=25, random_state=0),
    "gradient-boosting-huber": lambda: GradientBoostingRegressor(
        n_estimators=15, loss="huber", random_state=0
    ),
}
CLASSIFIERS = {
    "random-forest": lambda: RandomForestClassifier(n_estimators=12, max_depth=8, random_state=0),
    "extra-trees": lambda: ExtraTreesClassifier(n_estimators=12, max_depth=8, random_state=0),
    "gradient-boosting": lambda: GradientBoostingClassifier(n_estimators=20, random_state=0),
}


@pytest.mark.parametrize("name", list(REGRESSORS))
def test_regressors_behind_preprocessing_predict_bit_identically(name: str) -> None:
    train, rows = houses(1500), houses(400)
    est = Pipeline([("prep", preprocessing()), ("model", REGRESSORS[name]())]).fit(train, prices(train))
    model, _, outcome = compile_for_serving(est, lambda m, X: m.predict(X), [rows])
    assert outcome.compiled, outcome.reason
    assert outcome.family == type(est[-1]).__name__ and outcome.rows_checked == 400
    assert identical(model.predict(rows), est.predict(rows))
    assert outcome.to_dict()["family"] == outcome.family


@pytest.mark.parametrize("classes", [2, 3], ids=["binary", "three-classes"])
@pytest.mark.parametrize("name", list(CLASSIFIERS))
def test_classifiers_behind_preprocessing_give_the_same_labels_and_probabilities(
    name: str, classes: int
) -> None:
    train, rows = houses(1500), houses(400)
    labels = np.array(["low", "mid", "high"][:classes])
    y = labels[np.digitize(prices(train), np.quantile(prices(train), np.linspace(0, 1, classes + 1)[1:-1]))]
    est = Pipeline([("prep", preprocessing()), ("model", CLASSIFIERS[name]())]).fit(train, y)

    def both(m: Pipeline, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        return m.predict(X), m.predict_proba(X)

    model, _, outcome = compile_for_serving(est, both, [rows])
    assert outcome.compiled, outcome.reason
    assert identical(model.predict(rows), est.predict(rows))
    assert identical(model.predict_proba(rows), est.predict_proba(rows))


@pytest.mark.parametrize("name", ["random-forest", "extra-trees"])
def test_forests_follow_scikit_learns_way_with_missing_values(name: str) -> None:
    """Trees fitted on holes send a missing value where they learned to; float32 comparison."""
    train, rows = numbers(2000, missing=0.1), numbers(500, missing=0.2)
    rows[:3] = [[3.4e38, -3.4e38, 1e-300, 1e-40], [1e-46, -1e-46, 0.0, -0.0], [np.nan] * 4]
    est = REGRESSORS[name]().fit(train, np.nan_to_num(train[:, 0]) + np.isnan(train[:, 1]))
    compiled = compile_trees(est)
    compiled.max_rows = 10_000
    assert identical(compiled.predict(rows), est.predict(rows))
    compiled.use_native()
    assert compiled.engine == "native", compiled.engine_note
    assert identical(compiled.predict(rows), est.predict(rows))
    for too_large in (np.inf, 1e39):
        rows[5, 2] = too_large
        with pytest.raises(ValueError, match="infinity or a value too large"):
            compiled.predict(rows)


def test_gradient_boosting_leaves_missing_values_to_the_model_which_refuses_them() -> None:
    train = numbers(800)
    est = GradientBoostingRegressor(n_estimators=10).fit(train, train[:, 0])
    compiled = compile_trees(est)
    holes = numbers(5)
    holes[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        compiled.predict(holes)


@pytest.mark.parametrize(
    "make",
    [
        lambda: HistGradientBoostingRegressor(max_iter=40, categorical_features=[0], random_state=0),
        lambda: HistGradientBoostingClassifier(max_iter=20, categorical_features=[0], random_state=0),
    ],
    ids=["regressor", "classifier"],
)
def test_generated_code_takes_categories_missing_values_and_extremes_as_scikit_learn(make) -> None:
    train = numbers(3000, missing=0.05)
    train[:, 0] = RNG.integers(0, 12, len(train))
    y = train[:, 0] % 3 + np.nan_to_num(train[:, 1]) * 0.1
    est = make().fit(train, y if "Regressor" in repr(make()) else (y > 1).astype(int))
    rows = numbers(600, missing=0.15) * 4
    rows[:, 0] = RNG.integers(-3, 20, len(rows)).astype(float)
    rows[:4, 0] = [3.7, 255.5, -0.5, np.nan]
    rows[4, 1:] = [np.inf, -np.inf, 1e300]
    compiled = compile_trees(est)
    compiled.max_rows = 10_000
    compiled.use_native()
    assert compiled.engine == "native", compiled.engine_note
    assert identical(compiled.predict(rows), est.predict(rows))
    assert identical(compiled.raw(rows), est._raw_predict(rows))


def test_the_batch_limit_is_the_same_at_every_start() -> None:
    """No timing decides it: the native walk takes every batch, the numpy walk a fixed number."""
    train = numbers(1500)
    est = HistGradientBoostingRegressor(max_iter=30).fit(train, train[:, 0])
    limits = set()
    for _ in range(3):
        _, _, outcome = compile_for_serving(est, lambda m, X: m.predict(X), [train[:300]])
        limits.add((outcome.engine, outcome.max_rows))
    _, _, walk = compile_for_serving(est, lambda m, X: m.predict(X), [train[:300]], native=False)
    assert limits == {("native", 1 << 62)}
    assert (walk.engine, walk.max_rows) == ("numpy", 512)
    assert walk.to_dict()["engine_note"] == "native code switched off"


def test_without_a_compiler_the_numpy_walk_serves_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    train = numbers(1000)
    est = RandomForestRegressor(n_estimators=5, max_depth=6, random_state=1).fit(train, train[:, 0])
    monkeypatch.setenv("CC", "no-such-compiler")
    model, _, outcome = compile_for_serving(est, lambda m, X: m.predict(X), [train[:200]])
    assert outcome.compiled and outcome.engine == "numpy"
    assert outcome.engine_note == "no C compiler on PATH"
    assert identical(model.predict(train[:50]), est.predict(train[:50]))


def test_a_prebuilt_library_beside_the_model_is_loaded_without_compiling(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train = numbers(1000)
    est = ExtraTreesRegressor(n_estimators=4, max_depth=5, random_state=2).fit(train, train[:, 0])
    library = native.build(compile_trees(est).forest, tmp_path)
    monkeypatch.setenv("CC", "no-such-compiler")
    monkeypatch.setenv("MLRELEASE_PREDICTOR_CACHE", str(tmp_path / "empty"))
    model, _, outcome = compile_for_serving(
        est, lambda m, X: m.predict(X), [train[:200]], prebuilt=[tmp_path]
    )
    assert outcome.engine == "native" and isinstance(model, CompiledTrees)
    assert model.walk.__self__.path == library  # type: ignore[attr-defined]


def test_generated_code_that_differs_is_refused_and_the_numpy_walk_checked_instead(tmp_path) -> None:
    """A library whose one leaf is off in the last bit (as a wrong build would be) never serves."""
    train = numbers(1000)
    est = RandomForestRegressor(n_estimators=3, max_depth=4, random_state=3).fit(train, train[:, 0])
    forest = compile_trees(est).forest
    code = native.source(forest)
    leaf = float(forest.value[np.flatnonzero(forest.value[:, 0])[0], 0])
    wrong = code.replace(f"+= {leaf.hex()};", f"+= {np.nextafter(leaf, np.inf).hex()};", 1)
    assert wrong != code
    src = tmp_path / "wrong.c"
    src.write_text(wrong)
    run(["cc", *native.CFLAGS, "-o", str(tmp_path / native.library_name(code)), str(src)])
    _, _, outcome = compile_for_serving(est, lambda m, X: m.predict(X), [train[:300]], prebuilt=[tmp_path])
    assert outcome.compiled and outcome.engine == "numpy"
    assert outcome.engine_note.startswith("the native walk was refused (compiled predictions differ")


def test_models_it_does_not_compile_are_served_as_they_are_and_say_so() -> None:
    from sklearn.linear_model import Ridge

    train = numbers(300)
    est = Pipeline([("scale", StandardScaler()), ("ridge", Ridge())]).fit(train, train[:, 0])
    model, _, outcome = compile_for_serving(est, lambda m, X: m.predict(X), [train])
    assert model is None and not outcome.compiled
    assert "Ridge is not a tree ensemble this version compiles" in outcome.to_dict()["reason"]


@pytest.mark.parametrize("objective", ["regression", "huber"])
@pytest.mark.parametrize("use_missing", [True, False], ids=["missing-learned", "missing-as-zero"])
def test_lightgbm_regressors_predict_bit_identically(objective: str, use_missing: bool) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    train, rows = numbers(2000, missing=0.1), numbers(500, missing=0.2)
    rows[0] = [np.inf, -np.inf, 1e300, -0.0]
    est = lightgbm.LGBMRegressor(n_estimators=40, objective=objective, use_missing=use_missing, verbose=-1)
    est.fit(train, np.nan_to_num(train[:, 0]) * 2 + np.isnan(train[:, 1]))
    model, _, outcome = compile_for_serving(est, lambda m, X: m.predict(X), [rows])
    assert outcome.compiled and outcome.family == "LGBMRegressor" and outcome.engine == "native"
    assert identical(model.predict(rows), est.predict(rows))
    model.use_numpy()
    assert identical(model.predict(rows), est.predict(rows))
