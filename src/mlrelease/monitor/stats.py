"""The drift statistics, exact and vectorised: one sort per column, shared by every test.

A numeric column is sorted once (the reference once per run, however many windows and slices
are compared with it). The merged order of reference and current gives both empirical CDFs at
every jump, from which the two-sample Kolmogorov-Smirnov statistic and the Wasserstein-1
distance follow in one pass; the PSI bins are quantiles read off the sorted reference, and
their counts are binary searches into the two sorted arrays. The results equal scipy's
``ks_2samp`` (statistic and p-value, with the method scipy's ``auto`` picks) and
``wasserstein_distance``, and ``chi2_contingency`` for categories (``tests/monitor``
checks each one).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

# scipy's ks_2samp computes the exact p-value when both samples have at most this many values
# (``MAX_AUTO_N`` in scipy.stats._stats_py); above it, Smirnov's asymptotic distribution.
KS_EXACT_MAX_N = 10_000
# An empty bin gets this share instead of 0 so that PSI stays finite (the usual choice in
# credit-scoring practice; it caps one bin's term at about 0.92 for a bin holding 10%).
PSI_FLOOR = 1e-4


@dataclass(frozen=True)
class SortedColumn:
    """A numeric column without its missing values, sorted, with its missing count."""

    values: np.ndarray  # float64, ascending, finite or +-inf, no NaN
    missing: int

    @classmethod
    def of(cls, raw: np.ndarray) -> SortedColumn:
        arr = np.asarray(raw, dtype=np.float64)
        nan = np.isnan(arr)
        missing = int(nan.sum())
        kept = arr[~nan] if missing else arr.copy()
        kept.sort()
        return cls(kept, missing)

    @property
    def n(self) -> int:
        return int(self.values.size)

    @property
    def missing_rate(self) -> float:
        total = self.n + self.missing
        return self.missing / total if total else 0.0

    def quantile(self, q: np.ndarray) -> np.ndarray:
        """numpy's default (linear) quantiles, read off the sorted values."""
        v = self.values
        pos = np.asarray(q, dtype=np.float64) * (v.size - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, v.size - 1)
        frac = pos - lo
        out: np.ndarray = v[lo] + (v[hi] - v[lo]) * frac
        return out

    def spread(self) -> float:
        """The standard deviation (ddof=0) of a non-empty column, the unit of the relative Wasserstein."""
        return float(np.std(self.values))


@dataclass(frozen=True)
class NumericStats:
    n_reference: int
    n_current: int
    ks_statistic: float
    ks_pvalue: float
    ks_method: str  # "exact" | "asymp", as scipy's ks_2samp(method="auto") chooses
    wasserstein: float
    wasserstein_relative: float  # wasserstein / the reference's standard deviation
    psi: float
    bin_edges: tuple[float, ...]
    reference_shares: tuple[float, ...]
    current_shares: tuple[float, ...]


def ks_pvalue(d: float, n1: int, n2: int) -> tuple[float, float, str]:
    """(statistic, p-value, method) for a two-sided two-sample KS, as scipy's ``auto`` does it.

    Exact when both sizes are at most ``KS_EXACT_MAX_N`` (scipy rounds the statistic to the
    lattice h / lcm(n1, n2) there), Smirnov's asymptotic ``kstwo`` otherwise or when the exact
    recursion overflows.
    """
    method = "exact" if max(n1, n2) <= KS_EXACT_MAX_N else "asymp"
    if method == "exact":
        # scipy's own exact routine, so the p-value is scipy's to the last bit; it depends on
        # (n1, n2, d) alone, so no sample is passed or sorted again.
        # private to scipy, so scipy-stubs does not declare it
        from scipy.stats._stats_py import _attempt_exact_2kssamp  # type: ignore[attr-defined]

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ok, d_exact, prob = _attempt_exact_2kssamp(n1, n2, math.gcd(n1, n2), d, "two-sided")
        if ok:
            # scipy answers ok only for a probability within [0, 1]
            return float(d_exact), float(prob), method
        method = "asymp"
    en = n1 * n2 / (n1 + n2)
    return float(d), kstwo_sf(d, round(en)), method


def kstwo_sf(x: float, n: int) -> float:
    """``scipy.stats.kstwo.sf(x, n)``, the tail of the two-sided one-sample KS statistic.

    scipy (``_ksstats._kolmogn``) answers 2 * ``smirnov(n, x)`` for n > 140 when 2.2 <= n x^2
    < 370, and its ``smirnov`` adds its n (1 - x) terms one at a time: 2.5 s per drifted column
    at a million rows, most of a monitor run. ``smirnov_sf`` is the same sum at once; every other
    case is scipy's own answer.
    """
    t = n * x
    if n > 140 and 1.0 < t < n - 1 and x < 0.5 and 2.2 <= t * x < 370.0:
        # a sum of positive terms, at most 2 exp(-2 n x^2) < 0.03 here: no clip needed
        return 2.0 * smirnov_sf(n, x)
    return float(sps.kstwo.sf(x, n))


def smirnov_sf(n: int, x: float) -> float:
    """``scipy.special.smirnov(n, x)``: P(D+ >= x), the exact one-sided tail (Birnbaum and Tingey).

    x * sum_{j <= n (1 - x)} C(n, j) (1 - x - j/n)^(n - j) (x + j/n)^(j - 1), whose every term is
    the binomial pmf of j for n trials at p = x + j/n, divided by p: one vectorised call, all
    terms positive, so no cancellation (``tests/monitor/test_stats.py`` holds it to scipy's
    value within 1e-11 relative; measured 1e-13 at n = 10^6).
    """
    j = np.arange(math.floor(n * (1.0 - x)) + 1, dtype=np.float64)
    p = np.minimum(x + j / n, 1.0)
    return float(x * np.sum(sps.binom.pmf(j, n, p) / p))


def psi(reference_counts: np.ndarray, current_counts: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Population stability index sum((c - r) * ln(c / r)) over shares, empty shares floored."""
    r = reference_counts / max(reference_counts.sum(), 1)
    c = current_counts / max(current_counts.sum(), 1)
    rf = np.maximum(r, PSI_FLOOR)
    cf = np.maximum(c, PSI_FLOOR)
    return float(np.sum((cf - rf) * np.log(cf / rf))), r, c


def psi_edges(ref: SortedColumn, bins: int) -> np.ndarray:
    """Interior bin edges at the reference's quantiles 1/bins .. (bins-1)/bins, ties merged."""
    if ref.n == 0:
        return np.empty(0)
    return np.unique(ref.quantile(np.arange(1, bins) / bins))


# Positions of the merged order handled at a time: the ECDF temporaries (counts, differences,
# widths) are a few bytes per position, so a chunk holds about 10 MB whatever the window's size.
# Measured at a million rows a side (tracemalloc, one column): 100 MB of temporaries over the
# whole merged order, 43 MB chunked (the sorted columns and the merge included), at the same speed.
CHUNK = 1 << 18


def _merge(r: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The merged order of two sorted arrays (values, and which came from ``c``), no second sort.

    A current value goes after the equal reference values, at (reference values <= it) + (current
    values before it): one binary search per current value.
    """
    n1, n2 = r.size, c.size
    pos = np.searchsorted(r, c, side="right")
    for s in range(0, n2, CHUNK):
        pos[s : s + CHUNK] += np.arange(s, min(s + CHUNK, n2), dtype=pos.dtype)
    from_cur = np.zeros(n1 + n2, dtype=bool)
    from_cur[pos] = True
    merged = np.empty(n1 + n2, dtype=np.float64)
    merged[pos] = c
    del pos
    merged[~from_cur] = r
    return merged, from_cur


def _ecdf_distances(r: np.ndarray, c: np.ndarray) -> tuple[float, float]:
    """(KS statistic, Wasserstein-1) of two sorted samples, from one pass over their merged order.

    The running counts of each side are the two ECDFs times n at every merged position. scipy
    evaluates both ECDFs at each distinct value with all its ties counted: the last position of
    each run of equal values (the final position, where both are 1, adds 0). Wasserstein-1 is the
    area between the ECDFs; inside a run of ties the width is 0.
    """
    n1, n2 = r.size, c.size
    merged, from_cur = _merge(r, c)
    last = n1 + n2 - 1
    d, wass, seen_c = 0.0, 0.0, 0
    for s in range(0, last, CHUNK):
        e = min(s + CHUNK, last)
        count_c = np.cumsum(from_cur[s:e], dtype=np.int64)
        count_c += seen_c
        seen_c = int(count_c[-1])
        count_r = np.arange(s + 1, e + 1, dtype=np.int64)
        count_r -= count_c
        absdiff = count_r / n1  # the same division as scipy's, so the same floats
        absdiff -= count_c / n2
        np.abs(absdiff, out=absdiff)
        widths = merged[s + 1 : e + 1] - merged[s:e]
        # inside a run of ties the width is 0: the run's last position is where width > 0
        d = max(d, float(np.max(absdiff, where=widths > 0, initial=0.0)))
        wass += float(np.vecdot(absdiff, widths))
    return d, wass


def numeric(
    ref: SortedColumn, cur: SortedColumn, *, bins: int = 10, edges: np.ndarray | None = None
) -> NumericStats:
    """KS, Wasserstein and PSI of two sorted columns from one merge of the two."""
    r, c = ref.values, cur.values
    n1, n2 = r.size, c.size
    if n1 == 0 or n2 == 0:
        raise ValueError("both samples need at least one value")
    d, wass = _ecdf_distances(r, c)
    d, p, method = ks_pvalue(d, n1, n2)
    if edges is None:
        edges = psi_edges(ref, bins)
    rc = np.diff(np.concatenate(([0], np.searchsorted(r, edges, side="right"), [n1])))
    cc = np.diff(np.concatenate(([0], np.searchsorted(c, edges, side="right"), [n2])))
    value, rs, cs = psi(rc.astype(np.float64), cc.astype(np.float64))
    sd = ref.spread()
    return NumericStats(
        n_reference=n1,
        n_current=n2,
        ks_statistic=d,
        ks_pvalue=p,
        ks_method=method,
        wasserstein=wass,
        wasserstein_relative=wass / sd if sd > 0 else (0.0 if wass == 0 else math.inf),
        psi=value,
        bin_edges=tuple(float(e) for e in edges),
        reference_shares=tuple(float(x) for x in rs),
        current_shares=tuple(float(x) for x in cs),
    )


@dataclass(frozen=True)
class CategoricalStats:
    n_reference: int
    n_current: int
    categories: tuple[str, ...]  # reference categories, most frequent first, then unseen ones
    reference_counts: tuple[int, ...]
    current_counts: tuple[int, ...]
    psi: float
    chi2: float
    chi2_pvalue: float
    chi2_dof: int
    unseen: dict[str, int]  # categories only the current window has, with their counts


@dataclass(frozen=True)
class CategoryCounts:
    """A categorical column as counts per category (missing values counted apart)."""

    counts: dict[str, int]
    missing: int

    @classmethod
    def of(cls, raw: np.ndarray) -> CategoryCounts:
        # pandas only here: importing it costs 65 MiB of resident memory, which a window of
        # numeric columns (bench_drift.py at 1M x 20) does not need to pay
        import pandas as pd

        arr = np.asarray(raw, dtype=object)
        missing_mask = np.asarray(pd.isna(arr), dtype=bool)
        kept = arr[~missing_mask].astype(str)
        names, counts = np.unique(kept, return_counts=True)
        return cls({str(k): int(v) for k, v in zip(names, counts, strict=True)}, int(missing_mask.sum()))

    @property
    def n(self) -> int:
        return sum(self.counts.values())

    @property
    def missing_rate(self) -> float:
        total = self.n + self.missing
        return self.missing / total if total else 0.0


def categorical(ref: CategoryCounts, cur: CategoryCounts) -> CategoricalStats:
    """PSI and a chi-square test of homogeneity over the union of categories."""
    seen = sorted(ref.counts, key=lambda k: (-ref.counts[k], k))
    unseen = sorted((k for k in cur.counts if k not in ref.counts), key=lambda k: (-cur.counts[k], k))
    cats = seen + unseen
    rc = np.array([ref.counts.get(k, 0) for k in cats], dtype=np.float64)
    cc = np.array([cur.counts.get(k, 0) for k in cats], dtype=np.float64)
    value, _, _ = psi(rc, cc)
    if len(cats) > 1:
        res = sps.chi2_contingency(np.vstack([rc, cc]))
        chi2, p, dof = float(res.statistic), float(res.pvalue), int(res.dof)
    else:
        chi2, p, dof = 0.0, 1.0, 0
    return CategoricalStats(
        n_reference=ref.n,
        n_current=cur.n,
        categories=tuple(cats),
        reference_counts=tuple(int(x) for x in rc),
        current_counts=tuple(int(x) for x in cc),
        psi=value,
        chi2=chi2,
        chi2_pvalue=p,
        chi2_dof=dof,
        unseen={k: cur.counts[k] for k in unseen},
    )


def holm(pvalues: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down; controls the family-wise error rate)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted
