"""Outlier checks on every answered row: predictions outside bounds, inputs far from the
reference data or outside its range, categories never seen there.

Bounds are the configured ``serving.outliers.prediction`` {min, max}; a side that is not
configured is learned from the spread of validation predictions recorded in the signature,
widened by ``learn_margin`` times that spread. An input is far when its robust z-score
``|x - median| / mad`` (median and scaled MAD of the reference data) exceeds ``input_z``. A
numeric input is out of range when it lies outside the reference's [min, max] widened by
``input_range_margin`` times the span on each side, or outside the bounds ``inputs.<column>``
sets (a configured side replaces the learned one, without a margin). The range catches what the
z score cannot on a skewed column: a floor area of -2400 where the reference's median is 1000,
its MAD 980 and its minimum 356 has a z of 3.5, under the default 6, and is still impossible.

Each flag is a short stable string a log-based metric can count:
``prediction_above_max``, ``prediction_below_min``, ``prediction_not_finite``,
``input_far:<field>``, ``input_below_min:<field>``, ``input_above_max:<field>``,
``unseen_category:<field>``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlrelease.config import OutlierConfig
from mlrelease.errors import ConfigError
from mlrelease.serve.batching import Table
from mlrelease.signature import Signature

NUMERIC = ("number", "integer")
HARD_FLAGS = frozenset({"prediction_above_max", "prediction_below_min", "prediction_not_finite"})


@dataclass(frozen=True)
class InputRange:
    """Where a numeric input column's values may lie; None: that side is open."""

    name: str
    min: float | None
    max: float | None


def input_ranges(cfg: OutlierConfig, signature: Signature) -> list[InputRange]:
    """The range of each numeric input: the configured bounds, else the reference's range with
    the margin; a column named in ``inputs`` that the model does not take is a config error."""
    kinds = {f.name: f.kind for f in signature.fields}
    for name in cfg.inputs:
        if kinds.get(name) not in NUMERIC:
            what = "is not a numeric input" if name in kinds else "is not an input"
            raise ConfigError(
                f"serving.outliers.inputs.{name}: {name!r} {what} of the model",
                hint="numeric inputs: " + ", ".join(n for n, k in kinds.items() if k in NUMERIC),
            )
    out = []
    for f in signature.fields:
        if f.kind not in NUMERIC:
            continue
        lo = hi = None
        if f.min is not None and f.max is not None:
            margin = cfg.input_range_margin * (f.max - f.min)
            lo, hi = f.min - margin, f.max + margin
        set_ = cfg.inputs.get(f.name)
        if set_ is not None:
            lo = set_.min if set_.min is not None else lo
            hi = set_.max if set_.max is not None else hi
        if lo is not None or hi is not None:
            out.append(InputRange(f.name, lo, hi))
    return out


@dataclass(frozen=True)
class PredictionBounds:
    """Where a prediction may lie; None: that side is open."""

    min: float | None
    max: float | None


def prediction_bounds(cfg: OutlierConfig, signature: Signature) -> PredictionBounds:
    """The configured sides, and each side left open learned from the validation predictions."""
    lo = cfg.prediction.min if cfg.prediction else None
    hi = cfg.prediction.max if cfg.prediction else None
    stats = signature.prediction
    if stats is not None:
        margin = cfg.learn_margin * (stats.max - stats.min)
        lo = lo if lo is not None else stats.min - margin
        hi = hi if hi is not None else stats.max + margin
    return PredictionBounds(lo, hi)


class OutlierGuard:
    """Flags rows of a batch; vectorised with numpy, run in the worker thread beside predict."""

    def __init__(self, cfg: OutlierConfig, signature: Signature, enabled: bool = True):
        self.enabled = enabled
        self.bounds = prediction_bounds(cfg, signature)
        self.z = cfg.input_z
        self.ranges = input_ranges(cfg, signature)
        self.numeric: list[tuple[str, float, float]] = []
        self.categorical: list[tuple[str, frozenset[str]]] = []
        for f in signature.fields:
            if f.kind in NUMERIC and f.median is not None and f.mad is not None and f.mad > 0:
                self.numeric.append((f.name, f.median, f.mad))
            elif f.kind == "string" and f.categories:
                self.categorical.append((f.name, frozenset(f.categories)))
        # the numeric columns checked, as rows of one array, and each check's rows and bounds (as
        # columns, one row per check); an open side is NaN, which no comparison is true against
        self._columns = list(dict.fromkeys([n for n, _, _ in self.numeric] + [r.name for r in self.ranges]))
        at = {name: i for i, name in enumerate(self._columns)}
        self._far = [at[n] for n, _, _ in self.numeric]
        self._median = np.array([m for _, m, _ in self.numeric])[:, np.newaxis]
        self._mad = np.array([d for _, _, d in self.numeric])[:, np.newaxis]
        self._ranged = [at[r.name] for r in self.ranges]
        self._lo = np.array([r.min for r in self.ranges], dtype=float)[:, np.newaxis]
        self._hi = np.array([r.max for r in self.ranges], dtype=float)[:, np.newaxis]
        # Per column the narrowest of its far and range bounds: a batch with no value outside
        # them is clear in one comparison each way (most batches) and skips the checks below.
        # Pulled in by a hair, so rounding in ``|x - median| / mad`` never clears a row the
        # exact checks would flag; a row within the hair just takes the exact checks.
        clear_lo = np.full(len(self._columns), -math.inf)
        clear_hi = np.full(len(self._columns), math.inf)
        for name, median, mad in self.numeric:
            i = at[name]
            clear_lo[i] = max(clear_lo[i], median - self.z * mad)
            clear_hi[i] = min(clear_hi[i], median + self.z * mad)
        for i, r in zip(self._ranged, self.ranges, strict=True):
            if r.min is not None:
                clear_lo[i] = max(clear_lo[i], r.min)
            if r.max is not None:
                clear_hi[i] = min(clear_hi[i], r.max)
        hair_lo = np.where(np.isfinite(clear_lo), 1e-9 * np.maximum(1.0, np.abs(clear_lo)), 0.0)
        hair_hi = np.where(np.isfinite(clear_hi), 1e-9 * np.maximum(1.0, np.abs(clear_hi)), 0.0)
        self._clear_lo = (clear_lo + hair_lo)[:, np.newaxis]  # an open side (inf) stays open
        self._clear_hi = (clear_hi - hair_hi)[:, np.newaxis]
        # the last predictor table layout seen, and where each checked column is in it
        self._layout: tuple[object, list[int] | None] = (None, None)
        self._number_dtypes: dict[np.dtype[Any], bool] = {}  # whether predictions are numbers

    def check(
        self, columns: dict[str, list[Any]], predictions: np.ndarray, table: Table | None = None
    ) -> list[list[str]]:
        """One list of flags per row (empty when the row looks normal). Each column is checked
        whole; a row's flags come in the order of the checks: far, range, category, prediction.
        ``table``: the numeric inputs as the predictor read them, when it has them."""
        n = len(predictions)
        flags: list[list[str]] = [[] for _ in range(n)]
        if not self.enabled:
            return flags
        if n == 1:  # the common single-row case without numpy's overhead
            self._one(columns, predictions, flags[0])
            return flags
        hits: list[tuple[np.ndarray | list[int], str]] = []
        if self._columns:  # every numeric check of every row in a few array operations
            numeric = self._numeric(columns, table)
            # NaN (a null) is never out, as in the exact checks; comparing it warns of nothing
            if ((numeric < self._clear_lo) | (numeric > self._clear_hi)).any():
                self._numeric_hits(numeric, hits)
        for name, seen in self.categorical:
            values = columns[name]
            if not seen.issuperset(values):
                unseen = [i for i, x in enumerate(values) if x is not None and x not in seen]
                hits.append((unseen, f"unseen_category:{name}"))
        for rows, flag in hits:
            for i in rows:
                flags[i].append(flag)
        if self._numbers(predictions) and not self._predictions_clear(predictions):
            lo, hi = self.bounds.min, self.bounds.max
            not_finite = ~np.isfinite(predictions)
            above = predictions > hi if hi is not None else np.zeros(n, dtype=bool)
            below = predictions < lo if lo is not None else np.zeros(n, dtype=bool)
            for i in np.flatnonzero(not_finite | above | below).tolist():
                flags[i].append(
                    "prediction_not_finite"
                    if not_finite[i]
                    else "prediction_above_max"
                    if above[i]
                    else "prediction_below_min"
                )
        return flags

    def _numeric(self, columns: dict[str, list[Any]], table: Table | None) -> np.ndarray:
        """The checked numeric columns as rows of one float64 array (a null: NaN): the
        predictor's table's columns when it holds all of them, else built from ``columns``."""
        if table is not None:
            seen, rows = self._layout
            if seen is not table.at:
                at = table.at
                rows = [at[name] for name in self._columns] if all(n in at for n in self._columns) else None
                self._layout = (at, rows)
            if rows is not None:
                return table.matrix[:, rows].T
        return np.array([columns[name] for name in self._columns], dtype=float)

    def _numbers(self, predictions: np.ndarray) -> bool:
        """Whether the predictions are numbers (not labels), remembered per dtype."""
        dtype = predictions.dtype
        numbers = self._number_dtypes.get(dtype)
        if numbers is None:
            numbers = self._number_dtypes[dtype] = bool(np.issubdtype(dtype, np.number))
        return numbers

    def _predictions_clear(self, predictions: np.ndarray) -> bool:
        """Whether every prediction is finite and within the bounds: two reductions (a NaN
        makes both NaN, which no comparison passes)."""
        if not len(predictions):
            return True
        low, high = float(predictions.min()), float(predictions.max())
        lo, hi = self.bounds.min, self.bounds.max
        return (
            -math.inf < low and high < math.inf and (lo is None or low >= lo) and (hi is None or high <= hi)
        )

    def _numeric_hits(self, X: np.ndarray, hits: list[tuple[np.ndarray | list[int], str]]) -> None:
        """The far and range flags of the numeric columns ``X`` (one row per checked column)."""
        far = np.abs(X[self._far] - self._median) / self._mad > self.z
        below = X[self._ranged] < self._lo
        above = X[self._ranged] > self._hi
        for j, (name, _, _) in enumerate(self.numeric):
            hits.append((np.flatnonzero(far[j]), f"input_far:{name}"))
        for j, r in enumerate(self.ranges):
            hits.append((np.flatnonzero(below[j]), f"input_below_min:{r.name}"))
            hits.append((np.flatnonzero(above[j]), f"input_above_max:{r.name}"))

    def _one(self, columns: dict[str, list[Any]], predictions: np.ndarray, flags: list[str]) -> None:
        for name, median, mad in self.numeric:
            x = columns[name][0]
            if x is not None and abs(x - median) / mad > self.z:
                flags.append(f"input_far:{name}")
        for r in self.ranges:
            x = columns[r.name][0]
            if x is not None:
                if r.min is not None and x < r.min:
                    flags.append(f"input_below_min:{r.name}")
                elif r.max is not None and x > r.max:
                    flags.append(f"input_above_max:{r.name}")
        for name, seen in self.categorical:
            x = columns[name][0]
            if x is not None and x not in seen:
                flags.append(f"unseen_category:{name}")
        if self._numbers(predictions):
            self._prediction(predictions[0].item(), flags)

    def _prediction(self, p: float, flags: list[str]) -> None:
        lo, hi = self.bounds.min, self.bounds.max
        if not math.isfinite(p):
            flags.append("prediction_not_finite")
        elif hi is not None and p > hi:
            flags.append("prediction_above_max")
        elif lo is not None and p < lo:
            flags.append("prediction_below_min")
