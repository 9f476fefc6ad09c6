"""LightGBM and XGBoost models for :mod:`mlrelease.serve.compiled`, read through their public
model dumps; neither library is imported unless the model is one of theirs.

LightGBM: the trees of ``booster.dump_model()`` (thresholds and leaves as exact doubles), with
LightGBM's numeric rule: a missing value goes the default way when the split learned one
(``missing_type`` NaN), or counts as 0.0 (``None``); otherwise ``value <= threshold`` goes left,
on float64 inputs, and the leaves are summed from 0.0 in tree order (tree ``t`` adds to class
``t % k``). Regression objectives whose output is the raw sum, ``binary`` (its sigmoid) and
``multiclass`` (its softmax) are compiled, the transforms computed as LightGBM computes them
(:mod:`mlrelease.serve.links`); splits on categories, ``zero_as_missing``, random-forest mode and
other objectives are not.

XGBoost: the trees of ``booster.save_raw("json")``. XGBoost converts every input to float32,
sends a missing (NaN) value the split's default way and otherwise goes left when
``value < split_condition`` in float32; it starts each output from the base margin (the
``base_score`` through the objective's inverse link) and adds the leaves tree by tree into a
float32. The compiled walk does the same: it compares ``float32(value) <= t'`` where ``t'`` is
the float32 just below the split condition (the same test for float32 values) and keeps a
float32 running sum, so the margins are the same floats. ``reg:squarederror`` (the margin),
``binary:logistic`` (XGBoost's float32 sigmoid) and ``multi:softprob`` (its softmax) are compiled;
``gblinear``, ``dart``, categorical splits, vector leaves, a ``missing`` other than NaN and other
objectives are refused with the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from mlrelease.serve.compiled import Family, Forest

IDENTITY_OBJECTIVES = ("regression", "regression_l1", "huber", "fair", "quantile", "mape")
XGBOOST_OBJECTIVES = ("reg:squarederror", "binary:logistic", "multi:softprob")
RT_EPS = np.float32(1e-6)  # XGBoost's kRtEps: it clamps a logistic base_score into (eps, 1 - eps)


@dataclass(frozen=True)
class Nodes:
    """One tree in scikit-learn's ``Tree`` layout (what ``pack_trees`` reads)."""

    children_left: np.ndarray
    children_right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    missing_go_to_left: np.ndarray


def lightgbm_model(est: Any) -> tuple[Forest, Family]:
    """A fitted ``LGBMRegressor`` or ``LGBMClassifier`` as a Forest and how it finishes."""
    from mlrelease.serve.compiled import Family, NotCompilable, pack_trees

    name = type(est).__name__
    if not hasattr(est, "booster_") or not hasattr(est, "n_features_in_"):
        raise NotCompilable(f"{name}: only LightGBM's scikit-learn models (LGBMRegressor, LGBMClassifier)")
    dump = est.booster_.dump_model()
    words = str(dump.get("objective", "")).split(" ")
    objective = words[0]
    k = int(dump.get("num_tree_per_iteration", 1))
    if dump.get("average_output"):
        raise NotCompilable(f"{name} in random-forest mode (averaged output)")
    classes = getattr(est, "classes_", None)
    if classes is None and (objective not in IDENTITY_OBJECTIVES or k != 1):
        raise NotCompilable(f"{name} with objective {objective!r}: its output transform runs in LightGBM")
    if classes is not None and not (
        (objective == "binary" and k == 1 and len(classes) == 2)
        or (objective == "multiclass" and k == len(classes) > 2)
    ):
        raise NotCompilable(f"{name} with objective {objective!r}: only binary and multiclass (softmax)")
    trees = []
    for t, info in enumerate(dump["tree_info"]):
        nodes, leaves = _lightgbm_tree(info["tree_structure"], name)
        values = np.zeros((leaves.shape[0], k), dtype=np.float64)
        values[:, t % k] = leaves[:, 0]
        trees.append((nodes, values))
    forest = pack_trees(trees, np.zeros(k), float32=False)
    if classes is None:
        return forest, Family(name, lambda raw: raw[:, 0])
    from mlrelease.serve.links import links

    if objective == "binary":
        scale = _parameter(words, "sigmoid", name)

        def proba(raw: np.ndarray) -> np.ndarray:
            p = links().lgb_sigmoid(raw[:, 0], scale)
            return np.vstack((1.0 - p, p)).transpose()  # as LGBMClassifier.predict_proba
    else:

        def proba(raw: np.ndarray) -> np.ndarray:
            return links().lgb_softmax(raw)

    def labels(raw: np.ndarray) -> np.ndarray:
        return np.asarray(classes[np.argmax(proba(raw), axis=1)])  # LGBMClassifier.predict's rule

    return forest, Family(name, labels, proba, links=True)


def _parameter(words: list[str], key: str, name: str) -> float:
    from mlrelease.serve.compiled import NotCompilable

    for word in words[1:]:
        if word.startswith(key + ":"):
            return float(word.split(":", 1)[1])
    raise NotCompilable(f"{name}: its objective does not state {key!r}")


def _lightgbm_tree(root: dict[str, Any], name: str) -> tuple[Nodes, np.ndarray]:
    from mlrelease.serve.compiled import NotCompilable

    left: list[int] = []
    right: list[int] = []
    feature: list[int] = []
    threshold: list[float] = []
    missing_left: list[bool] = []
    value: list[float] = []
    stack = [(root, -1, False)]
    while stack:
        node, parent, is_right = stack.pop()
        i = len(left)
        if parent >= 0:
            (right if is_right else left)[parent] = i
        left.append(-1)
        right.append(-1)
        if "leaf_value" in node:
            feature.append(-2)
            threshold.append(-2.0)
            missing_left.append(False)
            value.append(float(node["leaf_value"]))
            continue
        if node.get("decision_type") != "<=":
            raise NotCompilable(f"{name} splits on categories")
        missing = node.get("missing_type", "None")
        thr = float(node["threshold"])
        if missing == "NaN":
            goes_left = bool(node.get("default_left", False))
        elif missing == "None":
            goes_left = thr >= 0.0  # LightGBM reads a missing value as 0.0
        else:
            raise NotCompilable(f"{name} with zero_as_missing splits")
        feature.append(int(node["split_feature"]))
        threshold.append(thr)
        missing_left.append(goes_left)
        value.append(0.0)
        stack.append((node["right_child"], i, True))
        stack.append((node["left_child"], i, False))
    nodes = Nodes(
        children_left=np.asarray(left, dtype=np.intp),
        children_right=np.asarray(right, dtype=np.intp),
        feature=np.asarray(feature, dtype=np.intp),
        threshold=np.asarray(threshold, dtype=np.float64),
        missing_go_to_left=np.asarray(missing_left, dtype=bool),
    )
    return nodes, np.asarray(value, dtype=np.float64).reshape(-1, 1)


def xgboost_model(est: Any) -> tuple[Forest, Family]:
    """A fitted ``XGBRegressor`` or ``XGBClassifier`` (gbtree) as a Forest and how it finishes."""
    from mlrelease.serve.compiled import Family, NotCompilable, pack_trees
    from mlrelease.serve.links import links

    name = type(est).__name__
    if not hasattr(est, "get_booster") or not hasattr(est, "n_features_in_"):
        raise NotCompilable(f"{name}: only XGBoost's scikit-learn models (XGBRegressor, XGBClassifier)")
    missing = getattr(est, "missing", np.nan)
    if missing is not None and not (isinstance(missing, float) and np.isnan(missing)):
        raise NotCompilable(f"{name} with missing={missing!r}: only NaN as the missing value")
    learner = json.loads(bytes(est.get_booster().save_raw("json")))["learner"]
    booster = learner["gradient_booster"]
    if booster["name"] != "gbtree":
        raise NotCompilable(f"{name} with booster {booster['name']!r}: only gbtree")
    objective = learner["objective"]["name"]
    classes = getattr(est, "classes_", None)
    wanted = ("reg:squarederror",) if classes is None else ("binary:logistic", "multi:softprob")
    if objective not in wanted:
        raise NotCompilable(f"{name} with objective {objective!r}: only {', '.join(wanted)}")
    params = learner["learner_model_param"]
    if int(params.get("num_target", "1")) != 1:
        raise NotCompilable(f"{name} with several targets")
    k = max(int(params.get("num_class", "0")), 1)
    base = _xgboost_margin(params["base_score"], objective, k, name)
    model = booster["model"]
    groups = [int(g) for g in model["tree_info"]]
    try:
        count = int(model["iteration_indptr"][int(est.best_iteration) + 1])
    except AttributeError:  # no early stopping: predict uses every tree
        count = len(model["trees"])
    trees = [_xgboost_tree(tree, groups[t], k, name) for t, tree in enumerate(model["trees"][:count])]
    forest = pack_trees(trees, base.astype(np.float64), float32=True, sum32=True)
    if classes is None:
        return forest, Family(name, lambda raw: raw[:, 0].astype(np.float32))
    if objective == "binary:logistic":

        def proba(raw: np.ndarray) -> np.ndarray:
            p = links().xgb_sigmoid(raw[:, 0])
            return np.vstack((1.0 - p, p)).transpose()  # as XGBClassifier.predict_proba

        def labels(raw: np.ndarray) -> np.ndarray:
            p = links().xgb_sigmoid(raw[:, 0])
            index = np.repeat(0, p.shape[0])  # XGBClassifier.predict: 1 where p > 0.5
            index[p > 0.5] = 1
            return index

        return forest, Family(name, labels, proba, links=True)

    def softprob(raw: np.ndarray) -> np.ndarray:
        return links().xgb_softmax(raw)

    return forest, Family(name, lambda raw: np.argmax(softprob(raw), axis=1), softprob, links=True)


def _xgboost_margin(text: str, objective: str, k: int, name: str) -> np.ndarray:
    """The base margin of each output: ``base_score`` (a number, or a list in brackets) through
    the objective's ``ProbToMargin`` (for ``binary:logistic``: ``-logf(1/p - 1)`` of p clamped into
    (1e-6, 1 - 1e-6), in float32 with the C library's logf, as XGBoost computes it)."""
    from mlrelease.serve.compiled import NotCompilable
    from mlrelease.serve.links import logf

    score = np.asarray(json.loads(text.lower()) if text.startswith("[") else [float(text)], dtype=np.float32)
    if score.size == 1:
        score = np.repeat(score, k)
    if score.size != k:
        raise NotCompilable(f"{name}: base_score {text!r} for {k} outputs")
    if objective != "binary:logistic":
        return score
    one = np.float32(1.0)
    p = np.minimum(np.maximum(score, RT_EPS), one - RT_EPS)
    return np.asarray([-np.float32(logf(float(one / v - one))) for v in p], dtype=np.float32)


def _xgboost_tree(tree: dict[str, Any], group: int, k: int, name: str) -> tuple[Nodes, np.ndarray]:
    from mlrelease.serve.compiled import NotCompilable

    if int(tree["tree_param"].get("size_leaf_vector", "1")) > 1:
        raise NotCompilable(f"{name} with vector leaves (multi_strategy='multi_output_tree')")
    if any(int(kind) != 0 for kind in tree["split_type"]):
        raise NotCompilable(f"{name} splits on categories")
    left = np.asarray(tree["left_children"], dtype=np.intp)
    condition = np.asarray(tree["split_conditions"], dtype=np.float32)
    leaf = left < 0
    # value < t in float32 is value <= (the float32 just below t): one comparison for both walks
    below = np.nextafter(condition, np.float32(-np.inf)).astype(np.float64)
    values = np.zeros((left.size, k), dtype=np.float64)
    values[:, group] = np.where(leaf, condition, np.float32(0.0)).astype(np.float64)  # leaf: its value
    nodes = Nodes(
        children_left=left,
        children_right=np.asarray(tree["right_children"], dtype=np.intp),
        feature=np.asarray(tree["split_indices"], dtype=np.intp),
        threshold=np.where(leaf, -2.0, below),
        missing_go_to_left=np.asarray(tree["default_left"], dtype=bool),
    )
    return nodes, values


def is_lightgbm(est: Any) -> bool:
    return type(est).__module__.split(".")[0] == "lightgbm"


def is_xgboost(est: Any) -> bool:
    return type(est).__module__.split(".")[0] == "xgboost"
