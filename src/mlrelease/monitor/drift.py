"""Verdicts: effect sizes against per-feature thresholds, p-values as support, per window and slice.

A feature drifts when its effect size crosses a threshold (PSI for every column; for numeric
columns also the Wasserstein distance in units of the reference's standard deviation, and the
larger of the two levels wins) **and** the shift is significant after a correction across all
the columns tested together (KS for numeric columns, chi-square for categorical ones; Holm by
default). So a huge window does not alert on a trivial shift (small effect, tiny p-value) and
a tiny window does not alert on noise (large PSI by chance, p-value not significant). Below
``min_samples`` values on either side a column is ``insufficient`` and never alerts.

Defaults: PSI 0.1 warn and 0.2 alert are the rule of thumb of credit-scorecard monitoring
(Siddiqi, *Credit Risk Scorecards*, Wiley 2006; Yurdakul, *Statistical Properties of the
Population Stability Index*, 2018): below 0.1 no significant change, 0.1 to 0.2 a moderate
shift, above 0.2 a significant one. The Wasserstein thresholds 0.33 and 0.46 (in reference
standard deviations) are the mean shifts of a normal column at which PSI over 10 reference
deciles reaches 0.1 and 0.2, so the two measures agree on the textbook case and the
Wasserstein one adds what deciles miss (mass moved far into a tail).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from mlrelease.monitor import stats

Verdict = Literal["ok", "warn", "alert", "insufficient"]
Kind = Literal["numeric", "categorical"]
Role = Literal["feature", "prediction"]
Correction = Literal["holm", "bh", "none"]
RANK: dict[str, int] = {"ok": 0, "insufficient": 0, "warn": 1, "alert": 2}
PREDICTION = "prediction"


@dataclass(frozen=True)
class Thresholds:
    psi_warn: float = 0.1
    psi_alert: float = 0.2
    wasserstein_warn: float = 0.33
    wasserstein_alert: float = 0.46
    min_samples: int = 100


@dataclass(frozen=True)
class Settings:
    """What the verdicts rest on; built from ``monitoring`` in mlrelease.yaml or the defaults."""

    default: Thresholds = field(default_factory=Thresholds)
    features: Mapping[str, Thresholds] = field(default_factory=dict)
    alpha: float = 0.05
    correction: Correction = "holm"
    bins: int = 10
    outlier_warn: float = 0.01
    outlier_alert: float = 0.05

    def for_feature(self, name: str) -> Thresholds:
        return self.features.get(name, self.default)


@dataclass
class ColumnDrift:
    name: str
    role: Role
    kind: Kind
    n_reference: int
    n_current: int
    missing_reference: float
    missing_current: float
    psi: float | None = None
    ks_statistic: float | None = None
    ks_pvalue: float | None = None
    ks_method: str | None = None
    wasserstein: float | None = None
    wasserstein_relative: float | None = None
    chi2: float | None = None
    chi2_pvalue: float | None = None
    chi2_dof: int | None = None
    unseen: dict[str, int] = field(default_factory=dict)
    pvalue: float | None = None  # the column's test (KS or chi-square)
    pvalue_adjusted: float | None = None
    verdict: Verdict = "ok"
    reason: str = ""
    plot: Any = field(default=None, repr=False, compare=False)  # in-memory data for the report

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "plot"}
        return {k: _finite(v) for k, v in out.items()}


@dataclass
class Outliers:
    rows: int
    flagged: int
    rate: float
    by_flag: dict[str, int]
    worst: list[dict[str, Any]]
    verdict: Verdict
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class WindowDrift:
    """Every column of one window (the whole of it, or one slice) against the reference."""

    rows_reference: int
    rows_current: int
    columns: list[ColumnDrift]
    verdict: Verdict

    @property
    def drifted(self) -> list[ColumnDrift]:
        return [c for c in self.columns if c.verdict in ("warn", "alert")]


@dataclass
class SliceDrift:
    name: str
    column: str
    share_reference: float
    share_current: float
    drift: WindowDrift
    quality: dict[str, float] | None
    verdict: Verdict
    reason: str


def _finite(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def is_numeric(values: np.ndarray) -> bool:
    return values.dtype.kind in "iuf"


class PreparedColumn:
    """A reference column, sorted (numeric) or counted (categorical) once for every comparison."""

    def __init__(self, name: str, values: np.ndarray, bins: int):
        self.name = name
        self.kind: Kind = "numeric" if is_numeric(values) else "categorical"
        if self.kind == "numeric":
            self.sorted = stats.SortedColumn.of(values)
            self.edges = stats.psi_edges(self.sorted, bins)
        else:
            self.counts = stats.CategoryCounts.of(values)

    @property
    def n(self) -> int:
        return self.sorted.n if self.kind == "numeric" else self.counts.n

    @property
    def missing_rate(self) -> float:
        return self.sorted.missing_rate if self.kind == "numeric" else self.counts.missing_rate


def _level(value: float | None, warn: float, alert: float) -> Verdict:
    if value is None:
        return "ok"
    return "alert" if value >= alert else "warn" if value >= warn else "ok"


def _adjust(pvalues: list[float], how: Correction) -> list[float]:
    if how == "none" or not pvalues:
        return list(pvalues)
    if how == "holm":
        return stats.holm(pvalues)
    from scipy.stats import false_discovery_control

    return [float(x) for x in false_discovery_control(np.asarray(pvalues), method="bh")]


def compare_column(ref: PreparedColumn, current: np.ndarray, role: Role, th: Thresholds) -> ColumnDrift:
    """The statistics of one column; the verdict waits for the correction across columns."""
    if ref.kind == "numeric":
        cur_values = np.asarray(current)
        if not is_numeric(cur_values):
            try:
                cur_values = cur_values.astype(np.float64)
            except (TypeError, ValueError):
                cur_values = np.array([_to_float(v) for v in cur_values], dtype=np.float64)
        cur = stats.SortedColumn.of(cur_values)
        out = ColumnDrift(ref.name, role, "numeric", ref.n, cur.n, ref.missing_rate, cur.missing_rate)
        if ref.n < th.min_samples or cur.n < th.min_samples:
            out.verdict = "insufficient"
            out.reason = f"{min(ref.n, cur.n)} values, fewer than min_samples {th.min_samples}"
            if ref.n and cur.n:
                _fill_numeric(out, stats.numeric(ref.sorted, cur, edges=ref.edges), ref, cur)
            return out
        _fill_numeric(out, stats.numeric(ref.sorted, cur, edges=ref.edges), ref, cur)
        return out
    cur_c = stats.CategoryCounts.of(np.asarray(current, dtype=object))
    out = ColumnDrift(ref.name, role, "categorical", ref.n, cur_c.n, ref.missing_rate, cur_c.missing_rate)
    if ref.n == 0 or cur_c.n == 0:
        out.verdict = "insufficient"
        out.reason = "no values on one side"
        return out
    st = stats.categorical(ref.counts, cur_c)
    out.psi, out.chi2, out.chi2_pvalue, out.chi2_dof = st.psi, st.chi2, st.chi2_pvalue, st.chi2_dof
    out.unseen = dict(st.unseen)
    out.pvalue = st.chi2_pvalue
    out.plot = ("categorical", st.categories, st.reference_counts, st.current_counts)
    if ref.n < th.min_samples or cur_c.n < th.min_samples:
        out.verdict = "insufficient"
        out.reason = f"{min(ref.n, cur_c.n)} values, fewer than min_samples {th.min_samples}"
    return out


def _to_float(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


PLOT_POINTS = 400


def _fill_numeric(
    out: ColumnDrift, st: stats.NumericStats, ref: PreparedColumn, cur: stats.SortedColumn
) -> None:
    out.psi, out.ks_statistic, out.ks_pvalue = st.psi, st.ks_statistic, st.ks_pvalue
    out.ks_method = st.ks_method
    out.wasserstein, out.wasserstein_relative = st.wasserstein, st.wasserstein_relative
    out.pvalue = st.ks_pvalue
    q = np.linspace(0, 1, PLOT_POINTS)
    out.plot = ("numeric", ref.sorted.quantile(q), cur.quantile(q))


def decide(columns: list[ColumnDrift], settings: Settings) -> Verdict:
    """Correct the p-values across the tested columns, then set each column's verdict."""
    tested = [c for c in columns if c.verdict != "insufficient" and c.pvalue is not None]
    for c, adj in zip(tested, _adjust([c.pvalue for c in tested], settings.correction), strict=True):  # type: ignore[misc]
        c.pvalue_adjusted = adj
        th = settings.for_feature(c.name)
        psi_level = _level(c.psi, th.psi_warn, th.psi_alert)
        w_level = _level(c.wasserstein_relative, th.wasserstein_warn, th.wasserstein_alert)
        level = max(psi_level, w_level, key=RANK.__getitem__)
        effect = f"PSI {c.psi:.3f}"
        if c.wasserstein_relative is not None:
            effect += f", Wasserstein {c.wasserstein_relative:.2f} sd"
        if level == "ok":
            c.verdict, c.reason = "ok", f"{effect}: below the warn thresholds"
        elif adj >= settings.alpha:
            c.verdict = "ok"
            c.reason = (
                f"{effect}, but p = {_pv(adj)} after {settings.correction} correction (not significant)"
            )
        else:
            c.verdict = level
            c.reason = f"{effect}, p = {_pv(adj)} after {settings.correction} correction"
        if c.unseen:
            names = ", ".join(f"{k} ({v})" for k, v in list(c.unseen.items())[:5])
            c.reason += f"; unseen categories: {names}"
    return worst(c.verdict for c in columns)


def _pv(p: float) -> str:
    return "0 (below 1e-300)" if p == 0 else f"{p:.3g}"


def worst(verdicts: Any) -> Verdict:
    best: Verdict = "ok"
    for v in verdicts:
        if RANK[v] > RANK[best]:
            best = v
    return best


def compare_window(
    prepared: Mapping[str, PreparedColumn],
    current: Mapping[str, np.ndarray],
    rows_reference: int,
    rows_current: int,
    settings: Settings,
) -> WindowDrift:
    names = [name for name in prepared if name in current]
    cols = _parallel(
        lambda name: compare_column(prepared[name], current[name], _role(name), settings.for_feature(name)),
        names,
    )
    verdict = decide(cols, settings)
    return WindowDrift(rows_reference, rows_current, cols, verdict)


def compare_columns(
    reference: Mapping[str, np.ndarray],
    current: Mapping[str, np.ndarray],
    names: Sequence[str],
    rows_reference: int,
    rows_current: int,
    settings: Settings,
) -> WindowDrift:
    """``prepare`` and ``compare_window`` a column at a time: each reference column is sorted,
    used for every statistic and dropped, so memory holds the columns in flight, not all of
    them sorted. For a reference compared once (the CLI); ``prepare`` keeps them for many."""

    def one(name: str) -> ColumnDrift:
        ref = PreparedColumn(name, np.asarray(reference[name]), settings.bins)
        return compare_column(ref, current[name], _role(name), settings.for_feature(name))

    cols = _parallel(one, [n for n in names if n in reference and n in current])
    return WindowDrift(rows_reference, rows_current, cols, decide(cols, settings))


def _role(name: str) -> Role:
    return "prediction" if name == PREDICTION else "feature"


def prepare(
    columns: Mapping[str, np.ndarray], names: Sequence[str], settings: Settings
) -> dict[str, PreparedColumn]:
    done = _parallel(lambda name: PreparedColumn(name, np.asarray(columns[name]), settings.bins), list(names))
    return dict(zip(names, done, strict=True))


# Each column in flight holds about 80 bytes per row of both windows in temporaries (80 MB at a
# million rows), so the threads are capped to keep memory flat on a large machine.
MAX_THREADS = 4


def _parallel(fn: Any, items: list[Any]) -> list[Any]:
    """``fn`` over ``items`` in threads, in order. The work is numpy sorts and binary searches
    and scipy's ``smirnov`` (the exact KS tail, about a second per drifted column at a million
    rows), which all release the GIL, so columns run on separate cores."""
    workers = min(len(items), os.cpu_count() or 1, MAX_THREADS)
    if workers <= 1:
        return [fn(x) for x in items]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlrelease-drift") as pool:
        return list(pool.map(fn, items))


def settings_from(cfg: Any) -> Settings:
    """Settings from a loaded ``Config`` (``monitoring``), or the defaults when there is none."""
    if cfg is None:
        return Settings()
    d = cfg.monitoring.drift
    default = Thresholds(d.warn, d.alert, d.wasserstein_warn, d.wasserstein_alert, d.min_samples)
    features = {
        name: Thresholds(
            f.warn if f.warn is not None else default.psi_warn,
            f.alert if f.alert is not None else default.psi_alert,
            f.wasserstein_warn if f.wasserstein_warn is not None else default.wasserstein_warn,
            f.wasserstein_alert if f.wasserstein_alert is not None else default.wasserstein_alert,
            f.min_samples if f.min_samples is not None else default.min_samples,
        )
        for name, f in d.features.items()
    }
    return Settings(
        default=default,
        features=features,
        alpha=d.alpha,
        correction=d.correction,
        bins=d.bins,
        outlier_warn=cfg.monitoring.outliers.warn,
        outlier_alert=cfg.monitoring.outliers.alert,
    )
