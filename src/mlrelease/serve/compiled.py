"""Compiled tree ensembles: a model's trees packed into flat arrays, walked for a whole batch
at once by generated C (``mlrelease.serve.native``) or, without a C compiler, by numpy.

scikit-learn's ``HistGradientBoosting*.predict`` walks each tree in its own Cython call and
OpenMP region, so a one-row predict of a 100-tree model costs about 100 calls' overhead (1 ms
here) for a few microseconds of arithmetic; the forests' predict goes through joblib per tree.
Here every tree of the model is packed into one set of flat node arrays; the generated C walks
them in about 0.005 ms a row (treelite + tl2cgen: 0.014 ms; bench/bench_predictors.py), the
numpy walk one level of all trees per step in about 0.04 ms. Leaves are summed in the order the
model adds them, with its comparisons and its float32 or float64 inputs, so the results are the
same floating-point numbers, not merely close ones.

The compiled model never serves unchecked: :func:`compile_for_serving` compares it with the
model's own ``predict`` on the validation rows (and on the same rows with values missing) and
keeps it only when every prediction is bit-identical; generated C that differs is dropped for the
numpy walk, checked the same way. The batch limit is fixed, never timed, so it is the same at
every start: none for the native walk, ``NUMPY_MAX_ROWS`` for the numpy one. Anything it does
not know (another estimator, a scikit-learn whose internals differ) falls back to ``predict``
with the reason in ``/version``.

Known: ``HistGradientBoosting``, ``GradientBoosting``, ``RandomForest`` and ``ExtraTrees``
regressors and classifiers, LightGBM's and XGBoost's regressors and classifiers
(``mlrelease.serve.boosters``: their own float32 or float64 arithmetic, their own sigmoid and
softmax through ``mlrelease.serve.links``), alone, as the last step of a ``Pipeline`` (the
earlier steps, such as a ColumnTransformer of OneHotEncoder, StandardScaler, SimpleImputer and
OrdinalEncoder, run as usual), or inside a ``TransformedTargetRegressor``. The wrappers are
shallow copies with the ensemble swapped for its compiled form, so their own code still does
everything else. For the server, a :class:`ColumnPlan` goes further when the steps before the trees are one
ColumnTransformer of OrdinalEncoders and passthrough columns: it encodes the request's columns
itself and never builds a DataFrame. It is checked on the same samples and dropped (the trees
kept) when it differs.
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

CAT_CODES = 256  # scikit-learn casts a categorical value to uint8 before its bitset lookup


class NotCompilable(Exception):
    """The model is not one this module compiles; the message says why."""


@dataclass(frozen=True)
class Forest:
    """All trees of a boosted model as flat arrays. Each inner node's two children sit side by
    side (right = left + 1), and a leaf is its own child, so a fixed number of steps walks every
    row of every tree to its leaf with a handful of array operations per step."""

    roots: np.ndarray  # (iterations * k,) node index of each tree's root, in prediction order
    feature: np.ndarray  # per node; 0 at leaves
    threshold: np.ndarray  # per node; +inf at leaves, so every value "goes left" to itself
    child: np.ndarray  # per node: the left child (right is child + 1); the node itself at leaves
    missing_left: np.ndarray  # bool: where a missing value goes; True at leaves
    value: np.ndarray  # (nodes, k): what a leaf adds to each output (0 at inner nodes)
    depth: int  # deepest leaf: this many steps bring every row to a leaf
    # Categorical splits: row ``cat_row[node]`` of ``cat_left`` says, for each uint8 code,
    # whether the value goes left; 0 (an all-False row) for numeric nodes.
    cat_row: np.ndarray | None
    cat_left: np.ndarray | None
    cat_features: np.ndarray  # the columns that categorical splits read
    baseline: np.ndarray  # (k,)
    k: int  # outputs (classes, for a multiclass classifier)
    float32: bool = False  # compare float32(value), as scikit-learn's DecisionTree does
    sum32: bool = False  # add the leaves in float32, as XGBoost does (baseline and leaves are float32)

    def raw(self, X: np.ndarray) -> np.ndarray:
        """The raw predictions, shape (rows, k): ``baseline + tree_1 + tree_2 + ...`` in order."""
        n, width = X.shape
        nodes = np.broadcast_to(self.roots, (n, self.roots.size)).copy()
        flat = X.ravel()
        if self.float32:  # scikit-learn's own trees compare float32 values
            with np.errstate(over="ignore"):
                flat = flat.astype(np.float32).astype(np.float64)
        rowbase = (np.arange(n, dtype=np.intp) * width)[:, None] if n > 1 else None
        has_missing = bool(np.isnan(flat).any())
        feature, threshold, child = self.feature, self.threshold, self.child
        for _ in range(self.depth):
            where = feature[nodes] if rowbase is None else rowbase + feature[nodes]
            values = flat[where]
            go_right = ~(values <= threshold[nodes])
            if has_missing:
                go_right &= ~(np.isnan(values) & self.missing_left[nodes])
            if self.cat_row is not None:
                go_right = self._categorical(nodes, values, go_right)
            nodes = child[nodes] + go_right
        leaves = self.value[nodes]  # (rows, trees, k)
        start = np.broadcast_to(self.baseline, (n, 1, self.k))
        terms = np.concatenate([start, leaves], axis=1)
        if self.sum32:  # a float32 running sum: each addition rounded to float32, as XGBoost's
            return np.cumsum(terms.astype(np.float32), axis=1)[:, -1, :].astype(np.float64)
        # cumsum adds strictly left to right, as scikit-learn's `raw += tree(X)` loop does
        return np.cumsum(terms, axis=1)[:, -1, :]

    def _categorical(self, nodes: np.ndarray, values: np.ndarray, go_right: np.ndarray) -> np.ndarray:
        """scikit-learn's categorical rule, at the categorical nodes only: a missing or negative
        value goes where missing values go; otherwise the node's table decides (unknown
        categories go as missing ones)."""
        assert self.cat_row is not None and self.cat_left is not None
        rows = self.cat_row[nodes].ravel()
        where = np.flatnonzero(rows)
        if not where.size:
            return go_right
        value = values.ravel()[where]
        usable = value >= 0  # False for NaN too
        codes = np.where(usable, value, 0).astype(np.uint8)
        missing_right = ~self.missing_left[nodes.ravel()[where]]
        out = go_right.ravel()  # a fresh array from the comparisons: safe to write
        out[where] = np.where(usable, ~self.cat_left[rows[where], codes], missing_right)
        return out.reshape(go_right.shape)

    def handles(self, X: np.ndarray) -> bool:
        """False for values whose uint8 cast is undefined in scikit-learn's C code (>= 256)."""
        if not self.cat_features.size:
            return True
        return not bool(np.any(X[:, self.cat_features] >= CAT_CODES))


def pack(est: Any) -> Forest:
    """The trees of a fitted HistGradientBoosting model as one :class:`Forest`."""
    try:
        predictors = est._predictors
        baseline = np.asarray(est._baseline_prediction, dtype=np.float64).reshape(-1)
        k = int(est.n_trees_per_iteration_)
        known, f_idx_map = est._bin_mapper.make_known_categories_bitsets()
    except AttributeError as exc:  # another scikit-learn layout: not ours to guess
        raise NotCompilable(f"{type(est).__name__} lacks {exc.name!r}") from exc
    trees = [p for iteration in predictors for p in iteration]
    if not trees or len(trees) % k or baseline.size != k:
        raise NotCompilable(f"{type(est).__name__}: unexpected tree layout")
    names = ("feature", "threshold", "child", "ml", "value", "cat_row")
    parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
    roots: list[int] = []
    cat_tables = [np.zeros(CAT_CODES, dtype=bool)]
    cat_features: set[int] = set()
    offset, depth = 0, 0
    codes = np.arange(CAT_CODES)
    for t, tree in enumerate(trees):
        nodes = tree.nodes
        order = _sibling_order(nodes)  # new position -> old node index
        nodes = nodes[order]
        position = np.empty(len(order), dtype=np.intp)
        position[order] = np.arange(len(order), dtype=np.intp)
        leaf = nodes["is_leaf"].astype(bool)
        here = np.arange(len(nodes), dtype=np.intp)
        roots.append(offset)
        parts["feature"].append(np.where(leaf, 0, nodes["feature_idx"]).astype(np.intp))
        parts["threshold"].append(np.where(leaf, np.inf, nodes["num_threshold"]).astype(np.float64))
        parts["child"].append(np.where(leaf, here, position[nodes["left"].astype(np.intp) * ~leaf]) + offset)
        parts["ml"].append(nodes["missing_go_to_left"].astype(bool) | leaf)
        values = np.zeros((len(nodes), k), dtype=np.float64)
        values[:, t % k] = np.where(leaf, nodes["value"], 0.0)
        parts["value"].append(values)
        rows = np.zeros(len(nodes), dtype=np.intp)
        for i in np.flatnonzero(nodes["is_categorical"].astype(bool) & ~leaf):
            node = nodes[i]
            feature = int(node["feature_idx"])
            raw_left = _bits(tree.raw_left_cat_bitsets[node["bitset_idx"]], codes)
            seen = _bits(known[f_idx_map[feature]], codes)
            # in the left bitset: left; a known category not in it: right; unknown: as missing
            rows[i] = len(cat_tables)
            cat_tables.append(raw_left | (~seen & bool(node["missing_go_to_left"])))
            cat_features.add(feature)
        parts["cat_row"].append(rows)
        depth = max(depth, int(nodes["depth"][leaf].max()))
        offset += len(nodes)
    has_cat = len(cat_tables) > 1
    return Forest(
        roots=np.asarray(roots, dtype=np.intp),
        feature=np.concatenate(parts["feature"]),
        threshold=np.concatenate(parts["threshold"]),
        child=np.concatenate(parts["child"]),
        missing_left=np.concatenate(parts["ml"]),
        value=np.concatenate(parts["value"]),
        depth=depth,
        cat_row=np.concatenate(parts["cat_row"]) if has_cat else None,
        cat_left=np.stack(cat_tables) if has_cat else None,
        cat_features=np.asarray(sorted(cat_features), dtype=np.intp),
        baseline=baseline,
        k=k,
    )


def pack_trees(
    trees: Sequence[tuple[Any, np.ndarray]], baseline: np.ndarray, float32: bool, sum32: bool = False
) -> Forest:
    """scikit-learn ``Tree`` objects (``tree_`` of a DecisionTree) as one :class:`Forest`, each
    with what its leaves add to every output (nodes, k)."""
    k = int(baseline.size)
    parts: dict[str, list[np.ndarray]] = {n: [] for n in ("feature", "threshold", "child", "ml", "value")}
    roots: list[int] = []
    offset, depth = 0, 0
    for tree, leaf_values in trees:
        left_of = np.asarray(tree.children_left, dtype=np.intp)
        right_of = np.asarray(tree.children_right, dtype=np.intp)
        order, levels = _sibling_order_arrays(left_of, right_of)
        position = np.empty(len(order), dtype=np.intp)
        position[order] = np.arange(len(order), dtype=np.intp)
        leaf = left_of[order] < 0
        here = np.arange(len(order), dtype=np.intp)
        missing = getattr(tree, "missing_go_to_left", None)
        ml = np.zeros(len(order), dtype=bool) if missing is None else np.asarray(missing, dtype=bool)[order]
        roots.append(offset)
        parts["feature"].append(np.where(leaf, 0, np.asarray(tree.feature)[order]).astype(np.intp))
        parts["threshold"].append(
            np.where(leaf, np.inf, np.asarray(tree.threshold)[order]).astype(np.float64)
        )
        parts["child"].append(np.where(leaf, here, position[np.where(leaf, 0, left_of[order])]) + offset)
        parts["ml"].append(ml | leaf)
        values = np.asarray(leaf_values, dtype=np.float64)[order]
        parts["value"].append(np.where(leaf[:, None], values, 0.0))
        depth = max(depth, levels)
        offset += len(order)
    if not roots:
        raise NotCompilable("a model without trees")
    return Forest(
        roots=np.asarray(roots, dtype=np.intp),
        feature=np.concatenate(parts["feature"]),
        threshold=np.concatenate(parts["threshold"]),
        child=np.concatenate(parts["child"]),
        missing_left=np.concatenate(parts["ml"]),
        value=np.concatenate(parts["value"]),
        depth=depth,
        cat_row=None,
        cat_left=None,
        cat_features=np.zeros(0, dtype=np.intp),
        baseline=np.asarray(baseline, dtype=np.float64).reshape(-1),
        k=k,
        float32=float32,
        sum32=sum32,
    )


def _sibling_order_arrays(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, int]:
    """Breadth-first node order where each right child follows its left sibling, and the depth."""
    order, level, depth = [0], [0], 0
    for i, node in enumerate(order):  # grows while it is walked
        if left[node] >= 0:
            order += (int(left[node]), int(right[node]))
            level += (level[i] + 1, level[i] + 1)
            depth = max(depth, level[i] + 1)
    if len(order) != len(left):
        raise NotCompilable("a tree has nodes its root does not reach")
    return np.asarray(order, dtype=np.intp), depth


def _sibling_order(nodes: np.ndarray) -> np.ndarray:
    """Old node indices in an order where each inner node's right child follows its left one."""
    order = [0]
    for i in order:  # grows while it is walked: breadth first
        if not nodes["is_leaf"][i]:
            order += (int(nodes["left"][i]), int(nodes["right"][i]))
    if len(order) != len(nodes):
        raise NotCompilable("a tree has nodes its root does not reach")
    return np.asarray(order, dtype=np.intp)


def _bits(bitset: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Membership of each code in a 256-bit bitset of eight uint32 words."""
    words = np.asarray(bitset, dtype=np.uint32)
    return np.asarray((words[codes // 32] >> (codes % 32).astype(np.uint32)) & 1, dtype=bool)


# The numpy walk's batch limit, a bound on its memory (rows x trees node indices per level), not
# a timing: at 100 rows it is 3x faster than the benchmark model's own predict (0.5 vs 1.5 ms).
NUMPY_MAX_ROWS = 512


@dataclass(frozen=True)
class Family:
    """How one kind of model turns the summed leaves into its answers, as its own code does."""

    name: str
    finish: Callable[[np.ndarray], np.ndarray]  # raw sums (rows, k) -> predict's answer
    probabilities: Callable[[np.ndarray], np.ndarray] | None = None  # raw sums -> predict_proba's
    allow_nan: bool = True  # False: the model refuses missing values; so does the compiled form
    links: bool = False  # True: its probabilities call mlrelease.serve.links (LightGBM, XGBoost)


class CompiledTrees:
    """A fitted tree ensemble whose ``predict`` walks the packed trees (natively when a C
    compiler built them, else with numpy) for batches up to ``max_rows`` and hands anything
    else to the model itself."""

    def __init__(self, est: Any, forest: Forest, family: Family, max_rows: int = 64):
        self.est = est
        self.forest = forest
        self.family = family
        self.max_rows = max_rows
        self.classes_ = getattr(est, "classes_", None)
        self.n_features_in_ = est.n_features_in_
        names = getattr(est, "feature_names_in_", None)
        self._names = None if names is None else list(names)
        self._encoding = CategoryEncoding.of(est)
        self.seen: list[Any] | None = None  # while checking: the inputs it was given
        self.walk: Callable[[np.ndarray], np.ndarray] = forest.raw
        self.engine = "numpy"  # or "native": the generated C
        self.engine_note = ""  # why not native, when not

    def use_native(self, prebuilt: Sequence[Any] = ()) -> None:
        """Walk the trees with generated, compiled C when a library can be found or built."""
        from mlrelease.serve.native import NoNativeCode, load

        if self.family.links:
            from mlrelease.serve.links import prefer

            prefer(prebuilt)
        try:
            native = load(self.forest, prebuilt)
        except NoNativeCode as exc:
            self.engine_note = str(exc)
            return
        self.walk, self.engine, self.engine_note = native.raw, "native", ""

    def use_numpy(self) -> None:
        self.walk, self.engine = self.forest.raw, "numpy"

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def __sklearn_tags__(self) -> Any:
        return self.est.__sklearn_tags__()  # it predicts as the model it was compiled from

    def fit(self, *args: Any, **kwargs: Any) -> CompiledTrees:
        """Wrappers check that their steps have ``fit``; a compiled model only predicts."""
        raise TypeError("a compiled model only predicts: fit the original estimator")

    def _array(self, X: Any) -> np.ndarray | None:
        """X as the float64 array scikit-learn would predict on, or None to defer to it."""
        pd = sys.modules.get("pandas")  # not loaded: X cannot be a DataFrame (a compiled-only server)
        if pd is not None and isinstance(X, pd.DataFrame):
            # scikit-learn refuses columns in another order; leave that answer to it
            if list(X.columns) != self._names or not all(dt.kind in "fiub" for dt in X.dtypes):
                return None
            X = X.to_numpy(dtype=np.float64)
        elif not isinstance(X, np.ndarray):
            return None
        if X.ndim != 2 or X.shape[1] != self.n_features_in_ or X.dtype.kind not in "fiub":
            return None
        X = np.ascontiguousarray(X, dtype=np.float64)
        if self._encoding is not None:
            X = self._encoding.encode(X)
        if not self.family.allow_nan and not np.isfinite(X).all():
            return None  # the model's own error, not a guess
        if self.forest.float32 and _beyond_float32(X):
            return None  # scikit-learn's trees refuse infinities and values float32 cannot hold
        return X if self.forest.handles(X) else None

    def raw(self, X: Any) -> np.ndarray | None:
        if self.seen is not None:
            self.seen.append(X)
        if len(X) > self.max_rows:
            return None
        arr = self._array(X)
        return None if arr is None else self.walk(arr)

    def predict(self, X: Any) -> np.ndarray:
        raw = self.raw(X)
        return self.est.predict(X) if raw is None else self.finish(raw)

    def finish(self, raw: np.ndarray) -> np.ndarray:
        """What ``predict`` makes of the raw sums, as the model's own code does it."""
        return self.family.finish(raw)

    def predict_proba(self, X: Any) -> np.ndarray:
        raw = self.raw(X) if self.family.probabilities is not None else None
        return self.est.predict_proba(X) if raw is None else self.probabilities(raw)

    def probabilities(self, raw: np.ndarray) -> np.ndarray:
        """What ``predict_proba`` makes of the raw sums, as the model's own code does it."""
        if self.family.probabilities is None:
            raise NotCompilable(f"{self.family.name} has no probabilities")
        return self.family.probabilities(raw)


def _beyond_float32(X: np.ndarray) -> bool:
    with np.errstate(over="ignore"):
        return bool(np.isinf(X.astype(np.float32)).any())


CompiledBoosting = CompiledTrees  # the name from when only boosted models compiled


def _hist_family(est: Any) -> Family:
    name = type(est).__name__
    classes = getattr(est, "classes_", None)
    if classes is None:
        link = est._loss.link.inverse
        return Family(name, lambda raw: link(raw.ravel()))

    def labels(raw: np.ndarray) -> np.ndarray:
        if raw.shape[1] == 1:
            return np.asarray(classes[(raw.ravel() > 0).astype(int)])
        return np.asarray(classes[np.argmax(raw, axis=1)])

    return Family(name, labels, est._loss.predict_proba)


def _forest_model(est: Any) -> tuple[Forest, Family]:
    """RandomForest / ExtraTrees: the mean of the trees' leaves (class fractions for a
    classifier), summed tree by tree from zero and divided by the number of trees."""
    name = type(est).__name__
    if int(getattr(est, "n_outputs_", 1)) != 1:
        raise NotCompilable(f"{name} with several outputs")
    count = len(est.estimators_)
    classes = getattr(est, "classes_", None)
    if classes is None:
        trees = [(e.tree_, e.tree_.value[:, 0, :1]) for e in est.estimators_]
        forest = pack_trees(trees, np.zeros(1), float32=True)
        return forest, Family(name, lambda raw: raw[:, 0] / count)
    k = len(classes)
    trees = [(e.tree_, e.tree_.value[:, 0, :k]) for e in est.estimators_]
    forest = pack_trees(trees, np.zeros(k), float32=True)

    def proba(raw: np.ndarray) -> np.ndarray:
        out = raw.copy()
        out /= count
        return out

    def labels(raw: np.ndarray) -> np.ndarray:
        return np.asarray(classes.take(np.argmax(proba(raw), axis=1), axis=0))

    return forest, Family(name, labels, proba)


def _gradient_model(est: Any) -> tuple[Forest, Family]:
    """GradientBoosting: the init estimator's constant, then ``learning_rate * leaf`` of each
    stage's trees added in order, as scikit-learn's predict_stages does (on float32 inputs)."""
    from sklearn.dummy import DummyClassifier, DummyRegressor

    name = type(est).__name__
    if not (est.init_ == "zero" or isinstance(est.init_, DummyRegressor | DummyClassifier)):
        raise NotCompilable(f"{name} with an init estimator whose output depends on the input")
    baseline = np.asarray(est._raw_predict_init(np.zeros((1, est.n_features_in_))), dtype=np.float64)[0]
    k = baseline.size
    scale = float(est.learning_rate)
    trees = []
    for stage in est.estimators_:
        for j, tree in enumerate(stage):
            values = np.zeros((tree.tree_.node_count, k), dtype=np.float64)
            values[:, j] = scale * tree.tree_.value[:, 0, 0]
            trees.append((tree.tree_, values))
    forest = pack_trees(trees, baseline, float32=True)
    classes = getattr(est, "classes_", None)
    if classes is None:
        return forest, Family(name, lambda raw: raw.ravel(), allow_nan=False)

    def decision(raw: np.ndarray) -> np.ndarray:
        return raw.ravel() if raw.shape[1] == 1 else raw

    def labels(raw: np.ndarray) -> np.ndarray:
        if raw.shape[1] == 1:
            return np.asarray(classes[(raw.ravel() >= 0).astype(int)])
        return np.asarray(classes[np.argmax(raw, axis=1)])

    return forest, Family(name, labels, lambda raw: est._loss.predict_proba(decision(raw)), allow_nan=False)


def compile_trees(est: Any) -> CompiledTrees:
    """The compiled form of a fitted tree ensemble; NotCompilable for any other model."""
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

    if isinstance(est, HistGradientBoostingRegressor | HistGradientBoostingClassifier):
        return CompiledTrees(est, pack(est), _hist_family(est))
    try:
        if isinstance(
            est, RandomForestRegressor | RandomForestClassifier | ExtraTreesRegressor | ExtraTreesClassifier
        ):
            return CompiledTrees(est, *_forest_model(est))
        if isinstance(est, GradientBoostingRegressor | GradientBoostingClassifier):
            return CompiledTrees(est, *_gradient_model(est))
    except AttributeError as exc:  # another scikit-learn layout: not ours to guess
        raise NotCompilable(f"{type(est).__name__} lacks {exc.name!r}") from exc
    from mlrelease.serve.boosters import is_lightgbm, is_xgboost, lightgbm_model, xgboost_model

    if is_lightgbm(est):
        return CompiledTrees(est, *lightgbm_model(est))
    if is_xgboost(est):
        return CompiledTrees(est, *xgboost_model(est))
    raise NotCompilable(f"{type(est).__name__} is not a tree ensemble this version compiles ({KNOWN})")


KNOWN = (
    "HistGradientBoosting, GradientBoosting, RandomForest and ExtraTrees regressors and classifiers; "
    "LGBMRegressor and LGBMClassifier (binary, multiclass); XGBRegressor (reg:squarederror) and "
    "XGBClassifier (binary:logistic, multi:softprob); alone, in a Pipeline or a TransformedTargetRegressor"
)


@dataclass(frozen=True)
class CategoryEncoding:
    """What a HistGradientBoosting model fitted with ``categorical_features`` does to its input
    first (its internal ColumnTransformer): each categorical column becomes the position of its
    value among the categories seen in fit (missing or unseen: NaN), and those columns move to
    the front, before the numeric ones."""

    categorical: np.ndarray  # column indices, in the order the encoder outputs them
    numeric: np.ndarray
    categories: tuple[np.ndarray, ...]  # sorted known values of each categorical column, no NaN

    @classmethod
    def of(cls, est: Any) -> CategoryEncoding | None:
        pre = getattr(est, "_preprocessor", None)
        if pre is None:
            return None
        try:
            mask = np.asarray(est.is_categorical_, dtype=bool)
            names = [name for name, _, _ in pre.transformers_]
            encoder = pre.named_transformers_["encoder"]
            seen = [np.asarray(c) for c in encoder.categories_]
        except (AttributeError, KeyError) as exc:
            raise NotCompilable(f"unexpected categorical preprocessing: {exc}") from exc
        if names[:2] != ["encoder", "numerical"]:
            raise NotCompilable("unexpected categorical preprocessing")
        try:  # categories fitted from an object array (numbers beside booleans) are numbers too
            seen = [c.astype(np.float64) if c.dtype.kind == "O" else c for c in seen]
        except (TypeError, ValueError):
            raise NotCompilable("categorical preprocessing other than numeric codes") from None
        if any(c.dtype.kind not in "fiu" for c in seen):
            raise NotCompilable("categorical preprocessing other than numeric codes")
        if len(seen) != int(mask.sum()):
            raise NotCompilable("categorical preprocessing does not match the categorical columns")
        return cls(
            categorical=np.flatnonzero(mask),
            numeric=np.flatnonzero(~mask),
            categories=tuple(np.sort(c[~np.isnan(c)].astype(np.float64)) for c in seen),
        )

    def encode(self, X: np.ndarray) -> np.ndarray:
        out = np.empty_like(X)
        for j, (column, known) in enumerate(zip(self.categorical, self.categories, strict=True)):
            values = X[:, column]
            at = np.minimum(np.searchsorted(known, values), max(len(known) - 1, 0))
            hit = known[at] == values if len(known) else np.zeros(len(values), dtype=bool)
            out[:, j] = np.where(hit, at, np.nan)
        out[:, len(self.categorical) :] = X[:, self.numeric]
        return out


def substitute(est: Any) -> tuple[Any, CompiledTrees]:
    """``est`` with its tree ensemble swapped for the compiled one (a shallow copy of each
    wrapper on the way); raises NotCompilable for anything else."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.pipeline import Pipeline

    if isinstance(est, Pipeline):
        name, last = est.steps[-1]
        inner, compiled = substitute(last)
        wrapper = copy.copy(est)
        wrapper.steps = [*est.steps[:-1], (name, inner)]
        return wrapper, compiled
    if isinstance(est, TransformedTargetRegressor) and hasattr(est, "regressor_"):
        inner, compiled = substitute(est.regressor_)
        wrapper = copy.copy(est)
        wrapper.regressor_ = inner
        return wrapper, compiled
    compiled = compile_trees(est)
    return compiled, compiled


class ColumnPlan:
    """A whole model as one function of a request's validated columns: the column encoding of a
    leading ColumnTransformer done with dictionaries, the compiled trees, then the model's own
    output steps. It skips building a DataFrame and sending it through scikit-learn's per-call
    checks, which cost a few milliseconds a request for a model such as the example's.

    Known: a HistGradientBoosting model alone or after a ColumnTransformer whose parts are
    OrdinalEncoders, passthrough and drop, optionally inside a TransformedTargetRegressor.
    """

    def __init__(self, est: Any, compiled: CompiledBoosting, names: Sequence[str], proba: bool = False):
        from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import FunctionTransformer

        self.compiled = compiled
        self.proba = proba  # answer (labels, probabilities) as a classifier's predict_proba does
        if proba and compiled.classes_ is None:
            raise NotCompilable("probabilities asked of a model without classes")
        self.target = None
        # a FunctionTransformer target's inverse function, its arguments and whether the
        # transformer checks its input first
        self.inverse: tuple[Callable[..., Any], dict[str, Any], bool] | None = None
        inner = est
        if isinstance(est, TransformedTargetRegressor):
            self.target = est
            inner = est.regressor_
            target = est.transformer_
            if type(target) is FunctionTransformer and callable(target.inverse_func):
                self.inverse = (target.inverse_func, dict(target.inv_kw_args or {}), bool(target.validate))
        steps = inner.steps if isinstance(inner, Pipeline) else [("model", inner)]
        if steps[-1][1] is not compiled.est:
            raise NotCompilable("the boosted model is not the last step")
        front = [step for _, step in steps[:-1] if step != "passthrough" and step is not None]
        if not front:
            order = _model_columns(compiled.est, names)
            self.outputs: list[tuple[str, dict[Any, float] | None, float | None]] = [
                (name, None, None) for name in order
            ]
        elif len(front) == 1 and isinstance(front[0], ColumnTransformer):
            self.outputs = _column_outputs(front[0])
        else:
            raise NotCompilable(f"steps before the model other than one ColumnTransformer: {front}")
        missing = [name for name, _, _ in self.outputs if name not in names]
        if missing:
            raise NotCompilable(f"the model reads columns the signature lacks: {missing}")
        # input column -> the column of the model's input matrix holding its values as float64
        self.passthrough: dict[str, int] = {}
        for j, (name, codes, _) in enumerate(self.outputs):
            if codes is None:
                self.passthrough.setdefault(name, j)

    def __call__(self, columns: dict[str, list[Any]]) -> Any:
        answer = self.answer(columns)
        return None if answer is None else answer[0]

    def answer(self, columns: dict[str, list[Any]]) -> tuple[Any, np.ndarray] | None:
        """What ``__call__`` answers, and the matrix the trees read (rows x outputs), whose
        ``passthrough`` columns are the input columns as float64 (None: not handled)."""
        first = self.outputs[0][0]
        n = len(columns[first])
        if n > self.compiled.max_rows:
            return None
        X = np.empty((n, len(self.outputs)), dtype=np.float64)
        for j, (name, codes, unknown) in enumerate(self.outputs):
            values = columns[name]
            if codes is None:
                X[:, j] = np.asarray(values, dtype=np.float64)  # None becomes NaN
                continue
            # every value a known category (most requests): one lookup each, in C
            known = list(map(codes.get, values))
            if None not in known:
                X[:, j] = known
                continue
            for i, value in enumerate(values):
                code = codes.get(_key(value), unknown)
                if code is None:  # an unknown category the encoder refuses: its error, not ours
                    return None
                X[i, j] = code
        raw = self.compiled.raw(X)
        if raw is None:
            return None
        pred = self.compiled.finish(raw)
        if self.proba:
            return (pred, self.compiled.probabilities(raw)), X
        if self.target is None:
            return pred, X
        y = pred.reshape(-1, 1)
        inverse = self.inverse
        if inverse is not None and y.size and not (inverse[2] and not np.isfinite(y).all()):
            # what FunctionTransformer.inverse_transform computes once check_array has passed
            # finite float64 values through unchanged, without its per-call checks (0.04 ms)
            out = inverse[0](y, **inverse[1])
        else:  # its own path, and its own error for values it refuses
            out = self.target.transformer_.inverse_transform(y)
        if self.target._training_dim == 1 and out.ndim == 2 and out.shape[1] == 1:
            out = out.squeeze(axis=1)
        return np.asarray(out), X


_MISSING = object()  # the dictionary key of a missing value (None or NaN)


def _key(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return _MISSING
    return value


def _model_columns(est: Any, names: Sequence[str]) -> list[str]:
    fitted = getattr(est, "feature_names_in_", None)
    order = list(fitted) if fitted is not None else list(names)
    if len(order) != est.n_features_in_:
        raise NotCompilable("the model's columns are not the signature's")
    return order


def _column_outputs(ct: Any) -> list[tuple[str, dict[Any, float] | None, float | None]]:
    """Each output column of a fitted ColumnTransformer: the input column it comes from, and
    for an encoded one its code of each category and the code of an unknown one (None: the
    encoder raises on it)."""
    from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder

    if getattr(ct, "sparse_output_", False) or getattr(ct, "feature_names_in_", None) is None:
        raise NotCompilable("a ColumnTransformer fitted without column names, or with sparse output")
    inputs = list(ct.feature_names_in_)
    out: list[tuple[str, dict[Any, float] | None, float | None]] = []
    for _, part, cols in ct.transformers_:
        selected = _selected(cols, inputs)
        if part == "drop" or not selected:
            continue
        if part == "passthrough" or (
            isinstance(part, FunctionTransformer) and part.func is None and not part.validate
        ):
            out.extend((name, None, None) for name in selected)
        elif isinstance(part, OrdinalEncoder):
            out.extend(_ordinal(part, selected))
        else:
            raise NotCompilable(f"a {type(part).__name__} in the ColumnTransformer")
    return out


def _selected(cols: Any, inputs: list[str]) -> list[str]:
    if isinstance(cols, str):
        return [cols]
    arr = np.asarray(cols)
    if arr.dtype == bool:
        return [n for n, keep in zip(inputs, arr, strict=True) if keep]
    if arr.dtype.kind in "iu":
        return [inputs[i] for i in arr]
    if arr.dtype.kind in "OU":
        return [str(c) for c in arr]
    raise NotCompilable(f"columns chosen by {cols!r}")


def _ordinal(enc: Any, selected: list[str]) -> list[tuple[str, dict[Any, float], float | None]]:
    if getattr(enc, "_infrequent_enabled", False) or np.dtype(enc.dtype) != np.float64:
        raise NotCompilable("an OrdinalEncoder with infrequent categories or a dtype other than float64")
    unknown = float(enc.unknown_value) if enc.handle_unknown == "use_encoded_value" else None
    out = []
    for name, seen in zip(selected, enc.categories_, strict=True):
        codes: dict[Any, float] = {}
        for i, value in enumerate(seen.tolist()):
            key = _key(value)
            codes[key] = float(enc.encoded_missing_value) if key is _MISSING else float(i)
        out.append((name, codes, unknown))
    return out


def columns_path(names: Sequence[str], proba: bool = False) -> Callable[[Any, CompiledBoosting], Direct]:
    """The ``direct`` builder for :func:`compile_for_serving` when inputs are the server's
    validated columns (name -> values), ``names`` being the signature's columns; with ``proba``
    it answers (labels, probabilities)."""

    def build(est: Any, compiled: CompiledBoosting) -> Direct:
        return ColumnPlan(est, compiled, names, proba)

    return build


@dataclass(frozen=True)
class Outcome:
    """What :func:`compile_for_serving` decided, for /version and the start-up log."""

    compiled: bool
    reason: str
    max_rows: int = 0
    rows_checked: int = 0
    speedup_1row: float | None = None
    direct: str | None = None  # how requests reach the trees: "columns" (no DataFrame), or why not
    family: str | None = None  # the tree ensemble found (RandomForestClassifier, ...)
    engine: str | None = None  # "native" (generated C) or "numpy" (the vectorised walk)
    engine_note: str = ""  # why not native, when not
    runtime: str | None = None  # "compiled-only": the image serves the compiled model alone
    compiled_from: dict[str, str] | None = None  # what was compiled, at build time (model, family, ...)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"compiled": self.compiled, "reason": self.reason}
        if self.runtime is not None:
            out.update(runtime=self.runtime, compiled_from=self.compiled_from)
        if self.compiled:
            out.update(
                max_rows=self.max_rows,
                rows_checked=self.rows_checked,
                speedup_1row=self.speedup_1row,
                direct=self.direct,
                family=self.family,
                engine=self.engine,
            )
            if self.engine_note:
                out["engine_note"] = self.engine_note
        elif self.family is not None:
            out["family"] = self.family
        return out


Direct = Callable[[Any], Any]  # an input -> its predictions (or (labels, probabilities)); None: not handled


class Compiled(NamedTuple):
    """What :func:`compile_for_serving` gives: the model to predict with (None: the original),
    a direct path from the request's columns when one was built and checked, and the outcome."""

    model: Any | None
    direct: Direct | None
    outcome: Outcome


def compile_for_serving(
    est: Any,
    predict: Callable[[Any, Any], np.ndarray | tuple[np.ndarray, np.ndarray]],
    samples: Sequence[Any],
    rows_of: Callable[[Any], int] = len,
    direct: Callable[[Any, CompiledTrees], Direct] | None = None,
    native: bool = True,
    prebuilt: Sequence[Any] = (),
) -> Compiled:
    """The compiled form of ``est`` when it predicts bit-identically on every sample.

    ``predict(model, X)`` predicts the way the server does (the predictions, or a tuple such as
    a classifier's labels and probabilities, every part compared); ``samples`` are inputs to compare on
    (validation rows, the same with values missing, ...); ``rows_of(X)`` counts a sample's rows.
    ``direct(est, compiled)``, when given, builds a faster path from a sample's own form of input
    to the compiled trees (raising NotCompilable when it cannot); it returns None for an input it
    leaves to the model, and is checked on every sample too. With ``native`` the trees are
    walked by generated C (a library from ``prebuilt`` folders, the cache, or the C compiler);
    when that is unavailable or differs, by the numpy walk, checked the same way.

    The batch limit is fixed, not timed: the native walk takes every batch (measured faster than
    the model's own predict from 1 to 10,000 rows), the numpy walk up to ``NUMPY_MAX_ROWS``.
    """
    try:
        model, compiled = substitute(est)
    except NotCompilable as exc:
        return Compiled(None, None, Outcome(False, str(exc)))
    except Exception as exc:  # a layout this version does not know: serve the model as it is
        why = f"could not compile {type(est).__name__}: {type(exc).__name__}: {exc}"
        return Compiled(None, None, Outcome(False, why))
    family = compiled.family.name
    shortcut: Direct | None = None
    how = None
    if direct is not None:
        try:
            shortcut, how = direct(est, compiled), "columns"
        except NotCompilable as exc:
            how = f"through the model's own steps: {exc}"
    if native:
        compiled.use_native(prebuilt)
    else:
        compiled.engine_note = "native code switched off"
    checked = _check(est, model, compiled, predict, samples, rows_of, shortcut)
    if isinstance(checked, str) and compiled.engine == "native":
        note = f"the native walk was refused ({checked})"
        compiled.use_numpy()
        compiled.engine_note = note
        checked = _check(est, model, compiled, predict, samples, rows_of, shortcut)
    if isinstance(checked, str):
        return Compiled(None, None, Outcome(False, checked, family=family))
    rows, seen, problem = checked
    if problem:  # the trees are right; only the way there is not: serve without it
        shortcut, how = None, f"through the model's own steps: the direct path failed ({problem})"
    if not rows or not seen:
        why = "no rows to check the compiled predictions against"
        return Compiled(None, None, Outcome(False, why, family=family))
    compiled.max_rows = MAX_BATCH if compiled.engine == "native" else NUMPY_MAX_ROWS
    speedup = _speedup(compiled, seen[0])
    outcome = Outcome(
        True,
        "bit-identical on every checked row",
        compiled.max_rows,
        rows,
        round(speedup, 1),
        how,
        family=family,
        engine=compiled.engine,
        engine_note=compiled.engine_note,
    )
    return Compiled(model, shortcut, outcome)


MAX_BATCH = 1 << 62  # no limit


def _check(
    est: Any,
    model: Any,
    compiled: CompiledTrees,
    predict: Callable[[Any, Any], np.ndarray | tuple[np.ndarray, np.ndarray]],
    samples: Sequence[Any],
    rows_of: Callable[[Any], int],
    shortcut: Direct | None,
) -> tuple[int, list[Any], str | None] | str:
    """Rows compared, the inputs the trees saw and any problem of the direct path; or why the
    compiled model is refused."""
    rows = 0
    problem: str | None = None
    compiled.max_rows = MAX_BATCH  # compare the compiled walk on whole samples
    compiled.seen = []
    try:
        for X in samples:
            try:
                want = _output(predict(est, X))
            except Exception:  # inputs this model refuses (the server's validation keeps them out)
                continue
            try:
                got = _output(predict(model, X))
            except Exception as exc:
                return f"the compiled model failed: {type(exc).__name__}: {exc}"
            if not _same(want, got):
                return f"compiled predictions differ from the model's (max |diff| {_max_diff(want, got)})"
            if shortcut is not None and problem is None:
                try:
                    fast = shortcut(X)
                    if fast is not None and not _same(want, fast):
                        problem = f"max |diff| {_max_diff(want, fast)}"
                except Exception as exc:
                    problem = f"{type(exc).__name__}: {exc}"
            rows += rows_of(X)
        return rows, compiled.seen, problem
    finally:
        compiled.seen = None


def _output(out: Any) -> Any:
    return tuple(np.asarray(part) for part in out) if isinstance(out, tuple) else np.asarray(out)


def _same(want: Any, got: Any) -> bool:
    if isinstance(want, tuple):
        return isinstance(got, tuple) and len(got) == len(want) and all(map(_same, want, got))
    got = np.asarray(got)
    return want.shape == got.shape and _identical(want, got)


def _identical(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype.kind == "f" and b.dtype.kind == "f":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


def _max_diff(a: Any, b: Any) -> str:
    if isinstance(a, tuple):
        if not isinstance(b, tuple) or len(a) != len(b):
            return "outputs differ"
        return "; ".join(_max_diff(x, y) for x, y in zip(a, b, strict=True))
    try:
        return f"{float(np.nanmax(np.abs(a.astype(float) - b.astype(float)))):.3g}"
    except (TypeError, ValueError):
        return "labels differ"


def _speedup(compiled: CompiledTrees, X: Any) -> float:
    """How many times faster the compiled walk predicts one row of ``X`` (as the model receives
    it) than the model's own predict: reported in /version, never used to decide anything."""
    import pandas as pd

    head = X.iloc[:1] if isinstance(X, pd.DataFrame) else X[:1]
    return _best_of(compiled.est.predict, head) / _best_of(compiled.predict, head)


def _best_of(predict: Callable[[Any], Any], X: Any, repeat: int = 5) -> float:
    predict(X)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        predict(X)
        times.append(time.perf_counter() - t)
    return min(times)
