"""What the server serves: the loaded model, its input signature and its version.

The signature comes from ``signature.json`` (written by ``mlrelease evaluate``); without one, it
is inferred here from ``validation.reference`` (or ``validation.data``) and the model's
predictions on the validation data, so the server also works on a bare handoff.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlrelease.config import Config
from mlrelease.errors import DataError
from mlrelease.model import LoadedModel, load_model
from mlrelease.serve.batching import Columns, Prediction, Table, row_count
from mlrelease.serve.compiled import ColumnPlan, Direct, Outcome, columns_path, compile_for_serving
from mlrelease.serve.startup import Startup, import_model_library
from mlrelease.signature import FieldSpec, Signature, infer_signature, with_predictions

if TYPE_CHECKING:  # pandas comes with the model's library; a compiled-only server never loads it
    import pandas as pd

VERSION_ENV = "MLRELEASE_MODEL_VERSION"
_DTYPES = {"number": "float64", "integer": "int64", "boolean": "bool"}
CHECK_ROWS = 2000  # validation rows the compiled model is compared on at start-up


@dataclass
class Service:
    """A model ready to answer: predict on validated columns, in the signature's order."""

    name: str
    version: str
    model: LoadedModel
    signature: Signature
    task: str
    probabilities: bool = False  # a classifier that answers class probabilities beside labels
    startup: Startup | None = None  # the seconds each start-up phase took, for /version

    def __post_init__(self) -> None:
        est = self.model.estimator
        # the class order of the probabilities; a model that cannot say it answers labels only
        self.classes: list[Any] | None = self.model.classes if self.probabilities else None
        if self.classes is None or not self.model.has_proba:
            self.probabilities, self.classes = False, None
        self.estimator: Any = est  # what predicts: the model, or its compiled form
        self.direct: Direct | None = None  # the compiled model straight from the columns
        self.compiled = Outcome(False, "not compiled: serving.compile is false")
        numeric = all(f.kind in ("number", "integer", "boolean") for f in self.signature.fields)
        # A scikit-learn model fitted on a plain array has n_features_in_ but no feature names:
        # it wants an array (a DataFrame would make it warn on every call).
        self.array_input = (
            numeric
            and getattr(est, "feature_names_in_", None) is None
            and getattr(est, "n_features_in_", None) == len(self.signature.fields)
        )

    def frame(self, columns: dict[str, list[Any]]) -> pd.DataFrame:
        """Columns (already validated) as a DataFrame with the signature's dtypes."""
        import pandas as pd  # loaded at start-up with the model's library: a dictionary lookup here

        data: dict[str, Any] = {}
        for f in self.signature.fields:
            values = columns[f.name]
            dtype = _DTYPES.get(f.kind)
            if dtype and None in values:
                dtype = "float64" if f.kind != "boolean" else "object"
            data[f.name] = pd.Series(values, dtype=dtype) if dtype else pd.Series(values, dtype="object")
        return pd.DataFrame(data)

    def predict_columns(self, columns: Columns) -> np.ndarray:
        """Predict on validated columns: one value per row."""
        if self.direct is not None:
            out = self.direct(columns)
            if out is not None:
                return np.asarray(out)
        return self._predict_with(self.estimator, columns)

    def predict_answer(self, columns: Columns) -> Prediction:
        """Predict on validated columns: the values (labels) and, for a classifier answering
        them, the class probabilities, both exactly as the model's own predict and
        predict_proba give them. Through a column plan, the numeric inputs it read come with
        them (the outlier checks read the same table)."""
        direct = self.direct
        if isinstance(direct, ColumnPlan):
            answer = direct.answer(columns)
            if answer is not None:
                out, X = answer
                table = Table(X, direct.passthrough)
                if self.probabilities:
                    return Prediction(out[0], out[1], table)
                return Prediction(np.asarray(out), None, table)
        if not self.probabilities:
            return Prediction(self.predict_columns(columns))
        if self.direct is not None:
            out = self.direct(columns)
            if out is not None:
                return Prediction(*out)
        return Prediction(*self._predict_both(self.estimator, columns))

    def _input(self, columns: Columns) -> Any:
        if self.array_input:
            names = self.signature.names
            return np.array([columns[n] for n in names], dtype=float).T
        return self.model.check_columns(self.frame(columns))

    def _predict_with(self, est: Any, columns: Columns) -> np.ndarray:
        out = np.asarray(est.predict(self._input(columns)))
        if out.ndim > 1 and out.shape[1] == 1:
            out = out[:, 0]
        return out

    def _predict_both(self, est: Any, columns: Columns) -> tuple[np.ndarray, np.ndarray]:
        """Labels and probabilities; a Pipeline's steps before the classifier run once for both."""
        X = self._input(columns)
        final = est
        steps = getattr(est, "steps", None)
        if isinstance(steps, list) and len(steps) > 1 and callable(getattr(est, "__getitem__", None)):
            X = est[:-1].transform(X)  # what Pipeline.predict and predict_proba each do first
            final = steps[-1][1]
        labels = np.asarray(final.predict(X))
        if labels.ndim > 1 and labels.shape[1] == 1:
            labels = labels[:, 0]
        return labels, np.asarray(final.predict_proba(X), dtype=np.float64)

    def compile(self, validation: pd.DataFrame | None) -> Outcome:
        """Serve through the compiled model when it predicts exactly as the model does on the
        validation rows, the same rows with values missing and rows beyond the reference range
        (see ``mlrelease.serve.compiled``)."""
        samples = check_samples(self.signature, validation)
        result = compile_for_serving(
            self.model.estimator,
            self._predict_both if self.probabilities else self._predict_with,
            samples,
            rows_of=row_count,
            direct=columns_path(self.signature.names, proba=self.probabilities),
            prebuilt=[self.model.path.parent] if self.model.path is not None else [],
        )
        self.compiled = result.outcome
        if result.model is not None:
            self.estimator = result.model
            self.direct = result.direct
        return self.compiled

    def example_columns(self, rows: int = 1) -> dict[str, list[Any]]:
        """A typical input (medians, first categories): what the warm-up and /docs send."""
        cols: dict[str, list[Any]] = {}
        for f in self.signature.fields:
            cols[f.name] = [example_value(f)] * rows
        return cols


def example_value(f: Any) -> Any:
    if f.kind == "string":
        return f.categories[0] if f.categories else "text"
    if f.kind == "boolean":
        return False
    median = f.median if f.median is not None else 0.0
    return round(median) if f.kind == "integer" else round(float(median), 3)


def check_samples(sig: Signature, validation: pd.DataFrame | None, seed: int = 0) -> list[Columns]:
    """Inputs to compare a compiled model on, as validated request columns: the validation rows
    (when there are any), the same rows with a fifth of the values missing, and random rows that
    run past the reference range and name categories the model never saw."""
    rng = np.random.default_rng(seed)
    out: list[Columns] = []
    if validation is not None and len(validation):
        rows = validation.head(CHECK_ROWS)
        base = {f.name: [_plain(v, f) for v in rows[f.name].tolist()] for f in sig.fields if f.name in rows}
        if len(base) == len(sig.fields):
            out.append(base)
            holes = {f.name for f in sig.fields if f.nullable or f.kind in ("number", "integer")}
            out.append(
                {n: [None if n in holes and rng.random() < 0.2 else v for v in vs] for n, vs in base.items()}
            )
    out.append({f.name: _random_values(f, 500, rng) for f in sig.fields})
    return out


def _plain(value: Any, f: FieldSpec) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if f.kind == "integer":
        return int(value)
    if f.kind == "boolean":
        return bool(value)
    return value


def _random_values(f: FieldSpec, n: int, rng: np.random.Generator) -> list[Any]:
    if f.kind == "string":
        seen = list(f.categories or ["text"])
        return [seen[i] if i < len(seen) else "never-seen" for i in rng.integers(0, len(seen) + 1, n)]
    if f.kind == "boolean":
        return [bool(b) for b in rng.integers(0, 2, n)]
    lo = f.min if f.min is not None else -1.0
    hi = f.max if f.max is not None else 1.0
    span = max(hi - lo, 1.0)
    values = rng.uniform(lo - span / 2, hi + span / 2, n)
    if f.nullable or f.kind == "number":
        values[rng.random(n) < 0.05] = np.nan
    if f.kind == "integer":
        return [None if np.isnan(v) else round(v) for v in values]
    return [None if np.isnan(v) else float(v) for v in values]


def model_version(cfg: Config, model: LoadedModel) -> str:
    """config model.version, else $MLRELEASE_MODEL_VERSION, else the model file's sha256 prefix."""
    if cfg.model.version:
        return str(cfg.model.version)
    env = os.environ.get(VERSION_ENV, "").strip()
    if env:
        return env
    return (model.sha256 or "unknown")[:12]


def resolve_signature(cfg: Config, model: LoadedModel, path: Path | None) -> Signature:
    """The signature from ``path``, else inferred from the handoff's validation data."""
    if path is not None:
        return Signature.read(path)
    if cfg.validation is None:
        raise DataError(
            "no signature to validate requests against",
            hint="pass --signature out/signature.json (written by `mlrelease evaluate`) "
            "or set validation.data in mlrelease.yaml",
        )
    from mlrelease.dataset import read_table

    reference = read_table(cfg.validation.reference or cfg.validation.data)
    skip = {cfg.model.target, cfg.model.id_column}
    features = model.features or [c for c in reference.columns if c not in skip]
    sig = infer_signature(reference, features, target=cfg.model.target, task=cfg.model.task)
    if cfg.model.task == "regression":
        validation = read_table(cfg.validation.data)
        est = model.estimator
        if getattr(est, "feature_names_in_", None) is None and getattr(est, "n_features_in_", None) == len(
            features
        ):
            missing = [c for c in features if c not in validation.columns]
            if missing:
                raise DataError(f"{cfg.validation.data}: lacks the model's columns: {', '.join(missing)}")
            preds = est.predict(validation[features].to_numpy(dtype=float))  # fitted on an array
        else:
            preds = model.predict(validation)
        sig = with_predictions(sig, preds)
    return sig


def load_service(cfg: Config, signature_path: Path | None = None, startup: Startup | None = None) -> Service:
    """Load the model named by ``cfg`` and its signature; compile it when ``serving.compile``.
    Each phase's seconds go to ``startup`` (a new one when not given)."""
    startup = startup or Startup()
    with startup.phase("imports"):
        import_model_library(cfg.model.format or "entrypoint")
    with startup.phase("model_load"):
        model = load_model(cfg.model, root=cfg.root)
    with startup.phase("signature"):
        signature = resolve_signature(cfg, model, signature_path)
    if model.features:
        missing = [n for n in model.features if n not in signature.names]
        if missing:
            raise DataError(
                f"the signature lacks columns the model needs: {', '.join(missing)}",
                hint="regenerate signature.json with `mlrelease evaluate` for this model",
            )
    service = Service(
        name=cfg.model.name,
        version=model_version(cfg, model),
        model=model,
        signature=signature,
        task=cfg.model.task,
        probabilities=cfg.model.task == "classification",  # whether answers carry them: per request
        startup=startup,
    )
    if cfg.serving.compile:
        with startup.phase("compile"):
            from mlrelease.dataset import read_table

            validation = read_table(cfg.validation.data) if cfg.validation is not None else None
            service.compile(validation)
    return service
