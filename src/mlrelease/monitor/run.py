"""``mlrelease monitor`` without click: find the inputs, read them, analyse, decide."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from mlrelease.errors import DataError, UsageError
from mlrelease.monitor import drift
from mlrelease.monitor.analyse import DriftReport, Labels, analyse
from mlrelease.monitor.sources import PREDICTION, Window, lazy_parquet, read_window


def monitor(
    current: Path | Window,
    *,
    reference: Path | None = None,
    cfg: Any = None,
    labels: Path | None = None,
    id_column: str | None = None,
    target: str | None = None,
) -> DriftReport:
    """Compare ``current`` with ``reference`` (or the config's ``validation.reference``)."""
    if reference is None:
        if cfg is None or cfg.validation is None or cfg.validation.reference is None:
            raise UsageError(
                "no reference data",
                hint="pass --reference FILE, or set validation.reference in mlrelease.yaml",
            )
        reference = cfg.validation.reference
    settings = drift.settings_from(cfg)
    # Without a config nothing needs the rows side by side (no slices, predictions or labels), so
    # Parquet columns are read one at a time as they are compared: memory stays flat as the
    # window grows (10M x 20: bench/bench_drift.py --10m).
    lazy = cfg is None and labels is None
    ref = (lazy_parquet(reference) if lazy else None) or read_window(reference)
    if isinstance(current, Window):
        cur = current
    else:
        cur = (lazy_parquet(current) if lazy else None) or read_window(current)
    model_cfg = cfg.model if cfg is not None else None
    id_column = id_column or (model_cfg.id_column if model_cfg else None)
    target = target or (model_cfg.target if model_cfg else None)
    if cfg is not None and _has_model(cfg):
        # a batch without predictions gets the model's, so the prediction distribution is
        # compared whatever the window is (request logs carry the served ones)
        for w in (ref, cur):
            if PREDICTION not in w.columns:
                w.columns[PREDICTION] = _predict(cfg, w)
    if model_cfg is not None and model_cfg.task == "classification":
        for w in (ref, cur):  # class labels are categories, whether logged as 0/1 or names
            if PREDICTION in w.columns:
                w.columns[PREDICTION] = _labels_as_text(w.columns[PREDICTION])
    lab = _labels(labels, id_column, target, cfg) if labels is not None else None
    features = list(model_cfg.features) if model_cfg and model_cfg.features else None
    slices = cfg.validation.slices if cfg is not None and cfg.validation is not None else ()
    return analyse(
        ref,
        cur,
        settings=settings,
        features=features,
        exclude=[id_column, target],
        slices=slices,
        labels=lab,
    )


CLOUD = "cloud-logging:"


def parse_time(text: str, now: datetime) -> str:
    """RFC 3339 (``2026-11-30T10:00:00Z``) or an age before ``now`` (``30m``, ``24h``, ``7d``)."""
    units = {"m": 60, "h": 3600, "d": 86400}
    if text[-1:] in units and text[:-1].isdigit():
        moment = now - timedelta(seconds=int(text[:-1]) * units[text[-1]])
    else:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(
                f"'{text}' is not a time", hint="use RFC 3339 (2026-11-30T10:00:00Z) or 30m, 24h, 7d"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def cloud_window(
    spec: str, client: Any, *, model: str | None, version: str | None, since: str, until: str
) -> Window:
    """``cloud-logging:PROJECT``: the model's request lines in [since, until) from Cloud Logging."""
    from mlrelease.monitor.sources import cloud_logging_filter, read_cloud_logging

    project = spec[len(CLOUD) :]
    if not project:
        raise UsageError(f"'{spec}': no project", hint="--current cloud-logging:PROJECT_ID")
    if not model:
        raise UsageError("reading Cloud Logging needs the model's name", hint="pass --config or --model")
    now = datetime.now(UTC)
    window = (parse_time(since, now), parse_time(until, now))
    return read_cloud_logging(client, project=project, filter_=cloud_logging_filter(model, *window, version))


def _has_model(cfg: Any) -> bool:
    m = cfg.model
    return bool(m.entrypoint) or (m.artifact is not None and Path(m.artifact).is_file())


def _predict(cfg: Any, window: Window) -> np.ndarray:
    """The model's predictions on the reference, so the prediction distribution has a baseline."""
    import pandas as pd

    from mlrelease.model import load_model

    model = load_model(cfg.model, root=cfg.root)
    frame = pd.DataFrame({k: v for k, v in window.columns.items() if k != cfg.model.target})
    preds = np.asarray(model.predict(frame))
    return preds.astype(np.float64) if preds.dtype.kind in "iuf" else preds.astype(object)


def _labels_as_text(values: np.ndarray) -> np.ndarray:
    out = np.empty(values.size, dtype=object)
    for i, v in enumerate(values.tolist()):
        if v is None or (isinstance(v, float) and v != v):
            out[i] = None
        elif isinstance(v, float) and v.is_integer():
            out[i] = str(int(v))
        else:
            out[i] = str(v)
    return out


def _labels(path: Path, id_column: str | None, target: str | None, cfg: Any) -> Labels:
    if not id_column:
        raise UsageError("--labels needs an id column", hint="pass --id-column, or set model.id_column")
    if not target:
        raise UsageError("--labels needs the target column", hint="pass --target, or set model.target")
    window = read_window(path)
    for col in (id_column, target):
        if col not in window.columns:
            raise DataError(
                f"{path}: no column '{col}'", hint="the labels file needs the id and target columns"
            )
    from mlrelease.monitor.analyse import _key

    values = {_key(i): t for i, t in zip(window.columns[id_column], window.columns[target], strict=True)}
    task = (
        cfg.model.task if cfg is not None else ("regression" if window.numeric(target) else "classification")
    )
    return Labels(str(path), id_column, target, values, task)
