"""``mlrelease evaluate``: measure the model's quality, cost and behaviour on the validation data.

Writes four files, computed in full before any is written:

- ``metrics.json``: quality metrics by task, per slice, cost metrics (single-row latency, batch
  throughput, size, peak memory), with the model's and the data's sha256 (schema below, versioned);
- ``predictions.parquet``: ``row_id``, ``prediction``, ``target``, class probabilities
  (``proba:<class>``) and slice membership (``slice:<name>``): what the gate's paired bootstrap reads;
- ``golden.parquet``: a fixed, seeded sample of input rows exactly as the model takes them, with
  ``row_id``, ``prediction`` and a classifier's ``proba:<class>``: what the image test replays
  inside the container;
- ``signature.json``: the input signature inferred from the reference data, with the spread of the
  validation predictions.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import os
import platform
import time
import tracemalloc
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from mlrelease import metrics as metricdefs
from mlrelease import process
from mlrelease.artifacts import sha256_file
from mlrelease.artifacts.metrics import (
    GOLDEN_FILE,
    METRICS_FILE,
    PREDICTIONS_FILE,
    PROBA_PREFIX,
    SIGNATURE_FILE,
    SLICE_PREFIX,
    DataInfo,
    MetricsReport,
    ModelInfo,
    SliceMetrics,
)
from mlrelease.artifacts.tables import GoldenRows, PredictionsTable
from mlrelease.config import FORMAT_BY_SUFFIX, Config, ModelConfig, SliceConfig, Task
from mlrelease.dataset import read_table
from mlrelease.errors import DataError, MlreleaseError, ModelLoadError, Problem, UsageError
from mlrelease.model import LoadedModel, load_model
from mlrelease.signature import Signature, infer_field, infer_signature, with_predictions

GOLDEN_SEED = 0
LATENCY_BUDGET_S = 5.0  # single-row timings stop here even before the sample count is reached
MIN_LATENCY_SAMPLES = 50  # 10 per block: below this the percentiles and their noise say little
LIBRARIES = ("mlrelease", "numpy", "pandas", "scikit-learn", "scipy", "skops", "joblib", "onnxruntime")


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# ----------------------------------------------------------------------------- the run


@dataclass
class Evaluation:
    report: MetricsReport
    predictions: pd.DataFrame
    golden: pd.DataFrame
    signature: Signature
    timings: dict[str, float]  # seconds per phase, for the terminal and the benchmark

    def write(self, out_dir: Path) -> dict[str, Path]:
        paths = {
            "metrics": out_dir / METRICS_FILE,
            "predictions": out_dir / PREDICTIONS_FILE,
            "golden": out_dir / GOLDEN_FILE,
            "signature": out_dir / SIGNATURE_FILE,
        }
        PredictionsTable(self.predictions).write(paths["predictions"])
        GoldenRows(self.golden).write(paths["golden"])
        self.signature.write(paths["signature"])
        self.report.write(paths["metrics"])  # last: its presence means the set is whole
        return paths


def model_config_for(cfg: Config, model_path: Path | None) -> ModelConfig:
    """The config's model, or the file at ``model_path`` in its place (same trust settings)."""
    if model_path is None:
        return cfg.model
    fmt = FORMAT_BY_SUFFIX.get(model_path.suffix.lower())
    if fmt is None:
        raise UsageError(
            f"{model_path}: cannot tell the model format from the file name",
            hint="expected one of: " + ", ".join(sorted(FORMAT_BY_SUFFIX)),
        )
    if not model_path.is_file():
        raise ModelLoadError(f"{model_path}: no such model file")
    # A pickle-like override must still match the pinned sha256; other formats carry no pin.
    sha = cfg.model.sha256 if fmt in ("joblib", "pickle") else None
    return dataclasses.replace(
        cfg.model, artifact=model_path.resolve(), format=fmt, sha256=sha, entrypoint=None, version=None
    )


def evaluate(
    cfg: Config,
    *,
    model_path: Path | None = None,
    data_path: Path | None = None,
    latency_samples: int = 500,
    latency_budget_s: float = LATENCY_BUDGET_S,
) -> Evaluation:
    """Evaluate the model (or ``model_path`` in its place) on the validation data."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if data_path is None:
        if cfg.validation is None:
            raise UsageError("no --data given and mlrelease.yaml has no validation.data")
        data_path = cfg.validation.data
    target = cfg.model.target
    if not target:
        raise UsageError("mlrelease.yaml: model.target is needed to evaluate", hint="name the target column")
    model_cfg = model_config_for(cfg, model_path)
    model = load_model(model_cfg, root=cfg.root)
    timings["load_model_s"] = time.perf_counter() - t0

    t = time.perf_counter()
    frame = read_table(data_path)
    slices = cfg.validation.slices if cfg.validation else ()
    reference = (
        read_table(cfg.validation.reference)
        if cfg.validation and cfg.validation.reference and cfg.validation.reference != data_path
        else None
    )
    features = check_inputs(frame, model, cfg, slices, reference, data_path)
    timings["read_data_s"] = time.perf_counter() - t

    task = cfg.model.task
    X = frame[features]
    y = _target_values(frame, target, task, data_path)

    t = time.perf_counter()
    predicted = _predict_all(model, X, task, data_path)
    timings["predict_s"] = time.perf_counter() - t

    t = time.perf_counter()
    scores = _score(task, y, predicted, frame, slices)
    timings["metrics_s"] = time.perf_counter() - t

    t = time.perf_counter()
    cost, noise, measurement = measure_cost(model, X, latency_samples, budget_s=latency_budget_s)
    cost["peak_memory_bytes"] = float(predicted.peak_bytes)
    if model.path is not None and model.path.is_file():
        cost["model_size_bytes"] = float(model.path.stat().st_size)
    timings["cost_s"] = time.perf_counter() - t

    id_column = cfg.model.id_column
    row_ids = (
        frame[id_column].to_numpy() if id_column and id_column in frame.columns else np.arange(len(frame))
    )
    predictions = _predictions_frame(row_ids, y, predicted, scores.slice_masks)
    pred, proba, classes = predicted.values, predicted.proba, predicted.classes
    golden = golden_sample(
        X, row_ids, pred, cfg.validation.golden_rows if cfg.validation else 200, proba=proba, classes=classes
    )

    sig = infer_signature(reference if reference is not None else frame, features, target=target, task=task)
    if np.issubdtype(np.asarray(pred).dtype, np.number):
        sig = with_predictions(sig, pred)

    report = MetricsReport(
        model=_model_info(cfg, model_cfg, model),
        data=DataInfo(path=cfg.relative(data_path.resolve()), sha256=sha256_file(data_path), rows=len(frame)),
        task=task,
        target=target,
        metrics=_clean(scores.quality),
        cost=_clean(cost),
        slices=scores.slices,
        noise={k: round(v, 4) for k, v in noise.items()},
        measurement=measurement,
        classes=[_plain(c) for c in scores.labels] if scores.labels is not None else None,
        confusion_matrix=scores.matrix,
        libraries=_libraries(),
        machine={"platform": platform.platform(), "processor": platform.machine(), "cpus": _cpus()},
        timestamp=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    timings["total_s"] = time.perf_counter() - t0
    return Evaluation(report=report, predictions=predictions, golden=golden, signature=sig, timings=timings)


def _model_info(cfg: Config, model_cfg: ModelConfig, model: LoadedModel) -> ModelInfo:
    return ModelInfo(
        name=cfg.model.name,
        version=model_cfg.version or _git_revision(cfg.root),
        sha256=model.sha256,
        format=model.format,
        path=cfg.relative(model.path) if model.path else model_cfg.entrypoint,
    )


def _target_values(frame: pd.DataFrame, target: str, task: Task, data_path: Path) -> np.ndarray:
    """The target column; refused when a value is missing, or when a regression's is not a number."""
    y = frame[target].to_numpy()
    if pd.isna(y).any():
        rows = np.flatnonzero(pd.isna(y))[:5].tolist()
        raise DataError(f"{data_path}: the target column '{target}' has empty values (rows {rows} ...)")
    if task == "regression" and not np.issubdtype(y.dtype, np.number):
        parsed = pd.to_numeric(frame[target], errors="coerce")
        bad = np.flatnonzero(parsed.isna().to_numpy())[:3]
        shown = ", ".join(f"row {i + 1}: {str(y[i])[:40]!r}" for i in bad)
        raise DataError(
            f"{data_path}: the target column '{target}' holds text, but a regression needs numbers ({shown})",
            hint="fix those values, or set model.task: classification if the target is a label",
        )
    return y


@dataclass
class _Predicted:
    values: np.ndarray
    proba: np.ndarray | None  # rows x classes, only with the labels to name its columns
    classes: list[Any] | None
    peak_bytes: int  # the traced peak of memory while predicting


def _predict_all(model: LoadedModel, X: pd.DataFrame, task: Task, data_path: Path) -> _Predicted:
    """Predictions with the peak memory they took, and a classifier's probabilities."""
    tracemalloc.start()
    try:
        pred = _predict(model, X, data_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    proba = model.predict_proba(X) if task == "classification" and model.has_proba else None
    classes = model.classes if proba is not None else None
    if proba is not None and (classes is None or len(classes) != proba.shape[1]):
        classes = None
        proba = None  # probabilities without labels cannot be scored
    return _Predicted(pred, proba, classes, peak)


@dataclass
class _Scores:
    quality: dict[str, float]
    slice_masks: dict[str, np.ndarray]
    slices: dict[str, SliceMetrics]
    labels: list[Any] | None  # a classifier's labels, the confusion matrix's order
    matrix: list[list[int]] | None


def _score(
    task: Task, y: np.ndarray, predicted: _Predicted, frame: pd.DataFrame, slices: tuple[SliceConfig, ...]
) -> _Scores:
    """The quality metrics overall and on each slice, and a classifier's confusion matrix."""
    pred, proba, classes = predicted.values, predicted.proba, predicted.classes
    quality = metricdefs.quality_metrics(task, y, pred, proba, classes)
    slice_masks = {s.name: slice_mask(frame, s) for s in slices}
    slice_metrics = {
        name: SliceMetrics(
            rows=int(mask.sum()),
            metrics=_clean(
                metricdefs.quality_metrics(
                    task, y[mask], pred[mask], proba[mask] if proba is not None else None, classes
                )
                if mask.any()
                else {}
            ),
        )
        for name, mask in slice_masks.items()
    }
    labels = None
    matrix = None
    if task == "classification":
        labels = classes or sorted(set(np.unique(y).tolist()) | set(np.unique(pred).tolist()), key=str)
        matrix = metricdefs.confusion(y, pred, labels)
    return _Scores(quality, slice_masks, slice_metrics, labels, matrix)


def _predictions_frame(
    row_ids: np.ndarray, y: np.ndarray, predicted: _Predicted, slice_masks: dict[str, np.ndarray]
) -> pd.DataFrame:
    """predictions.parquet: row id, prediction, target, each class's probability, each slice's mask."""
    predictions = pd.DataFrame({"row_id": row_ids, "prediction": predicted.values, "target": y})
    if predicted.proba is not None and predicted.classes is not None:
        for i, c in enumerate(predicted.classes):
            predictions[f"{PROBA_PREFIX}{c}"] = predicted.proba[:, i]
    for name, mask in slice_masks.items():
        predictions[f"{SLICE_PREFIX}{name}"] = mask
    return predictions


def _predict(model: LoadedModel, X: pd.DataFrame, data_path: Path) -> np.ndarray:
    try:
        pred = model.predict(X)
    except (ValueError, TypeError, KeyError) as exc:
        raise DataError(f"{data_path}: the model cannot predict on this data: {exc}") from None
    if len(pred) != len(X):
        raise ModelLoadError(f"the model returned {len(pred)} predictions for {len(X)} rows")
    return pred


def _clean(values: dict[str, float]) -> dict[str, float | None]:
    return {k: _finite(v) for k, v in values.items()}


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# ----------------------------------------------------------------------------- inputs


def _kind(series: pd.Series) -> str:
    return infer_field(str(series.name), series.head(0) if series.empty else series.iloc[:1000]).kind


def check_inputs(
    frame: pd.DataFrame,
    model: LoadedModel,
    cfg: Config,
    slices: tuple[SliceConfig, ...],
    reference: pd.DataFrame | None,
    path: Path,
) -> list[str]:
    """The feature columns, after checking ``frame`` against the model's inputs; every
    missing, unexpected and mistyped column is listed in one error."""
    target, id_col = cfg.model.target, cfg.model.id_column
    known = {target, id_col, *(s.column for s in slices)}
    features = model.features or [c for c in frame.columns if c not in known]
    problems: list[Problem] = []
    for col in features:
        if col not in frame.columns:
            problems.append(Problem("missing: the model needs this column", key=col))
    if target and target not in frame.columns:
        problems.append(Problem("missing: the target column (model.target)", key=target))
    for s in slices:
        if s.column not in frame.columns:
            problems.append(Problem(f"missing: slice '{s.name}' is defined on this column", key=s.column))
    allowed = set(features) | known
    for col in frame.columns:
        if col not in allowed:
            problems.append(
                Problem(
                    "unexpected column: not a model input, the target, the id column or a slice column",
                    key=str(col),
                )
            )
    present = [c for c in features if c in frame.columns]
    problems += type_problems(frame, present, expected_kinds(model, features, reference))
    if problems:
        raise DataError(
            f"{path}: the columns do not match the model's inputs ({len(problems)} problem"
            f"{'s' if len(problems) != 1 else ''})",
            problems=[dataclasses.replace(p, file=str(path)) for p in problems],
            hint=f"the model takes: {', '.join(features)}",
        )
    return list(features)


def expected_kinds(model: LoadedModel, features: list[str], reference: pd.DataFrame | None) -> dict[str, str]:
    """The kind each feature column should hold: as the model declares it, else as in the reference."""
    expected: dict[str, str] = dict(model.input_kinds or {})
    if not expected and reference is not None:
        expected = {c: _kind(reference[c]) for c in features if c in reference.columns}
    return expected


def type_problems(frame: pd.DataFrame, features: list[str], expected: dict[str, str]) -> list[Problem]:
    """One problem per column of ``frame`` whose kind differs from ``expected``, with the first
    rows that hold text where numbers belong."""
    problems: list[Problem] = []
    numeric = {"number", "integer", "boolean"}
    for col in features:
        if col not in expected:
            continue
        got = _kind(frame[col])
        if (expected[col] == "string") != (got == "string") or (
            expected[col] == "boolean" and got not in numeric
        ):
            message = f"wrong type: expected {expected[col]}, got {got}"
            if expected[col] != "string" and got == "string":
                parsed = pd.to_numeric(frame[col], errors="coerce")
                bad = np.flatnonzero(parsed.isna().to_numpy() & frame[col].notna().to_numpy())[:3]
                if bad.size:
                    shown = ", ".join(f"row {i + 1}: {str(frame[col].iloc[i])[:40]!r}" for i in bad)
                    message += f" ({shown})"
            problems.append(Problem(message, key=str(col)))
    return problems


def slice_mask(frame: pd.DataFrame, s: SliceConfig) -> np.ndarray:
    """Rows of ``frame`` in slice ``s``: column among ``values``, >= ``min``, < ``max``."""
    col = frame[s.column]
    mask = np.ones(len(frame), dtype=bool)
    if s.values is not None:
        mask &= col.isin(list(s.values)).to_numpy()
    try:
        if s.min is not None:
            mask &= (col >= s.min).to_numpy(dtype=bool, na_value=False)
        if s.max is not None:
            mask &= (col < s.max).to_numpy(dtype=bool, na_value=False)
    except TypeError:
        raise DataError(
            f"slice '{s.name}': min/max need a numeric column, but '{s.column}' holds {col.dtype}"
        ) from None
    return mask


# ----------------------------------------------------------------------------- cost


def measure_cost(
    model: LoadedModel,
    X: pd.DataFrame,
    samples: int,
    *,
    budget_s: float = LATENCY_BUDGET_S,
    blocks: int = 5,
    warmup: int = 20,
) -> tuple[dict[str, float], dict[str, float], dict[str, Any]]:
    """Single-row latency percentiles over up to ``samples`` calls after a warm-up, and batch
    throughput; the third value says how many samples were taken and what stopped them.

    The timed calls stop at ``samples`` or when ``budget_s`` seconds have passed, whichever comes
    first, but never before ``MIN_LATENCY_SAMPLES`` (a 40 ms model would otherwise spend 20 s on
    500 calls; its percentiles settle long before). The warm-up counts against the budget.

    ``p*_latency_ms`` is wall-clock time, what a caller waits; ``p*_cpu_ms`` is the process's CPU
    time for the same calls, which other jobs on a shared machine barely move.

    Single rows are timed with OpenMP limited to ``OMP_NUM_THREADS`` threads (1 unless set), as
    ``mlrelease serve`` predicts. With the default pool, threads spinning for siblings that a
    busy machine has descheduled made the example model's single-row p95 on a 2-core runner at
    load 7 about 1,000 ms wall-clock and 180-390 ms CPU; limited to one thread: 32 ms and 9.6 ms.

    Latencies are split into ``blocks`` blocks in the order taken; the relative spread of each
    percentile between blocks is returned as its noise, so the gate can tell a real slow-down
    from a busy machine.
    """
    n = len(X)
    floor = min(samples, MIN_LATENCY_SAMPLES)
    started = time.perf_counter()
    deadline = started + budget_s
    for i in range(warmup):
        model.predict(X.iloc[[i % n]])
    times = np.empty(samples)
    cpu = np.empty(samples)
    taken = 0
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        with threadpool_limits(limits=_serving_threads(), user_api="openmp"):
            while taken < samples and (taken < floor or time.perf_counter() < deadline):
                r = X.iloc[[(warmup + taken) % n]]
                start, start_cpu = time.perf_counter_ns(), time.process_time_ns()
                model.predict(r)
                times[taken] = time.perf_counter_ns() - start
                cpu[taken] = time.process_time_ns() - start_cpu
                taken += 1
        runs: list[int] = []
        budget = time.perf_counter() + 2.0
        while len(runs) < 3 and (not runs or time.perf_counter() < budget):
            start = time.perf_counter_ns()
            model.predict(X)
            runs.append(time.perf_counter_ns() - start)
    finally:
        if was_enabled:
            gc.enable()
    times, cpu = times[:taken], cpu[:taken]
    cost: dict[str, float] = {}
    noise: dict[str, float] = {}
    for kind, values, quantiles in (("latency", times / 1e6, (50, 95, 99)), ("cpu", cpu / 1e6, (50, 95))):
        per_block = np.array_split(values, blocks)
        for q in quantiles:
            name = f"p{q}_{kind}_ms"
            cost[name] = float(np.percentile(values, q))
            block_q = np.array([np.percentile(b, q) for b in per_block])
            mid = float(np.median(block_q))
            noise[name] = float((block_q.max() - block_q.min()) / (2 * mid)) if mid > 0 else 0.0
    cost["throughput_rows_per_s"] = float(n / (min(runs) / 1e9))
    if len(runs) > 1:
        noise["throughput_rows_per_s"] = float((max(runs) - min(runs)) / (2 * float(np.median(runs))))
    measurement = {
        "latency_samples": taken,
        "latency_samples_asked": samples,
        "latency_budget_s": budget_s,
        "latency_stopped_by": "sample count" if taken >= samples else "time budget",
        "latency_s": round(time.perf_counter() - started, 3),
    }
    return cost, noise, measurement


def _serving_threads() -> int:
    """OpenMP threads the server predicts with: ``OMP_NUM_THREADS`` when it is a count, else 1."""
    given = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(given) if given.isdigit() and int(given) > 0 else 1


# ----------------------------------------------------------------------------- golden rows


def golden_sample(
    X: pd.DataFrame,
    row_ids: np.ndarray,
    pred: np.ndarray,
    rows: int,
    *,
    proba: np.ndarray | None = None,
    classes: list[Any] | None = None,
) -> pd.DataFrame:
    """A fixed sample (seeded, in data order) of input rows with their predictions and, for a
    classifier, its class probabilities (``proba:<class>``), which the image test compares too."""
    k = min(rows, len(X))
    idx = np.sort(np.random.default_rng(GOLDEN_SEED).choice(len(X), size=k, replace=False))
    golden = X.iloc[idx].reset_index(drop=True).copy()
    golden.insert(0, "row_id", row_ids[idx])
    golden["prediction"] = pred[idx]
    if proba is not None and classes is not None:
        for i, c in enumerate(classes):
            golden[f"{PROBA_PREFIX}{c}"] = proba[idx, i]
    return golden


# ----------------------------------------------------------------------------- provenance


def _libraries() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _git_revision(root: Path) -> str | None:
    try:
        done = process.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, timeout=10, ok=None)
    except MlreleaseError:
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None
