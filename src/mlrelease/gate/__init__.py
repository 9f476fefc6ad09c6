"""``mlrelease gate``: decide whether the candidate may replace the baseline.

Rules come from ``gate:`` in mlrelease.yaml, per metric: direction (from the name or ``better``),
an absolute floor or ceiling (``min``/``max``) and the largest allowed regression
(``max_regression``, relative ``2%`` or absolute). Agreed trade-offs widen a metric's allowed
regression when another metric improves enough. Slices with their own ``max_regression`` are
guardrails: a slice that regresses beyond it blocks the candidate even when the whole set improves.

Metrics measured on different data are not comparable: when the two metrics.json name different
data sha256, the gate refuses (exit 2, naming both) unless the caller passes
``allow_different_data``; then the headline and a note say that the comparison is of point
estimates on different data.

When both sides have predictions on the same rows (same data sha256), a paired bootstrap gives an
interval for each quality metric's difference; a regression beyond the margin blocks only when the
interval is beyond it too ("worse with confidence"), otherwise it is reported as "within noise".
Cost metrics carry their measured run-to-run noise, used the same way.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypedDict

import numpy as np
import pandas as pd

from mlrelease import metrics as metricdefs
from mlrelease.artifacts import json_safe, read_typed, write_json
from mlrelease.artifacts.metrics import (
    METRICS_FILE,
    PREDICTIONS_FILE,
    PROBA_PREFIX,
    SLICE_PREFIX,
    MetricsReport,
)
from mlrelease.artifacts.tables import PredictionsTable
from mlrelease.config import BootstrapConfig, Direction, GateConfig, MetricRule, SliceConfig, Tolerance
from mlrelease.errors import ConfigError, Problem, UsageError
from mlrelease.findings import Finding, Location
from mlrelease.gate.bootstrap import (
    Interval,
    paired_classification,
    paired_regression,
    paired_roc_auc,
    per_row_log_loss,
)

SCHEMA_VERSION = 1
Verdict = Literal["pass", "fail", "noise", "skip", "info"]
# which of a check's verdicts wins when several rules of one metric speak
VERDICT_ORDER: dict[str, int] = {"info": 0, "skip": 1, "pass": 2, "noise": 3, "fail": 4}
OVERALL = "overall"


@dataclass(frozen=True)
class Side:
    """One side of the comparison: its metrics.json and, when present, its predictions."""

    path: Path
    report: MetricsReport
    predictions: pd.DataFrame | None


def load_side(path: Path, role: str) -> Side:
    """Read ``path`` (a folder written by evaluate, or a metrics.json) for ``role``."""
    path = Path(path)
    metrics_path = path / METRICS_FILE if path.is_dir() else path
    if not metrics_path.is_file():
        raise UsageError(
            f"--{role} {path}: no {METRICS_FILE} there",
            hint=f"point --{role} at the folder `mlrelease evaluate -o` wrote, or at its {METRICS_FILE}",
        )
    report = MetricsReport.read(metrics_path)
    pred_path = metrics_path.parent / PREDICTIONS_FILE
    predictions = PredictionsTable.read(pred_path).frame if pred_path.is_file() else None
    return Side(path=metrics_path, report=report, predictions=predictions)


@dataclass(frozen=True)
class Check:
    """One metric, overall or on one slice, against its rule."""

    metric: str
    scope: str  # "overall" or a slice name
    better: Direction | None
    baseline: float | None
    candidate: float | None
    change: float | None  # candidate - baseline
    relative_change: float | None  # change / |baseline|
    rule: str
    verdict: Verdict
    reason: str
    interval: Interval | None = None  # of candidate - baseline


@dataclass
class GateResult:
    verdict: Literal["pass", "fail"]
    headline: str
    checks: list[Check]
    notes: list[str]
    trade_offs: list[str]
    paired: bool
    candidate: dict[str, Any]
    baseline: dict[str, Any] | None
    schema_version: int = SCHEMA_VERSION
    reported: list[Check] = field(default_factory=list)  # metrics without rules: shown, not gated
    different_data: bool = False  # the baseline was evaluated on other data (allowed explicitly)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.verdict == "fail"]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = json_safe(dataclasses.asdict(self))
        return data

    def write(self, path: Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def read(cls, path: Path) -> GateResult:
        """gate.json back as a ``GateResult`` (ArtifactError, exit 2, when it is not one)."""
        hint = "run `mlrelease gate` with this version of mlrelease to write it again"
        return read_typed(path, kind="gate.json", version=SCHEMA_VERSION, hint=hint, build=cls._from_json)

    @classmethod
    def _from_json(cls, data: dict[str, Any]) -> GateResult:
        return cls(
            verdict=data["verdict"],
            headline=str(data["headline"]),
            checks=[_check_from(c) for c in data["checks"]],
            notes=[str(n) for n in data["notes"]],
            trade_offs=[str(t) for t in data["trade_offs"]],
            paired=bool(data["paired"]),
            candidate=dict(data["candidate"]),
            baseline=dict(data["baseline"]) if data.get("baseline") is not None else None,
            reported=[_check_from(c) for c in data.get("reported", [])],
            different_data=bool(data.get("different_data")),
        )

    def findings(self) -> list[Finding]:
        """A blocking check is an error, one within noise a warning; the others say nothing."""
        out = []
        for c in self.checks:
            if c.verdict not in ("fail", "noise"):
                continue
            key = c.metric if c.scope == OVERALL else f"{c.metric} (slice {c.scope})"
            out.append(
                Finding(
                    "blocked" if c.verdict == "fail" else "within-noise",
                    "error" if c.verdict == "fail" else "warning",
                    c.reason,
                    Location(key=key),
                    data={"metric": c.metric, "scope": c.scope, "rule": c.rule},
                )
            )
        return out


def _check_from(data: dict[str, Any]) -> Check:
    interval = data.get("interval")
    return Check(**{**data, "interval": Interval(**interval) if interval is not None else None})


# ----------------------------------------------------------------------------- formatting


def fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if value != 0 and (abs(value) >= 1000):
        return f"{value:,.0f}"
    return f"{value:.4g}"


def fmt_change(check: Check) -> str:
    return change_text(check.change, check.relative_change)


def change_text(change: float | None, relative_change: float | None) -> str:
    """``+1,234 (+5.0%)``: a change and its relative size, as the gate's table and the PR comment show it."""
    if change is None:
        return "—"
    text = f"{'+' if change >= 0 else ''}{fmt(change)}"
    if relative_change is not None:
        text += f" ({relative_change:+.1%})"
    return text


# ----------------------------------------------------------------------------- the decision


def resolve_direction(name: str, rule: MetricRule) -> Direction | None:
    return rule.better or metricdefs.direction(name)


def validate_rules(gate_cfg: GateConfig) -> None:
    """Every rule that compares needs a direction; report all that lack one at once."""
    problems = []
    for name, rule in gate_cfg.metrics.items():
        if rule.max_regression is not None and resolve_direction(name, rule) is None:
            problems.append(
                Problem(
                    "cannot tell whether higher or lower is better from the name",
                    key=f"gate.metrics.{name}",
                    hint="set better: higher or better: lower",
                )
            )
    for i, t in enumerate(gate_cfg.trade_offs):
        for name in t.allow:
            if name not in gate_cfg.metrics:
                problems.append(
                    Problem(
                        f"trade-off allows '{name}', which has no rule under gate.metrics",
                        key=f"gate.trade_offs[{i}].allow",
                    )
                )
    if problems:
        raise ConfigError("the gate rules are incomplete", problems=problems)


@dataclass
class _Pairing:
    paired: bool
    reason: str = ""  # said in a note whenever there is a baseline
    intervals: dict[str, dict[str, Interval]] = field(default_factory=dict)  # scope -> metric -> interval
    rows: dict[str, int] = field(default_factory=dict)


class _Resampling(TypedDict):
    """The bootstrap settings every paired interval takes."""

    resamples: int
    confidence: float
    seed: int


def _pair(
    candidate: Side, baseline: Side, slices: tuple[SliceConfig, ...], boot: BootstrapConfig, want: bool
) -> _Pairing:
    c, b = candidate.predictions, baseline.predictions
    if c is None or b is None:
        which = "candidate" if c is None else "baseline"
        return _Pairing(False, f"the {which} has no {PREDICTIONS_FILE}: no paired bootstrap")
    if candidate.report.data.sha256 != baseline.report.data.sha256:
        return _Pairing(
            False,
            "the two sides were evaluated on different data (sha256 "
            f"{baseline.report.data.sha256[:12]} vs {candidate.report.data.sha256[:12]}): "
            "their metrics are compared as point estimates, without a paired bootstrap",
        )
    if len(c) != len(b) or not np.array_equal(c["row_id"].to_numpy(), b["row_id"].to_numpy()):
        return _Pairing(
            False, "the predictions do not list the same rows in the same order: no paired bootstrap"
        )
    if not want:
        return _Pairing(True, "paired: same data; no rule needs an interval")
    task = candidate.report.task
    scopes: dict[str, np.ndarray] = {OVERALL: np.ones(len(c), dtype=bool)}
    for s in slices:
        col = f"{SLICE_PREFIX}{s.name}"
        if s.max_regression is not None and col in c.columns:
            scopes[s.name] = c[col].to_numpy(dtype=bool)
    out = _Pairing(True, f"paired bootstrap on the same {len(c):,} rows ({boot.resamples:,} resamples)")
    for scope, mask in scopes.items():
        out.rows[scope] = int(mask.sum())
        if mask.sum() < 2:
            continue
        y = c["target"].to_numpy()[mask]
        pb = b["prediction"].to_numpy()[mask]
        pc = c["prediction"].to_numpy()[mask]
        kwargs: _Resampling = {"resamples": boot.resamples, "confidence": boot.confidence, "seed": boot.seed}
        if task == "regression":
            out.intervals[scope] = paired_regression(y, pb, pc, **kwargs)
        else:
            losses = _losses(candidate, baseline, c, b, mask, y)
            classes = (
                candidate.report.classes if candidate.report.classes == baseline.report.classes else None
            )
            out.intervals[scope] = paired_classification(
                y, pb, pc, baseline_loss=losses[0], candidate_loss=losses[1], classes=classes, **kwargs
            )
            column = f"{PROBA_PREFIX}{classes[1]}" if classes and len(classes) == 2 else None
            if classes and column and column in c.columns and column in b.columns:
                out.intervals[scope].update(
                    paired_roc_auc(
                        y == classes[1],
                        b[column].to_numpy(dtype=float)[mask],
                        c[column].to_numpy(dtype=float)[mask],
                        **kwargs,
                    )
                )
    return out


def _losses(
    candidate: Side, baseline: Side, c: pd.DataFrame, b: pd.DataFrame, mask: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray | None]:
    out: list[np.ndarray | None] = []
    for side, frame in ((baseline, b), (candidate, c)):
        classes = side.report.classes
        cols = [f"{PROBA_PREFIX}{k}" for k in classes or []]
        if not classes or not all(col in frame.columns for col in cols):
            return None, None
        out.append(per_row_log_loss(y, frame[cols].to_numpy(dtype=float)[mask], classes))
    return out[0], out[1]


def _worse(change: float, better: Direction) -> float:
    """How much worse the candidate is (positive) or better (negative)."""
    return change if better == "lower" else -change


def _worse_interval(iv: Interval, better: Direction) -> tuple[float, float]:
    return (iv.low, iv.high) if better == "lower" else (-iv.high, -iv.low)


def _noise_abs(name: str, candidate: MetricsReport, baseline: MetricsReport | None) -> float:
    """The combined measured run-to-run noise of a cost metric, in its own units."""
    c = candidate.value(name)
    parts = [(candidate.noise.get(name, 0.0) * (c or 0.0)) ** 2]
    if baseline is not None:
        b = baseline.value(name)
        parts.append((baseline.noise.get(name, 0.0) * (b or 0.0)) ** 2)
    return math.sqrt(sum(parts))


def _values(name: str, scope: str, report: MetricsReport | None) -> tuple[bool, float | None]:
    if report is None:
        return False, None
    if scope == OVERALL:
        return report.has(name), report.value(name)
    sl = report.slices[scope]  # _slice_checks fails a slice missing from either side before this
    return name in sl.metrics, sl.metrics.get(name)


def _describe_absence(name: str, role: str, present: bool) -> str:
    return (
        f"{name} is not a finite number in the {role} (NaN or infinite)"
        if present
        else f"{name} is missing from the {role}'s metrics"
    )


def _check(
    name: str,
    scope: str,
    rule: MetricRule,
    tolerance: Tolerance | None,
    candidate: MetricsReport,
    baseline: MetricsReport | None,
    interval: Interval | None,
    tolerance_note: str,
    notes: list[str],
    rows: int | None,
) -> Check:
    better = resolve_direction(name, rule)
    c_present, c = _values(name, scope, candidate)
    b_present, b = _values(name, scope, baseline)
    parts: list[str] = []
    if tolerance is not None:
        parts.append(f"≤ {tolerance} worse{tolerance_note}")
    if rule.min is not None:
        parts.append(f"≥ {fmt(rule.min)}")
    if rule.max is not None:
        parts.append(f"≤ {fmt(rule.max)}")
    if rule.optional:
        parts.append("optional")
    rule_text = "; ".join(parts) or "reported"
    change = None if c is None or b is None else c - b
    rel = None if change is None or not b else change / abs(b)
    label = name if scope == OVERALL else f"{name} on slice '{scope}'"

    def result(verdict: Verdict, reason: str) -> Check:
        return Check(name, scope, better, b, c, change, rel, rule_text, verdict, reason, interval)

    if c is None:
        if rule.optional:
            return result(
                "skip", f"{_describe_absence(label, 'candidate', c_present)}; optional, not checked"
            )
        return result("fail", _describe_absence(label, "candidate", c_present))
    verdicts: list[tuple[Verdict, str]] = []
    noise = _noise_abs(name, candidate, None)  # floors and ceilings are rules of the whole set only
    if rule.min is not None:
        if c >= rule.min:
            verdicts.append(("pass", f"{fmt(c)} is at or above the floor {fmt(rule.min)}"))
        elif c + noise >= rule.min:
            verdicts.append(
                ("noise", f"{fmt(c)} is below the floor {fmt(rule.min)}, within its noise ±{fmt(noise)}")
            )
        else:
            verdicts.append(("fail", f"{fmt(c)} is below the floor {fmt(rule.min)}"))
    if rule.max is not None:
        if c <= rule.max:
            verdicts.append(("pass", f"{fmt(c)} is at or below the ceiling {fmt(rule.max)}"))
        elif c - noise <= rule.max:
            verdicts.append(
                ("noise", f"{fmt(c)} is above the ceiling {fmt(rule.max)}, within its noise ±{fmt(noise)}")
            )
        else:
            verdicts.append(("fail", f"{fmt(c)} is above the ceiling {fmt(rule.max)}"))
    if tolerance is not None:
        verdicts.append(
            _relative(
                label,
                name,
                tolerance,
                better,
                b,
                b_present,
                c,
                baseline,
                candidate,
                interval,
                rule,
                notes,
                rows,
            )
        )
    if not verdicts:
        return result("info", "reported, not gated")
    worst = max(verdicts, key=lambda v: VERDICT_ORDER[v[0]])[0]
    shown = [r for v, r in verdicts if v == worst] if worst in ("fail", "noise") else [r for _, r in verdicts]
    return result(worst, "; ".join(shown))


def _relative(
    label: str,
    name: str,
    tolerance: Tolerance,
    better: Direction | None,
    b: float | None,
    b_present: bool,
    c: float,
    baseline: MetricsReport | None,
    candidate: MetricsReport,
    interval: Interval | None,
    rule: MetricRule,
    notes: list[str],
    rows: int | None,
) -> tuple[Verdict, str]:
    assert better is not None  # validate_rules ensures it
    if baseline is None:
        return "skip", "no baseline: the regression rule is not checked"
    if b is None:
        if rule.optional:
            return "skip", f"{_describe_absence(label, 'baseline', b_present)}; optional, not checked"
        return "fail", _describe_absence(label, "baseline", b_present)
    allowed = tolerance.amount(b)
    worse = _worse(c - b, better)
    direction_word = "worse" if worse > 0 else "better"
    size = (
        f"{abs(worse):.4g}"
        if not tolerance.relative
        else f"{abs(worse) / abs(b):.1%}"
        if b
        else fmt(abs(worse))
    )
    if interval is not None:
        lo, _ = _worse_interval(interval, better)
        _, hi = _worse_interval(interval, better)
        if allowed > 0 and lo <= allowed < hi and interval.half_width > allowed and rows:
            need = math.ceil(rows * (interval.half_width / allowed) ** 2)
            notes.append(
                f"{label}: the validation set ({rows:,} rows) is too small to resolve a tolerance of "
                f"{tolerance} ({fmt(allowed)}): the {interval.confidence:.0%} interval of the "
                f"difference is ±{fmt(interval.half_width)}; about {need:,} rows ({need - rows:,} more) "
                "would resolve it"
            )
        band = (
            f"{interval.confidence:.0%} interval of the change: [{fmt(interval.low)}, {fmt(interval.high)}]"
        )
        if worse <= allowed:
            return "pass", f"{size} {direction_word}, within the allowed {tolerance} ({band})"
        if lo <= allowed:
            return "noise", (
                f"{size} worse, beyond the allowed {tolerance}, but within noise: the {band} "
                f"reaches the allowed margin"
            )
        return "fail", f"{size} worse, beyond the allowed {tolerance} with confidence ({band})"
    if worse <= allowed:
        return "pass", f"{size} {direction_word}, within the allowed {tolerance}"
    noise = _noise_abs(name, candidate, baseline)
    if noise > 0 and worse <= allowed + noise:
        return "noise", (
            f"{size} worse, beyond the allowed {tolerance}, but within the measured noise (±{fmt(noise)})"
        )
    return "fail", f"{size} worse, beyond the allowed {tolerance}"


def _trade_offs(
    gate_cfg: GateConfig,
    candidate: MetricsReport,
    baseline: MetricsReport | None,
    intervals: dict[str, Interval],
) -> tuple[dict[str, tuple[Tolerance, str]], list[str]]:
    """Tolerances widened by the trade-offs whose conditions hold, with the reason for each."""
    widened: dict[str, tuple[Tolerance, str]] = {}
    applied: list[str] = []
    if baseline is None:
        return widened, applied
    for t in gate_cfg.trade_offs:
        held = [_condition(name, want, candidate, baseline, intervals) for name, want in t.when.items()]
        if None in held:
            continue
        for name, tol in t.allow.items():
            rule = gate_cfg.metrics[name]  # validate_rules refuses a trade-off on a metric without one
            current = widened[name][0] if name in widened else rule.max_regression
            b = baseline.value(name)
            base = abs(b) if b is not None else 1.0
            if current is None or tol.amount(base) > current.amount(base):
                widened[name] = (tol, " (trade-off)")
                applied.append(f"{name} may be up to {tol} worse because " + " and ".join(map(str, held)))
    return widened, applied


def _condition(
    name: str,
    want: Tolerance,
    candidate: MetricsReport,
    baseline: MetricsReport,
    intervals: dict[str, Interval],
) -> str | None:
    """How a trade-off's condition on ``name`` held, or None when it did not."""
    b, c = baseline.value(name), candidate.value(name)
    if b is None or c is None or (want.relative and b == 0):
        return None
    scale = abs(b) if want.relative else 1.0
    change = (c - b) / scale
    noise = _noise_abs(name, candidate, baseline) / scale
    iv = intervals.get(name)
    if iv is not None:  # the conservative end of the interval must meet the condition
        low, high = iv.low / scale, iv.high / scale
        met = high <= want.value if want.value < 0 else low >= want.value
    else:
        met = change + noise <= want.value if want.value < 0 else change - noise >= want.value
    if not met:
        return None
    shown = f"{change:+.1%}" if want.relative else f"{change:+.4g}"
    need = f"{'≤' if want.value < 0 else '≥'} {want}"
    return f"{name} changed {shown} (needed {need}{', beyond noise' if noise else ''})"


def decide(
    gate_cfg: GateConfig,
    slices: tuple[SliceConfig, ...],
    candidate: Side,
    baseline: Side | None,
    *,
    allow_different_data: bool = False,
) -> GateResult:
    """Compare ``candidate`` with ``baseline`` (or with absolute rules only when None).

    Refuses sides evaluated on different data unless ``allow_different_data``."""
    validate_rules(gate_cfg)
    cand = candidate.report
    base = baseline.report if baseline else None
    notes: list[str] = []
    data_note = _different_data(candidate, baseline, allow_different_data)
    different_data = data_note is not None
    if base is None:
        notes.append(
            "No baseline given: only the absolute rules (min/max) are checked; "
            "every max_regression rule and every trade-off is skipped."
        )
    relative_rules = any(r.max_regression is not None for r in gate_cfg.metrics.values())
    guarded = tuple((s, s.max_regression) for s in slices if s.max_regression is not None)
    pairing = _Pairing(False)
    if baseline is not None:
        pairing = _pair(candidate, baseline, slices, gate_cfg.bootstrap, relative_rules or bool(guarded))
        notes.append(pairing.reason[0].upper() + pairing.reason[1:] + ".")
    if data_note is not None:
        notes.insert(0, data_note)
    overall_iv = pairing.intervals.get(OVERALL, {})
    widened, applied = _trade_offs(gate_cfg, cand, base, overall_iv)
    checks = _metric_checks(gate_cfg, widened, cand, base, pairing, notes)
    checks += _slice_checks(gate_cfg, guarded, cand, base, pairing, notes)
    reported = [
        _check(name, OVERALL, MetricRule(), None, cand, base, overall_iv.get(name), "", [], None)
        for name in [*cand.metrics, *cand.cost]
        if name not in gate_cfg.metrics
    ]
    return GateResult(
        verdict="fail" if any(c.verdict == "fail" for c in checks) else "pass",
        headline=_headline(checks, cand, base, different_data),
        checks=checks,
        notes=notes,
        trade_offs=applied,
        paired=pairing.paired,
        candidate=_side_info(candidate),
        baseline=_side_info(baseline) if baseline else None,
        reported=reported,
        different_data=different_data,
    )


def _different_data(candidate: Side, baseline: Side | None, allow_different_data: bool) -> str | None:
    """The note saying the sides were evaluated on different data, None when they were not.
    Refuses a baseline of another task, and different data unless ``allow_different_data``."""
    if baseline is None:
        return None
    cand, base = candidate.report, baseline.report
    if base.task != cand.task:
        raise UsageError(f"the candidate is a {cand.task} model but the baseline is a {base.task} model")
    different = base.data.sha256 != cand.data.sha256
    if different and not allow_different_data:
        raise UsageError(
            "the candidate and the baseline were evaluated on different data, so their metrics "
            "cannot be compared",
            problems=[
                Problem(
                    f"data sha256 {cand.data.sha256} ({cand.data.path}, {cand.data.rows:,} rows)",
                    file=str(candidate.path),
                    key="candidate",
                ),
                Problem(
                    f"data sha256 {base.data.sha256} ({base.data.path}, {base.data.rows:,} rows)",
                    file=str(baseline.path),
                    key="baseline",
                ),
            ],
            hint="evaluate the baseline on the candidate's validation data "
            "(`mlrelease evaluate --model <baseline model> -o <folder>`), or pass "
            "--allow-different-data to compare them anyway as point estimates",
        )
    if not different:
        return None
    return (
        "Different data, allowed by --allow-different-data: the baseline was evaluated on "
        f"{base.data.path} and the candidate on {cand.data.path}; the verdict "
        "compares point estimates on different rows and says less than a paired comparison."
    )


def _metric_checks(
    gate_cfg: GateConfig,
    widened: Mapping[str, tuple[Tolerance, str]],
    cand: MetricsReport,
    base: MetricsReport | None,
    pairing: _Pairing,
    notes: list[str],
) -> list[Check]:
    """One check per gated metric on the whole validation set, with trade-offs applied."""
    overall_iv = pairing.intervals.get(OVERALL, {})
    checks = []
    for name, rule in gate_cfg.metrics.items():
        tol, note = widened.get(name, (rule.max_regression, ""))
        checks.append(
            _check(
                name,
                OVERALL,
                rule,
                tol,
                cand,
                base,
                overall_iv.get(name),
                note,
                notes,
                pairing.rows.get(OVERALL),
            )
        )
    return checks


def _slice_checks(
    gate_cfg: GateConfig,
    guarded: tuple[tuple[SliceConfig, Tolerance], ...],
    cand: MetricsReport,
    base: MetricsReport | None,
    pairing: _Pairing,
    notes: list[str],
) -> list[Check]:
    """Each gated metric on each slice with a max_regression; a slice missing from a side fails."""
    checks = []
    for s, slice_tol in guarded:
        if s.name not in cand.slices or (base is not None and s.name not in base.slices):
            where = "candidate" if s.name not in cand.slices else "baseline"
            checks.append(
                Check(
                    "—",
                    s.name,
                    None,
                    None,
                    None,
                    None,
                    None,
                    f"≤ {slice_tol} worse",
                    "fail",
                    f"slice '{s.name}' is missing from the {where}'s metrics",
                )
            )
            continue
        if cand.slices[s.name].rows == 0:
            notes.append(f"Slice '{s.name}' has no rows in the validation data: not checked.")
            continue
        ivs = pairing.intervals.get(s.name, {})
        for name, rule in gate_cfg.metrics.items():
            if name not in cand.slices[s.name].metrics:
                continue  # cost metrics and metrics undefined on the slice
            slice_rule = MetricRule(better=rule.better, optional=rule.optional)
            checks.append(
                _check(
                    name,
                    s.name,
                    slice_rule,
                    slice_tol,
                    cand,
                    base,
                    ivs.get(name),
                    "",
                    notes,
                    pairing.rows.get(s.name),
                )
            )
    return checks


def _headline(
    checks: list[Check], cand: MetricsReport, base: MetricsReport | None, different_data: bool
) -> str:
    """The verdict in one line: what blocks (the first three failures), or how many checks passed."""
    failed = [c for c in checks if c.verdict == "fail"]
    noisy = [c for c in checks if c.verdict == "noise"]
    gated = [c for c in checks if c.verdict in ("pass", "fail", "noise")]
    who = f"{cand.model.name} {(cand.model.sha256 or '')[:12]}".strip()
    against = (
        f"baseline {(base.model.sha256 or '')[:12]}".strip() if base else "absolute rules only (no baseline)"
    )
    if different_data:
        against += " evaluated on DIFFERENT data (allowed)"
    if failed:
        names = "; ".join(
            f"{c.metric}{'' if c.scope == OVERALL else f' on slice {c.scope}'}: {c.reason.split(' (')[0]}"
            for c in failed[:3]
        )
        more = f" (+{len(failed) - 3} more)" if len(failed) > 3 else ""
        return f"FAIL: {len(failed)} of {len(gated)} checks block {who} against {against}: {names}{more}"
    extra = f", {len(noisy)} beyond the margin but within noise" if noisy else ""
    return f"PASS: {who} passes all {len(gated)} checks against {against}{extra}"


def _side_info(side: Side) -> dict[str, Any]:
    r = side.report
    return {
        "metrics": str(side.path),
        "model": r.model.name,
        "version": r.model.version,
        "sha256": r.model.sha256,
        "data_sha256": r.data.sha256,
        "rows": r.data.rows,
        "predictions": side.predictions is not None,
    }
