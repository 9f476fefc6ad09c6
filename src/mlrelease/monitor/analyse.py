"""One monitoring run: the reference against the current window, overall and per slice.

Each reference column is sorted once and every statistic of its comparison reads it
(``drift.compare_columns``); slices sort their own subset. The result is a ``DriftReport``,
which ``report`` writes as ``drift.json`` (schema ``schemas/drift.schema.json``), Markdown and
HTML.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from mlrelease.config import SliceConfig
from mlrelease.errors import DataError
from mlrelease.monitor import drift
from mlrelease.monitor.drift import PREDICTION, Settings, SliceDrift, Verdict, WindowDrift
from mlrelease.monitor.sources import Window

SCHEMA_VERSION = 1
WORST_ROWS = 10


@dataclass
class Labels:
    """Ground truth that arrived later, joined to the current window on ``id_column``."""

    source: str
    id_column: str
    target: str
    values: dict[Any, Any]
    task: str  # "classification" | "regression"


@dataclass
class DriftReport:
    reference: dict[str, Any]
    current: dict[str, Any]
    settings: Settings
    features: list[str]
    overall: WindowDrift
    outliers: drift.Outliers | None
    slices: list[SliceDrift]
    quality: dict[str, float] | None
    verdict: Verdict
    created: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))

    @property
    def drifted(self) -> list[drift.ColumnDrift]:
        return self.overall.drifted

    def to_dict(self) -> dict[str, Any]:
        s = self.settings
        return {
            "schema_version": SCHEMA_VERSION,
            "created": self.created,
            "verdict": self.verdict,
            "reference": self.reference,
            "current": self.current,
            "settings": {
                "psi_warn": s.default.psi_warn,
                "psi_alert": s.default.psi_alert,
                "wasserstein_warn": s.default.wasserstein_warn,
                "wasserstein_alert": s.default.wasserstein_alert,
                "min_samples": s.default.min_samples,
                "alpha": s.alpha,
                "correction": s.correction,
                "bins": s.bins,
                "outlier_warn": s.outlier_warn,
                "outlier_alert": s.outlier_alert,
            },
            "features": list(self.features),
            "columns": [c.to_dict() for c in self.overall.columns],
            "drifted": [c.name for c in self.overall.drifted],
            "outliers": self.outliers.to_dict() if self.outliers else None,
            "slices": [
                {
                    "name": sl.name,
                    "column": sl.column,
                    "rows_reference": sl.drift.rows_reference,
                    "rows_current": sl.drift.rows_current,
                    "share_reference": sl.share_reference,
                    "share_current": sl.share_current,
                    "verdict": sl.verdict,
                    "reason": sl.reason,
                    "drifted": [c.name for c in sl.drift.drifted],
                    "columns": [c.to_dict() for c in sl.drift.columns],
                    "quality": sl.quality,
                }
                for sl in self.slices
            ],
            "quality": self.quality,
        }


def shared_features(reference: Window, current: Window, exclude: Sequence[str | None]) -> list[str]:
    """Columns both windows have, in the reference's order, less ids, targets and predictions."""
    skip = {x for x in exclude if x} | {PREDICTION}
    return [c for c in reference.columns if c in current.columns and c not in skip]


def slice_mask(window: Window, s: SliceConfig) -> np.ndarray:
    """Rows in slice ``s``: column among ``values``, >= ``min``, < ``max`` (as the gate's slices)."""
    if s.column not in window.columns:
        raise DataError(f"{window.source}: slice '{s.name}' needs column '{s.column}', which it lacks")
    col = window.columns[s.column]
    mask = np.ones(window.rows, dtype=bool)
    if s.values is not None:
        wanted = {str(v) for v in s.values} if col.dtype == object else set(s.values)
        mask &= np.array([v in wanted for v in col], dtype=bool)
    if s.min is not None or s.max is not None:
        if col.dtype.kind not in "iuf":
            raise DataError(
                f"slice '{s.name}': min/max need a numeric column, but '{s.column}' is not numeric"
            )
        with np.errstate(invalid="ignore"):
            if s.min is not None:
                mask &= col >= s.min
            if s.max is not None:
                mask &= col < s.max
    return mask


def outliers(window: Window, settings: Settings, reference: Window | None) -> drift.Outliers | None:
    """The share of rows the server flagged, by flag, and the worst rows (most flags, then the
    prediction farthest from the reference's median in interquartile ranges)."""
    if window.flags is None or not window.from_logs:
        return None
    flagged = [i for i, f in enumerate(window.flags) if f]
    rate = len(flagged) / window.rows if window.rows else 0.0
    by_flag = Counter(f for i in flagged for f in window.flags[i])
    pred = window.columns.get(PREDICTION)
    scale: tuple[float, float] | None = None
    ref_pred = reference.columns.get(PREDICTION) if reference is not None else None
    base = ref_pred if ref_pred is not None and ref_pred.dtype.kind in "iuf" else pred
    if base is not None and base.dtype.kind in "iuf" and np.isfinite(base).any():
        q1, med, q3 = np.nanquantile(base, [0.25, 0.5, 0.75])
        scale = (float(med), float(q3 - q1) or 1.0)

    def distance(i: int) -> float:
        if scale is None or pred is None or pred.dtype.kind not in "iuf":
            return 0.0
        v = float(pred[i])
        return math.inf if not math.isfinite(v) else abs(v - scale[0]) / scale[1]

    worst = sorted(flagged, key=lambda i: (-len(window.flags[i]), -distance(i), i))[:WORST_ROWS]  # type: ignore[index]
    rows = []
    for i in worst:
        rec = {k: _plain(v[i]) for k, v in window.columns.items() if k != PREDICTION}
        rows.append(
            {
                "row": i,
                "time": window.times[i] if window.times else None,
                "flags": list(window.flags[i]),
                "prediction": _plain(pred[i]) if pred is not None else None,
                "input": rec,
            }
        )
    verdict: Verdict = (
        "alert" if rate >= settings.outlier_alert else "warn" if rate >= settings.outlier_warn else "ok"
    )
    reason = f"{len(flagged)} of {window.rows} rows flagged ({rate:.2%}); warn at {settings.outlier_warn:.2%}"
    reason += f", alert at {settings.outlier_alert:.2%}"
    return drift.Outliers(window.rows, len(flagged), rate, dict(by_flag.most_common()), rows, verdict, reason)


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def quality(window: Window, labels: Labels, mask: np.ndarray | None = None) -> dict[str, float] | None:
    """Accuracy (classification) or MAE and RMSE (regression) on the labelled rows."""
    if labels.id_column not in window.columns or PREDICTION not in window.columns:
        return None
    ids = window.columns[labels.id_column]
    pred = window.columns[PREDICTION]
    idx = np.arange(window.rows) if mask is None else np.flatnonzero(mask)
    pairs = [(pred[i], labels.values[_key(ids[i])]) for i in idx if _key(ids[i]) in labels.values]
    if not pairs:
        return {"rows_labelled": 0}
    if labels.task == "classification":
        acc = sum(str(_plain(p)) == str(_plain(t)) for p, t in pairs) / len(pairs)
        return {"rows_labelled": len(pairs), "accuracy_score": acc}
    err = np.array([float(p) - float(t) for p, t in pairs])
    return {
        "rows_labelled": len(pairs),
        "mae_error": float(np.mean(np.abs(err))),
        "rmse_error": float(np.sqrt(np.mean(err**2))),
    }


def _key(v: Any) -> Any:
    v = _plain(v)
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return str(v) if not isinstance(v, int) else v


def analyse(
    reference: Window,
    current: Window,
    *,
    settings: Settings,
    features: Sequence[str] | None = None,
    exclude: Sequence[str | None] = (),
    slices: Sequence[SliceConfig] = (),
    labels: Labels | None = None,
) -> DriftReport:
    names = list(features) if features else shared_features(reference, current, exclude)
    missing = [n for n in names if n not in reference.columns or n not in current.columns]
    if missing:
        side = reference if missing[0] not in reference.columns else current
        raise DataError(f"{side.source}: no column '{missing[0]}'", hint="check model.features and the data")
    if not names:
        raise DataError(
            f"{reference.source} and {current.source} share no columns",
            hint="compare two tables with the same column names",
        )
    columns = names + (
        [PREDICTION] if PREDICTION in reference.columns and PREDICTION in current.columns else []
    )
    overall = drift.compare_columns(
        reference.columns, current.columns, columns, reference.rows, current.rows, settings
    )
    out = outliers(current, settings, reference)
    slice_results = [_slice(s, reference, current, columns, settings, labels) for s in slices]
    q = quality(current, labels) if labels else None
    verdict = drift.worst(
        [overall.verdict, out.verdict if out else "ok", *(sl.verdict for sl in slice_results)]
    )
    return DriftReport(
        reference={"source": reference.source, "rows": reference.rows},
        current=_describe(current),
        settings=settings,
        features=names,
        overall=overall,
        outliers=out,
        slices=slice_results,
        quality=q,
        verdict=verdict,
    )


def _describe(w: Window) -> dict[str, Any]:
    d: dict[str, Any] = {"source": w.source, "rows": w.rows, "from_logs": w.from_logs}
    if w.times:
        stamped = [t for t in w.times if t]
        if stamped:
            d["first_time"], d["last_time"] = min(stamped), max(stamped)
    if w.skipped:
        d["skipped_lines"] = dict(w.skipped)
    return d


def _slice(
    s: SliceConfig,
    reference: Window,
    current: Window,
    columns: list[str],
    settings: Settings,
    labels: Labels | None,
) -> SliceDrift:
    rmask, cmask = slice_mask(reference, s), slice_mask(current, s)
    rn, cn = int(rmask.sum()), int(cmask.sum())
    ref_s, cur_s = reference.take(rmask, f"{reference.source}[{s.name}]"), current.take(cmask, s.name)
    share_r = rn / reference.rows if reference.rows else 0.0
    share_c = cn / current.rows if current.rows else 0.0
    minimum = settings.default.min_samples
    if rn and cn:
        window = drift.compare_columns(ref_s.columns, cur_s.columns, columns, rn, cn, settings)
    else:
        window = WindowDrift(rn, cn, [], "ok")
    q = quality(current, labels, cmask) if labels else None
    if cn >= minimum and rn < minimum:
        verdict: Verdict = "alert"
        reason = f"{cn} current rows but {rn} in the reference: the model has not seen this population"
    elif cn < minimum:
        verdict, reason = "insufficient", f"{cn} current rows, fewer than min_samples {minimum}"
    else:
        verdict = window.verdict
        reason = ", ".join(c.name for c in window.drifted) or "no column drifted"
        if window.drifted:
            reason = "drifted: " + reason
    # a slice is judged on its own rows; a change in its share of traffic shows in the columns
    reason += f"; share of rows {share_r:.1%} -> {share_c:.1%}"
    return SliceDrift(s.name, s.column, share_r, share_c, window, q, verdict, reason)
