"""Paired bootstrap confidence intervals for the difference of a metric between two models
scored on the same rows.

Each resample draws n row indices with replacement and scores both models on the same draw, so
the row-to-row variation they share cancels out. The draws are turned into per-row counts
(one ``bincount`` per block of resamples) and every metric is computed from ``counts @ per-row
columns``: a few BLAS matrix products instead of a Python loop, about a second for 1,000
resamples of 100,000 rows. Percentile intervals, seeded, reproducible.

A binary classifier's ``roc_auc_score`` has no per-row decomposition but is a weighted
Mann-Whitney statistic: with the rows sorted by score once, each resample's AUC is a cumulative
sum over its counts (``paired_roc_auc``), the same draws, the same cost. The macro one-vs-rest
AUC of a multiclass model and ``max_error`` get no interval (their point change is still gated).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

BLOCK_ELEMENTS = 1_000_000  # counts held at once (resamples x rows): 8 MB of float64
MAX_CLASSES = 30  # confusion-based intervals need classes^2 columns


@dataclass(frozen=True)
class Interval:
    """A percentile interval of ``candidate - baseline`` for one metric."""

    low: float
    high: float
    confidence: float
    resamples: int

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def resample_counts(n: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Blocks of bootstrap counts (block x n, float64): how often each row is drawn per resample."""
    rng = np.random.default_rng(seed)
    block = max(1, min(resamples, BLOCK_ELEMENTS // max(n, 1)))
    done = 0
    while done < resamples:
        b = min(block, resamples - done)
        idx = rng.integers(0, n, size=(b, n))
        idx += (np.arange(b, dtype=np.int64) * n)[:, None]
        yield np.bincount(idx.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)
        done += b


Statistic = Callable[[np.ndarray], dict[str, np.ndarray]]


def _run(columns: np.ndarray, statistic: Statistic, resamples: int, seed: int) -> dict[str, np.ndarray]:
    """``statistic`` (of column means, resamples x k) over every resample, concatenated."""
    n = columns.shape[0]
    parts: dict[str, list[np.ndarray]] = {}
    for counts in resample_counts(n, resamples, seed):
        means = (counts @ columns) / n
        for name, values in statistic(means).items():
            parts.setdefault(name, []).append(values)
    return {name: np.concatenate(v) for name, v in parts.items()}


def _intervals(diffs: dict[str, np.ndarray], confidence: float, resamples: int) -> dict[str, Interval]:
    alpha = (1 - confidence) / 2
    out = {}
    for name, d in diffs.items():
        d = d[np.isfinite(d)]
        if d.size < resamples * 0.9:  # undefined in too many resamples (e.g. r2 of constant targets)
            continue
        low, high = np.percentile(d, [100 * alpha, 100 * (1 - alpha)])
        out[name] = Interval(float(low), float(high), confidence, resamples)
    return out


# ----------------------------------------------------------------------------- regression


def regression_columns(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Per-row squared, absolute and absolute-percentage errors (as scikit-learn defines them)."""
    y = np.asarray(y, dtype=float)
    pred = np.asarray(pred, dtype=float)
    err = pred - y
    eps = np.finfo(np.float64).eps
    return np.column_stack([err * err, np.abs(err), np.abs(err) / np.maximum(np.abs(y), eps)])


def regression_statistic(means: np.ndarray, offset: int) -> dict[str, np.ndarray]:
    """Regression metrics from the means of one side's columns (at ``offset``) and the target's."""
    se, ae, ape = means[:, offset], means[:, offset + 1], means[:, offset + 2]
    yc, yc2 = means[:, -2], means[:, -1]
    sst = yc2 - yc * yc  # variance of the (centred) target in the resample
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(sst > 0, 1 - se / sst, np.nan)
    return {
        "root_mean_squared_error": np.sqrt(se),
        "mean_absolute_error": ae,
        "mean_absolute_percentage_error": ape,
        "r2_score": r2,
    }


def paired_regression(
    y: np.ndarray,
    baseline: np.ndarray,
    candidate: np.ndarray,
    *,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Interval]:
    """Intervals of ``candidate - baseline`` for RMSE, MAE, MAPE and R²."""
    y = np.asarray(y, dtype=float)
    centred = y - y.mean()
    columns = np.column_stack(
        [regression_columns(y, baseline), regression_columns(y, candidate), centred, centred * centred]
    )

    def statistic(means: np.ndarray) -> dict[str, np.ndarray]:
        b = regression_statistic(means, 0)
        c = regression_statistic(means, 3)
        return {name: c[name] - b[name] for name in b}

    return _intervals(_run(columns, statistic, resamples, seed), confidence, resamples)


# ----------------------------------------------------------------------------- classification


def _onehot(codes: np.ndarray, width: int) -> np.ndarray:
    out = np.zeros((codes.size, width))
    out[np.arange(codes.size), codes] = 1.0
    return out


def classification_statistic(
    conf: np.ndarray, named: dict[int, Any] | None = None, positive: int | None = None
) -> dict[str, np.ndarray]:
    """Classification metrics from confusion counts (resamples x classes x classes; rows true);
    per-class scores for the classes in ``named`` (index -> label), and with ``positive`` (an
    index) the positive class's."""
    tp = np.diagonal(conf, axis1=1, axis2=2)
    support = conf.sum(axis=2)
    predicted = conf.sum(axis=1)
    total = support.sum(axis=1)
    present = (support + predicted) > 0  # scikit-learn averages over labels seen on either side
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(support > 0, tp / support, 0.0)
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        f1 = np.where(support + predicted > 0, 2 * tp / (support + predicted), 0.0)
        n_present = present.sum(axis=1)
        out = {
            "accuracy_score": tp.sum(axis=1) / total,
            "balanced_accuracy_score": np.where(support > 0, recall, 0.0).sum(axis=1)
            / (support > 0).sum(axis=1),
        }
        for name, per_class in (("precision", precision), ("recall", recall), ("f1", f1)):
            out[f"{name}_macro_score"] = (per_class * present).sum(axis=1) / n_present
            out[f"{name}_weighted_score"] = (per_class * support).sum(axis=1) / total
            for i, label in (named or {}).items():
                out[f"{name}_score[{label}]"] = per_class[:, i]
            if positive is not None:
                out[f"{name}_score"] = per_class[:, positive]
    return out


def paired_classification(
    y: np.ndarray,
    baseline: np.ndarray,
    candidate: np.ndarray,
    *,
    baseline_loss: np.ndarray | None = None,
    candidate_loss: np.ndarray | None = None,
    classes: list[Any] | None = None,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Interval]:
    """Intervals of ``candidate - baseline`` for the confusion-based scores (per class for the
    labels in ``classes``, and for the positive class ``classes[1]`` of a binary model), and
    for log_loss when both per-row losses are given."""
    seen = set(np.unique(y).tolist()) | set(np.unique(baseline).tolist()) | set(np.unique(candidate).tolist())
    labels: list[Any] = sorted(seen | set(classes or []), key=str)
    k = len(labels)
    if k > MAX_CLASSES:
        return {}
    index = {label: i for i, label in enumerate(labels)}
    yi = np.array([index[v] for v in np.asarray(y).tolist()])
    codes_b = yi * k + np.array([index[v] for v in np.asarray(baseline).tolist()])
    codes_c = yi * k + np.array([index[v] for v in np.asarray(candidate).tolist()])
    parts = [_onehot(codes_b, k * k), _onehot(codes_c, k * k)]
    if baseline_loss is not None and candidate_loss is not None:
        parts.append(np.column_stack([baseline_loss, candidate_loss]))
    with_loss = len(parts) == 3
    columns = np.hstack(parts)
    named = {index[label]: label for label in classes or []}
    positive = index[classes[1]] if classes is not None and len(classes) == 2 else None

    def statistic(means: np.ndarray) -> dict[str, np.ndarray]:
        rows = means.shape[0]
        b = classification_statistic(means[:, : k * k].reshape(rows, k, k), named, positive)
        c = classification_statistic(means[:, k * k : 2 * k * k].reshape(rows, k, k), named, positive)
        diff = {name: c[name] - b[name] for name in b}
        if with_loss:
            diff["log_loss"] = means[:, -1] - means[:, -2]
        return diff

    return _intervals(_run(columns, statistic, resamples, seed), confidence, resamples)


def paired_roc_auc(
    positive: np.ndarray,
    baseline_score: np.ndarray,
    candidate_score: np.ndarray,
    *,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Interval]:
    """The interval of ``candidate - baseline`` ROC AUC of a binary classifier, ``positive``
    marking the rows of the positive class and the scores its predicted probability.

    Per resample, AUC = sum over positives of w_i (negatives ranked below + half the tied ones)
    / (W_pos W_neg), with w the resample's counts: rows are grouped by equal score once per side,
    then each block of resamples costs two ``reduceat`` and one ``cumsum``."""
    pos = np.asarray(positive, dtype=bool)
    n = pos.size
    if pos.all() or not pos.any():
        return {}
    sides = []
    for score in (baseline_score, candidate_score):
        score = np.asarray(score, dtype=float)
        order = np.argsort(score, kind="stable")
        sorted_score = score[order]
        starts = np.flatnonzero(np.r_[True, sorted_score[1:] != sorted_score[:-1]])
        sides.append((order, starts, pos[order]))
    diffs = []
    for counts in resample_counts(n, resamples, seed):
        aucs = []
        for order, starts, is_pos in sides:
            w = counts[:, order]
            pos_g = np.add.reduceat(w * is_pos, starts, axis=1)
            neg_g = np.add.reduceat(w * ~is_pos, starts, axis=1)
            below = np.cumsum(neg_g, axis=1) - neg_g
            total = pos_g.sum(axis=1) * neg_g.sum(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                aucs.append(np.where(total > 0, (pos_g * (below + 0.5 * neg_g)).sum(axis=1) / total, np.nan))
        diffs.append(aucs[1] - aucs[0])
    return _intervals({"roc_auc_score": np.concatenate(diffs)}, confidence, resamples)


def per_row_log_loss(y: np.ndarray, proba: np.ndarray, classes: list[Any]) -> np.ndarray:
    """-log p(true class), clipped as scikit-learn clips it."""
    index = {c: i for i, c in enumerate(classes)}
    cols = np.array([index.get(v, -1) for v in np.asarray(y).tolist()])
    eps = np.finfo(proba.dtype).eps
    p = np.clip(proba, eps, 1 - eps)
    p = p / p.sum(axis=1, keepdims=True)
    picked = np.where(cols >= 0, p[np.arange(len(cols)), np.maximum(cols, 0)], eps)
    loss: np.ndarray = -np.log(picked)
    return loss
