"""The compiled tree walk gives the very numbers scikit-learn gives, or is not used."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder, StandardScaler

from mlrelease.serve.compiled import (
    ColumnPlan,
    CompiledBoosting,
    NotCompilable,
    compile_for_serving,
    pack,
    substitute,
)

RNG = np.random.default_rng(7)


def features(n: int, missing: float = 0.05) -> np.ndarray:
    """Five columns; the first holds category codes 0..11."""
    X = RNG.normal(size=(n, 5))
    X[:, 0] = RNG.integers(0, 12, n)
    X[RNG.random(X.shape) < missing] = np.nan
    return X


def awkward(n: int = 600) -> np.ndarray:
    """Requests as they may come: codes never seen in fit, negative and fractional codes,
    missing values everywhere, values far outside the training range, infinities."""
    X = features(n, missing=0.15) * 4
    X[:, 0] = RNG.integers(-3, 20, n).astype(float)
    X[:4, 0] = [3.7, 255.5, -0.5, np.nan]
    X[4, 1:] = [np.inf, -np.inf, 1e300, -1e300]
    return X


def identical(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


def target(X: np.ndarray) -> np.ndarray:
    return np.nan_to_num(X[:, 1]) * 3 + (np.nan_to_num(X[:, 0]) % 3 == 0) + RNG.normal(0, 0.1, len(X))


@pytest.fixture(scope="module")
def train() -> np.ndarray:
    return features(3000)


def everything(compiled: CompiledBoosting) -> CompiledBoosting:
    compiled.max_rows = 1 << 30
    return compiled


@pytest.mark.parametrize(
    "make",
    [
        lambda: HistGradientBoostingRegressor(max_iter=60, random_state=0),
        lambda: HistGradientBoostingRegressor(max_iter=40, categorical_features=[0], random_state=0),
        lambda: HistGradientBoostingRegressor(max_iter=40, loss="poisson", random_state=0),
        lambda: HistGradientBoostingRegressor(max_iter=30, max_leaf_nodes=63, loss="absolute_error"),
    ],
    ids=["numeric", "categorical", "poisson", "deep-absolute-error"],
)
def test_regressors_predict_bit_identically(train, make):
    y = np.abs(target(train)) if "poisson" in repr(make()) else target(train)
    est = make().fit(train, y)
    compiled, _ = substitute(est)
    X = np.vstack([train[:500], awkward()])
    assert identical(everything(compiled).predict(X), est.predict(X))
    for row in X[:50]:  # one-row requests, the case it is there for
        assert identical(compiled.predict(row[None, :]), est.predict(row[None, :]))


@pytest.mark.parametrize("labels", [["no", "yes"], ["a", "b", "c"]], ids=["binary", "multiclass"])
def test_classifiers_give_identical_labels_and_probabilities(train, labels):
    y = np.asarray(labels)[
        (np.nan_to_num(train[:, 1]) > 0).astype(int) + (train[:, 0] % 3 == 0) * (len(labels) - 2)
    ]
    est = HistGradientBoostingClassifier(max_iter=30, categorical_features=[0], random_state=0).fit(train, y)
    compiled = everything(substitute(est)[1])
    X = awkward()
    assert identical(compiled.predict(X), est.predict(X))
    assert identical(compiled.predict_proba(X), est.predict_proba(X))
    assert set(compiled.predict(X)) == set(labels)


def flats(train: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(train[:, 1:], columns=list("bcde"))
    frame["kind"] = np.asarray(["flat", "house", "villa", "loft"])[RNG.integers(0, 4, len(frame))]
    frame["new"] = RNG.integers(0, 2, len(frame)).astype(bool)
    frame["rooms"] = RNG.integers(1, 6, len(frame))
    return frame


def fitted_like_the_example(
    frame: pd.DataFrame, unknown: str = "use_encoded_value"
) -> TransformedTargetRegressor:
    """The example's shape: a log target around ColumnTransformer(OrdinalEncoder) and HGB."""
    if unknown == "use_encoded_value":
        encoder = OrdinalEncoder(handle_unknown=unknown, unknown_value=-1)
    else:
        encoder = OrdinalEncoder(handle_unknown=unknown)
    encode = ColumnTransformer([("kind", encoder, ["kind"])], remainder="passthrough")
    boost = HistGradientBoostingRegressor(max_iter=40, categorical_features=[0], random_state=0)
    model = TransformedTargetRegressor(
        Pipeline([("encode", encode), ("boost", boost)]), func=np.log, inverse_func=np.exp
    )
    return model.fit(frame, np.exp(np.nan_to_num(frame["b"].to_numpy()) / 4 + frame["rooms"] / 10))


def test_pipeline_and_target_transform_keep_their_own_steps(train):
    frame = flats(train)
    est = fitted_like_the_example(frame)
    fitted = est.regressor_.steps[-1][1]
    wrapped, compiled = substitute(est)
    everything(compiled)
    probe = frame.head(300).copy()
    probe.loc[:20, "kind"] = "castle"  # unknown to the encoder: -1, which the model takes as missing
    probe.loc[20:40, "b"] = np.nan
    assert identical(wrapped.predict(probe), est.predict(probe))
    assert est.regressor_.steps[-1][1] is fitted and compiled.est is fitted  # the original is untouched
    scaled = Pipeline([("scale", StandardScaler()), ("boost", HistGradientBoostingRegressor(max_iter=20))])
    scaled.fit(train, target(train))
    finite = np.nan_to_num(awkward(), nan=np.nan, posinf=1e6, neginf=-1e6)  # the scaler refuses inf
    assert identical(substitute(scaled)[0].predict(finite), scaled.predict(finite))


def as_columns(frame: pd.DataFrame) -> dict[str, list]:
    return {
        c: [None if (isinstance(v, float) and np.isnan(v)) else v for v in frame[c].tolist()] for c in frame
    }


def test_the_column_plan_predicts_from_request_columns_as_the_model_does_from_a_frame(train):
    frame = flats(train)
    est = fitted_like_the_example(frame)
    compiled = everything(substitute(est)[1])
    plan = ColumnPlan(est, compiled, list(frame.columns))
    probe = frame.head(300).copy()
    probe.loc[:20, "kind"] = "castle"  # unknown: the encoder's unknown_value
    probe.loc[20:40, "b"] = np.nan
    assert identical(plan(as_columns(probe)), est.predict(probe))
    for i in range(30):  # one-row requests
        assert identical(plan(as_columns(probe.iloc[[i]])), est.predict(probe.iloc[[i]]))
    compiled.max_rows = 8
    assert plan(as_columns(probe.head(9))) is None  # past the measured size: the model's path


def _scaled(y: np.ndarray, by: float) -> np.ndarray:
    return y * by


def _unscaled(y: np.ndarray, by: float) -> np.ndarray:
    return y / by + 0.25


@pytest.mark.parametrize(
    ("target", "inverts_itself"),
    [
        (None, True),  # func/inverse_func: the regressor's own FunctionTransformer, which checks
        (
            FunctionTransformer(
                _scaled, _unscaled, kw_args={"by": 3.0}, inv_kw_args={"by": 3.0}, check_inverse=False
            ),
            True,
        ),
        (FunctionTransformer(np.log, np.exp, validate=True), True),
        (FunctionTransformer(), False),  # no inverse function: the transformer's own path
        (StandardScaler(), False),
    ],
    ids=["func", "kw-args", "validate", "identity", "scaler"],
)
def test_the_column_plan_inverts_the_target_as_the_model_does(train, target, inverts_itself):
    frame = flats(train)
    encode = ColumnTransformer(
        [("kind", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), ["kind"])],
        remainder="passthrough",
    )
    boost = HistGradientBoostingRegressor(max_iter=20, categorical_features=[0], random_state=0)
    kw = {"func": np.log, "inverse_func": np.exp} if target is None else {"transformer": target}
    est = TransformedTargetRegressor(
        Pipeline([("encode", encode), ("boost", boost)]), check_inverse=False, **kw
    )
    est.fit(frame, np.exp(np.nan_to_num(frame["b"].to_numpy()) / 4 + frame["rooms"] / 10))
    plan = ColumnPlan(est, everything(substitute(est)[1]), list(frame.columns))
    assert (plan.inverse is not None) == inverts_itself
    probe = frame.head(200).copy()
    probe.loc[:10, "kind"] = None  # missing categories: the column's values looked up one by one
    assert identical(plan(as_columns(probe)), est.predict(probe))
    for i in range(15):
        assert identical(plan(as_columns(probe.iloc[[i]])), est.predict(probe.iloc[[i]]))
    if est.transformer_.get_params().get("validate"):  # no rows: refused, as the transformer does
        with pytest.raises(ValueError, match="0 sample"):
            plan(as_columns(probe.head(0)))


def test_the_column_plan_leaves_what_it_does_not_know_to_the_model(train):
    frame = flats(train)
    strict = fitted_like_the_example(frame, unknown="error")
    plan = ColumnPlan(strict, everything(substitute(strict)[1]), list(frame.columns))
    probe = frame.head(3).copy()
    assert identical(plan(as_columns(probe)), strict.predict(probe))
    probe.loc[1, "kind"] = "castle"
    assert plan(as_columns(probe)) is None  # the encoder raises on it: that answer is the model's
    scaled = Pipeline(
        [
            ("prep", ColumnTransformer([("scale", StandardScaler(), list("bcde"))], remainder="drop")),
            ("boost", HistGradientBoostingRegressor(max_iter=10)),
        ]
    ).fit(frame, frame["rooms"])
    with pytest.raises(NotCompilable, match="StandardScaler"):
        ColumnPlan(scaled, substitute(scaled)[1], list(frame.columns))
    result = compile_for_serving(
        scaled,
        lambda m, cols: m.predict(pd.DataFrame(cols)),
        [as_columns(frame.head(200))],
        rows_of=lambda cols: len(cols["b"]),
        direct=lambda est, compiled: ColumnPlan(est, compiled, list(frame.columns)),
    )
    assert result.model is not None and result.direct is None
    assert (
        result.outcome.direct.startswith("through the model's own steps")
        and "StandardScaler" in result.outcome.direct
    )


def test_batches_beyond_the_measured_size_go_to_the_model(train):
    est = HistGradientBoostingRegressor(max_iter=20).fit(train, target(train))
    compiled = substitute(est)[1]
    compiled.max_rows = 4
    assert compiled.raw(train[:4]) is not None and compiled.raw(train[:5]) is None
    assert identical(compiled.predict(train[:5]), est.predict(train[:5]))


def test_unseen_large_codes_predict_as_missing_and_codes_past_255_never_reach_the_walk(train):
    est = HistGradientBoostingRegressor(max_iter=20, categorical_features=[0]).fit(train, target(train))
    compiled = everything(substitute(est)[1])
    X = train[:3].copy()
    X[1, 0] = 300.0  # never seen in fit: the model's encoder makes it missing
    assert compiled.raw(X) is not None
    assert identical(compiled.predict(X), est.predict(X))
    # scikit-learn's C code casts a code to uint8, undefined past 255: such input goes to it
    assert not compiled.forest.handles(X) and compiled.forest.handles(train[:3])


def test_columns_in_another_order_get_scikit_learns_answer(train):
    frame = pd.DataFrame(train, columns=list("abcde"))
    est = HistGradientBoostingRegressor(max_iter=20).fit(frame, target(train))
    compiled = everything(substitute(est)[1])
    assert identical(compiled.predict(frame.head(3)), est.predict(frame.head(3)))
    with pytest.raises(ValueError, match="feature names"):
        compiled.predict(frame[list("edcba")].head(3))


def test_leaves_are_summed_in_scikit_learns_order(train):
    """Summing the same leaves pairwise (numpy's sum) differs in the last bits for some rows;
    the compiled walk must add them one tree after another, as scikit-learn does."""
    est = HistGradientBoostingRegressor(max_iter=200, learning_rate=0.3).fit(train, target(train) * 1e6)
    forest = pack(est)
    X = train[:2000]
    assert identical(forest.raw(X)[:, 0], est._raw_predict(X)[:, 0])


def test_other_models_are_served_as_they_are(train):
    est = KNeighborsRegressor(n_neighbors=3).fit(np.nan_to_num(train), target(train))
    model, _, outcome = compile_for_serving(est, lambda m, X: m.predict(X), [np.nan_to_num(train)])
    assert model is None and not outcome.compiled and "KNeighborsRegressor" in outcome.reason
    with pytest.raises(NotCompilable):
        substitute(est)


def test_a_compiled_model_that_differs_in_one_bit_is_refused(train):
    est = HistGradientBoostingRegressor(max_iter=20).fit(train, target(train))

    def predict(model, X):
        out = model.predict(X)
        if isinstance(model, CompiledBoosting):
            out[17] = np.nextafter(out[17], np.inf)
        return out

    model, _, outcome = compile_for_serving(est, predict, [train[:100]])
    assert model is None and "differ" in outcome.reason


def test_a_direct_path_that_differs_is_dropped_and_the_compiled_trees_kept(train):
    est = HistGradientBoostingRegressor(max_iter=20).fit(train, target(train))

    def direct(est, compiled):
        return lambda X: compiled.predict(X) * (1 + 1e-15)

    model, shortcut, outcome = compile_for_serving(
        est, lambda m, X: m.predict(X), [train[:200]], direct=direct
    )
    assert isinstance(model, CompiledBoosting) and shortcut is None and outcome.compiled
    assert outcome.direct.startswith("through the model's own steps: the direct path failed (max |diff|")


def test_compile_for_serving_checks_every_sample_and_fixes_the_batch_limit(train):
    est = HistGradientBoostingRegressor(max_iter=100).fit(train, target(train))
    samples = [train[:400], awkward()]
    model, _, outcome = compile_for_serving(est, lambda m, X: m.predict(X), samples)
    assert model is not None and outcome.compiled
    assert outcome.rows_checked == 1000 and outcome.max_rows >= 512 and outcome.speedup_1row > 1
    assert outcome.to_dict()["max_rows"] == model.max_rows == outcome.max_rows


def test_the_example_model_is_served_compiled_with_the_same_predictions(example_cfg, example_service):
    from mlrelease.dataset import read_table
    from mlrelease.serve.service import load_service

    assert example_service.compiled.compiled, example_service.compiled.reason
    assert example_service.compiled.rows_checked > 2000
    plain = load_service(
        dataclasses.replace(example_cfg, serving=dataclasses.replace(example_cfg.serving, compile=False))
    )
    assert example_service.compiled.direct == "columns" and example_service.direct is not None
    assert not plain.compiled.compiled and "serving.compile" in plain.compiled.reason
    assert plain.estimator is plain.model.estimator
    rows = read_table(example_cfg.validation.data).head(64)
    for n in (1, 3, 64):
        cols = {f.name: rows[f.name].head(n).tolist() for f in example_service.signature.fields}
        assert identical(example_service.predict_columns(cols), plain.predict_columns(cols))
