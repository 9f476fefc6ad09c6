"""Batch prediction on a data file: the model applied to a table, with a summary.

A regression shows the target and the error of each prediction; a classifier shows the
predicted label, the probability of each class (``proba:<class>``, as in predictions.parquet)
and, when the data holds the target, whether the label was right (``correct``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar

import numpy as np
import pandas as pd

from mlrelease.artifacts import write_bytes
from mlrelease.config import Config
from mlrelease.dataset import read_table
from mlrelease.errors import DataError, Problem, UsageError
from mlrelease.model import LoadedModel, load_model

if TYPE_CHECKING:
    from rich.table import Table

R = TypeVar("R")
PROBA_PREFIX = "proba:"  # the same column names as predictions.parquet
CORRECT = "correct"
MAX_PROBA_SHOWN = 4  # the table shows each class's probability up to this many classes, else the top one


@dataclass
class PredictionResult:
    model: str
    data: Path
    task: str
    target: str | None
    id_column: str | None
    classes: list[Any] | None
    frame: pd.DataFrame  # the inputs, the target (when present), 'prediction', 'proba:<c>', 'correct'

    @property
    def has_target(self) -> bool:
        return self.target is not None and self.target in self.frame.columns

    def summary(self) -> dict[str, Any]:
        """How well the predictions match the target, when the data holds it."""
        if not self.has_target:
            return {}
        if self.task == "classification":
            right = int(self.frame[CORRECT].sum())
            return {"correct": right, "accuracy": right / len(self.frame)}
        error = _numeric(self.frame["prediction"]) - _numeric(self.frame[self.target])
        return {"mean_absolute_error": float(np.nanmean(np.abs(error)))}

    def to_json(self, rows: int) -> str:
        head = self.frame.head(rows)
        doc: dict[str, Any] = {
            "model": self.model,
            "data": str(self.data),
            "task": self.task,
            "rows": len(self.frame),
        }
        if self.classes is not None:
            doc["classes"] = self.classes
        doc.update(self.summary())
        doc["head"] = json.loads(head.to_json(orient="records"))
        return json.dumps(doc, indent=2)


def predict_file(cfg: Config, data: Path) -> PredictionResult:
    model = load_model(cfg.model, root=cfg.root)
    frame = read_table(data)
    reference = None
    if cfg.validation and cfg.validation.reference and cfg.validation.reference.is_file():
        reference = read_table(cfg.validation.reference)
    check_types(frame, model, reference, data)
    preds = _call(model.predict, frame, data)
    if len(preds) != len(frame):
        raise DataError(f"{data}: the model returned {len(preds)} predictions for {len(frame)} rows")
    out = frame.copy()
    out["prediction"] = preds
    classes = None
    target = cfg.model.target
    if cfg.model.task == "classification":
        proba = _call(model.predict_proba, frame, data) if model.has_proba else None
        classes = model.classes
        if proba is not None and classes is not None and len(classes) == proba.shape[1]:
            for i, c in enumerate(classes):
                out[f"{PROBA_PREFIX}{c}"] = proba[:, i]
        else:
            classes = None
        if target and target in frame.columns:
            out[CORRECT] = _same_label(frame[target], out["prediction"])
    return PredictionResult(
        model=cfg.model.name,
        data=data,
        task=cfg.model.task,
        target=target,
        id_column=cfg.model.id_column,
        classes=classes,
        frame=out,
    )


def _call(method: Callable[[pd.DataFrame], R], frame: pd.DataFrame, data: Path) -> R:
    try:
        return method(frame)
    except (ValueError, TypeError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"{data}: the model cannot predict on this data: {first}",
            hint="check the columns' types against the reference data",
        ) from None


def check_types(frame: pd.DataFrame, model: LoadedModel, reference: pd.DataFrame | None, data: Path) -> None:
    """Name every feature column that holds text where the model takes numbers, with example
    rows, before the model sees it (the model's own error names no column)."""
    from mlrelease.evaluate import expected_kinds, type_problems

    features = [c for c in (model.features or []) if c in frame.columns]
    problems = type_problems(frame, features, expected_kinds(model, features, reference))
    if problems:
        raise DataError(
            f"{data}: {len(problems)} column(s) do not hold what the model takes",
            problems=[Problem(p.message, file=str(data), key=p.key) for p in problems],
            hint="fix those values in the data, or re-export it with the reference data's types",
        )


def _same_label(target: pd.Series, prediction: pd.Series) -> np.ndarray:
    """Whether each predicted label equals the target, comparing 1 and 1.0 and '1' alike."""
    t, p = target.to_numpy(), prediction.to_numpy()
    same = t == p
    if not (np.issubdtype(t.dtype, np.number) and np.issubdtype(p.dtype, np.number)):
        same = same | (target.astype(str).to_numpy() == prediction.astype(str).to_numpy())
    return np.asarray(same, dtype=bool)


def _numeric(series: pd.Series) -> np.ndarray:
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)


def write_predictions(frame: pd.DataFrame, path: Path) -> None:
    if path.suffix == ".csv":
        write_bytes(path, frame.to_csv(index=False).encode())
    elif path.suffix in {".parquet", ".pq"}:
        write_bytes(path, frame.to_parquet(index=False))
    else:
        raise UsageError(f"{path}: expected a .csv or .parquet output file")


def check_output(path: Path) -> None:
    """Refuse an output name that cannot be written before any work is done."""
    if path.suffix not in {".csv", ".parquet", ".pq"}:
        raise UsageError(f"{path}: expected a .csv or .parquet output file")


def table(result: PredictionResult, rows: int) -> Table:
    """The first ``rows`` predictions as a table (built in full before anything is printed)."""
    from rich.markup import escape
    from rich.table import Table

    frame = result.frame
    extra = {c for c in frame.columns if str(c).startswith(PROBA_PREFIX)}
    skip = {"prediction", CORRECT, result.target, result.id_column, *extra}
    shown = [c for c in frame.columns if c not in skip][:6]
    title = f"{result.model}: {len(frame)} predictions on {result.data.name}"
    summary = result.summary()
    if "accuracy" in summary:
        title += f", {summary['correct']:,} right ({summary['accuracy']:.1%})"
    table = Table(title=escape(title))
    for col in shown:
        table.add_column(escape(str(col)), no_wrap=True)
    if result.has_target:
        table.add_column(escape(str(result.target)), justify="right")
    table.add_column("prediction", justify="right", style="bold")
    classes = result.classes or []
    each = len(classes) <= MAX_PROBA_SHOWN
    if classes:
        if each:
            for c in classes:
                table.add_column(escape(f"p({c})"), justify="right")
        else:
            table.add_column("p(prediction)", justify="right")
    if result.has_target:
        table.add_column("right" if result.task == "classification" else "error", justify="right")
    target = result.target if result.has_target else None
    for _, row in frame.head(rows).iterrows():
        cells = [_fmt(row[c]) for c in shown]
        if target is not None:
            cells.append(_fmt(row[target]))
        cells.append(_fmt(row["prediction"]))
        if classes:
            probs = [row[f"{PROBA_PREFIX}{c}"] for c in classes]
            cells += [f"{p:.3f}" for p in probs] if each else [f"{max(probs):.3f}"]
        if target is not None:
            if result.task == "classification":
                cells.append("✓" if row[CORRECT] else "✗")
            else:
                cells.append(_error(row["prediction"], row[target]))
        table.add_row(*[escape(c) for c in cells])
    return table


def render_table(result: PredictionResult, rows: int) -> None:
    from mlrelease import terminal

    terminal.console().print(table(result, rows))


def _error(prediction: object, target: object) -> str:
    """The prediction's error: relative to the target, or absolute where the target is 0."""
    if not (_is_number(prediction) and _is_number(target)):
        return ""
    p, t = float(prediction), float(target)
    if not (np.isfinite(p) and np.isfinite(t)):
        return ""
    if t == 0:
        return f"{p - t:+.4g}"
    return f"{(p - t) / abs(t):+.1%}"


def _is_number(value: object) -> TypeGuard[int | float | np.number[Any]]:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool | np.bool_)


def _fmt(value: object) -> str:
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return f"{value:,}" if abs(int(value)) >= 10000 else str(value)
    if isinstance(value, float | np.floating):
        return f"{value:,.0f}" if abs(float(value)) >= 1000 else f"{value:.4g}"
    return str(value)
