"""Metric names, their directions, and how each is computed from predictions.

Names follow scikit-learn's, so the name says the direction: ``*_score`` higher is better,
``*_error`` / ``*_loss`` / ``*_ms`` / ``*_bytes`` lower is better. Names whose suffix says
nothing (``throughput_rows_per_s``) are in ``DIRECTIONS``; a gate rule's ``better`` overrides.

A classifier also gets, for each class, ``precision_score[<class>]``, ``recall_score[<class>]``
and ``f1_score[<class>]`` (the class in brackets; the direction is the name's before it), and a
binary one ``precision_score``, ``recall_score`` and ``f1_score`` of its positive class: the
second of the model's ``classes_`` (scikit-learn's ``pos_label`` for 0/1 and False/True).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from mlrelease.config import Direction

REGRESSION = (
    "root_mean_squared_error",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "r2_score",
    "max_error",
)
CLASSIFICATION = (
    "accuracy_score",
    "balanced_accuracy_score",
    "precision_macro_score",
    "recall_macro_score",
    "f1_macro_score",
    "precision_weighted_score",
    "recall_weighted_score",
    "f1_weighted_score",
    "roc_auc_score",
    "log_loss",
    "precision_score",  # the positive class of a binary classifier
    "recall_score",
    "f1_score",
)
PER_CLASS = ("precision_score", "recall_score", "f1_score")  # also as name[<class>] for each class
COST = (
    "p50_latency_ms",
    "p95_latency_ms",
    "p99_latency_ms",
    "p50_cpu_ms",
    "p95_cpu_ms",
    "throughput_rows_per_s",
    "model_size_bytes",
    "peak_memory_bytes",
)
# Names whose suffix does not say the direction.
DIRECTIONS: dict[str, Direction] = {"throughput_rows_per_s": "higher"}
_SUFFIXES: tuple[tuple[str, Direction], ...] = (
    ("_score", "higher"),
    ("_error", "lower"),
    ("_loss", "lower"),
    ("_ms", "lower"),
    ("_s", "lower"),
    ("_bytes", "lower"),
)


def direction(name: str) -> Direction | None:
    """Which way is better for metric ``name``, from the table or the name's suffix
    (a per-class name, ``recall_score[churned]``, goes by the name before the bracket)."""
    if name.endswith("]") and "[" in name:
        name = name[: name.index("[")]
    if name in DIRECTIONS:
        return DIRECTIONS[name]
    for suffix, better in _SUFFIXES:
        if name.endswith(suffix):
            return better
    return None


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    from sklearn import metrics as m

    y = np.asarray(y, dtype=float)
    pred = np.asarray(pred, dtype=float)
    out = {
        "root_mean_squared_error": float(m.root_mean_squared_error(y, pred)),
        "mean_absolute_error": float(m.mean_absolute_error(y, pred)),
        "mean_absolute_percentage_error": float(m.mean_absolute_percentage_error(y, pred)),
        "max_error": float(m.max_error(y, pred)),
    }
    if len(y) >= 2:
        out["r2_score"] = float(m.r2_score(y, pred))
    return out


def classification_metrics(
    y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None, classes: list[Any] | None
) -> dict[str, float]:
    from sklearn import metrics as m

    out: dict[str, float] = {
        "accuracy_score": float(m.accuracy_score(y, pred)),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a class missing from a small slice: scored 0, not a warning
        out["balanced_accuracy_score"] = float(m.balanced_accuracy_score(y, pred))
        for avg in ("macro", "weighted"):
            p, r, f, _ = m.precision_recall_fscore_support(y, pred, average=avg, zero_division=0)
            out[f"precision_{avg}_score"] = float(p)
            out[f"recall_{avg}_score"] = float(r)
            out[f"f1_{avg}_score"] = float(f)
        labels = (
            list(classes)
            if classes
            else sorted(set(np.unique(y).tolist()) | set(np.unique(pred).tolist()), key=str)
        )
        p, r, f, _ = m.precision_recall_fscore_support(y, pred, labels=labels, average=None, zero_division=0)
        for i, label in enumerate(labels):
            out[f"precision_score[{label}]"] = float(p[i])
            out[f"recall_score[{label}]"] = float(r[i])
            out[f"f1_score[{label}]"] = float(f[i])
        if len(labels) == 2:
            out["precision_score"] = float(p[1])
            out["recall_score"] = float(r[1])
            out["f1_score"] = float(f[1])
    if proba is not None and classes is not None and len(np.unique(y)) >= 2:
        present = set(np.unique(y).tolist())
        if present <= set(classes):
            out["log_loss"] = float(m.log_loss(y, proba, labels=classes))
            if len(classes) == 2:
                out["roc_auc_score"] = float(m.roc_auc_score(y == classes[1], proba[:, 1]))
            elif present == set(classes):
                out["roc_auc_score"] = float(
                    m.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=classes)
                )
    return out


def confusion(y: np.ndarray, pred: np.ndarray, labels: list[Any]) -> list[list[int]]:
    from sklearn.metrics import confusion_matrix

    matrix: list[list[int]] = confusion_matrix(y, pred, labels=labels).tolist()
    return matrix


def quality_metrics(
    task: str, y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None, classes: list[Any] | None
) -> dict[str, float]:
    if task == "regression":
        return regression_metrics(y, pred)
    return classification_metrics(y, pred, proba, classes)
