"""LightGBM and XGBoost models for :mod:`mlrelease.serve.compiled`.

LightGBM: the trees of ``booster.dump_model()`` (thresholds and leaves as exact doubles), with
LightGBM's numeric rule: a missing value goes the default way when the split learned one
(``missing_type`` NaN), or counts as 0.0 (``None``); otherwise ``value <= threshold`` goes left,
on float64 inputs, and the leaves are summed from 0.0 in tree order. Regression objectives whose
output is the raw sum are compiled; splits on categories, ``zero_as_missing`` and other
objectives are not (their transform runs in LightGBM's own C++ and is not ours to repeat).

XGBoost sums its leaves in float32 in its own order; the compiled walk sums in float64, so an
XGBoost model is served by its own predict, and ``/version`` says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from mlrelease.serve.compiled import Family, Forest

IDENTITY_OBJECTIVES = ("regression", "regression_l1", "huber", "fair", "quantile", "mape")


@dataclass(frozen=True)
class Nodes:
    """One tree in scikit-learn's ``Tree`` layout (what ``pack_trees`` reads)."""

    children_left: np.ndarray
    children_right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    missing_go_to_left: np.ndarray


def lightgbm_model(est: Any) -> tuple[Forest, Family]:
    """A fitted ``LGBMRegressor`` as a Forest."""
    from mlrelease.serve.compiled import Family, NotCompilable, pack_trees

    name = type(est).__name__
    if getattr(est, "classes_", None) is not None:
        raise NotCompilable(f"{name}: a LightGBM classifier's sigmoid or softmax runs in LightGBM's own C++")
    if not hasattr(est, "booster_") or not hasattr(est, "n_features_in_"):
        raise NotCompilable(f"{name}: only LightGBM's scikit-learn models (LGBMRegressor) are compiled")
    dump = est.booster_.dump_model()
    objective = str(dump.get("objective", "")).split(" ")[0]
    if objective not in IDENTITY_OBJECTIVES or int(dump.get("num_tree_per_iteration", 1)) != 1:
        raise NotCompilable(f"{name} with objective {objective!r}: its output transform runs in LightGBM")
    if dump.get("average_output"):
        raise NotCompilable(f"{name} in random-forest mode (averaged output)")
    trees = [_lightgbm_tree(info["tree_structure"], name) for info in dump["tree_info"]]
    forest = pack_trees(trees, np.zeros(1), float32=False)
    return forest, Family(name, lambda raw: raw[:, 0])


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


def is_lightgbm(est: Any) -> bool:
    return type(est).__module__.split(".")[0] == "lightgbm"


def is_xgboost(est: Any) -> bool:
    return type(est).__module__.split(".")[0] == "xgboost"
