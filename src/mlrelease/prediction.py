"""Batch prediction on a data file: the model applied to a table, with a summary."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mlrelease.artifacts import write_bytes
from mlrelease.config import Config
from mlrelease.dataset import read_table
from mlrelease.errors import UsageError
from mlrelease.model import load_model


@dataclass
class PredictionResult:
    model: str
    data: Path
    target: str | None
    id_column: str | None
    frame: pd.DataFrame  # the input columns shown, the target (when present) and 'prediction'

    def to_json(self, rows: int) -> str:
        head = self.frame.head(rows)
        return json.dumps(
            {
                "model": self.model,
                "data": str(self.data),
                "rows": len(self.frame),
                "head": json.loads(head.to_json(orient="records")),
            },
            indent=2,
        )


def predict_file(cfg: Config, data: Path) -> PredictionResult:
    model = load_model(cfg.model, root=cfg.root)
    frame = read_table(data)
    preds = model.predict(frame)
    out = frame.copy()
    out["prediction"] = preds
    return PredictionResult(
        model=cfg.model.name, data=data, target=cfg.model.target, id_column=cfg.model.id_column, frame=out
    )


def write_predictions(frame: pd.DataFrame, path: Path) -> None:
    if path.suffix == ".csv":
        write_bytes(path, frame.to_csv(index=False).encode())
    elif path.suffix in {".parquet", ".pq"}:
        write_bytes(path, frame.to_parquet(index=False))
    else:
        raise UsageError(f"{path}: expected a .csv or .parquet output file")


def render_table(result: PredictionResult, rows: int) -> None:
    from rich.table import Table

    from mlrelease import terminal

    frame = result.frame
    skip = {"prediction", result.target, result.id_column}
    shown = [c for c in frame.columns if c not in skip][:6]
    table = Table(title=f"{result.model}: {len(frame)} predictions on {result.data.name}")
    for col in shown:
        table.add_column(col, no_wrap=True)
    if result.target in frame.columns:
        table.add_column(result.target, justify="right")
    table.add_column("prediction", justify="right", style="bold")
    if result.target in frame.columns:
        table.add_column("error", justify="right")
    for _, row in frame.head(rows).iterrows():
        cells = [_fmt(row[c]) for c in shown]
        if result.target in frame.columns:
            cells.append(_fmt(row[result.target]))
        cells.append(_fmt(row["prediction"]))
        if result.target in frame.columns and _is_number(row["prediction"]):
            cells.append(f"{(row['prediction'] - row[result.target]) / row[result.target]:+.1%}")
        table.add_row(*cells)
    terminal.console().print(table)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool)


def _fmt(value: object) -> str:
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return f"{value:,}" if abs(value) >= 10000 else str(value)
    if isinstance(value, float | np.floating):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return str(value)
