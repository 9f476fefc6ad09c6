"""Loading a handed-over model safely and predicting with it.

Four ways in, one object out (``LoadedModel``):

- skops (the default) loads only trusted types: an untrusted type is an error that names it;
- joblib/pickle can run code while loading, so only with ``model.allow_pickle`` and a matching
  ``model.sha256``;
- ONNX runs through onnxruntime, with one input per column or one float matrix input;
- an entrypoint ``path/module.py:factory`` or ``package.module:factory`` returns an object with
  ``predict(DataFrame)`` (and ``predict_proba`` when it has one).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from mlrelease.artifacts import sha256_file
from mlrelease.config import ModelConfig, ModelFormat
from mlrelease.errors import DataError, ModelLoadError

if TYPE_CHECKING:  # pandas loads with the model's own library: a compiled-only server has none
    import pandas as pd

LoadedFormat = ModelFormat | Literal["entrypoint"]
ColumnKind = Literal["number", "integer", "boolean", "string"]


@dataclass
class LoadedModel:
    """A model ready to predict, with what is known about it.

    ``input_kinds`` holds the column kinds the model itself declares (ONNX inputs); for other
    formats the kinds come from the reference data (see ``mlrelease.signature``).
    """

    estimator: Any
    format: LoadedFormat
    path: Path | None
    sha256: str | None
    features: list[str] | None
    input_kinds: dict[str, ColumnKind] | None = None

    def check_columns(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The feature columns of ``frame`` in the model's order; all missing ones are named."""
        if not self.features:
            return frame
        missing = [c for c in self.features if c not in frame.columns]
        if missing:
            raise DataError(
                f"the data lacks {len(missing)} column(s) the model needs: {', '.join(missing)}",
                hint=f"the model expects: {', '.join(self.features)}",
            )
        return frame[self.features]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.asarray(self.estimator.predict(self.check_columns(frame)))
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        return out

    @property
    def has_proba(self) -> bool:
        return callable(getattr(self.estimator, "predict_proba", None))

    @property
    def classes(self) -> list[Any] | None:
        """Class labels in the column order of ``predict_proba``, when the model says."""
        classes = getattr(self.estimator, "classes_", None)
        return None if classes is None else [_plain(c) for c in classes]

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray | None:
        """Class probabilities (rows x classes), or None when the model cannot give them."""
        if not self.has_proba:
            return None
        return np.asarray(self.estimator.predict_proba(self.check_columns(frame)), dtype=float)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# ----------------------------------------------------------------------------- skops


def load_skops(path: Path, trusted_types: tuple[str, ...] = ()) -> Any:
    """Load a skops file, trusting skops' own safe set plus ``trusted_types`` and nothing else."""
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    # One pass: skops trusts its own safe set plus ``trusted`` and refuses anything else while
    # it loads. Only a refusal reads the file a second time, to name every untrusted type (a
    # separate get_untrusted_types pass first cost 40% of a 200-tree forest's 1.5 s load).
    try:
        return sio.load(path, trusted=list(trusted_types))
    except UntrustedTypesFoundException:
        pass
    except Exception as exc:  # skops raises plain exceptions for corrupt files
        raise _unreadable_skops(path, exc) from None
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:
        raise _unreadable_skops(path, exc) from None
    refused = [t for t in untrusted if t not in trusted_types]
    raise ModelLoadError(
        f"{path}: the model contains types that are not trusted: {', '.join(refused)}",
        hint="review them, then list them under model.trusted_types in mlrelease.yaml",
    )


def untrusted_skops_types(path: Path, trusted_types: tuple[str, ...] = ()) -> list[str]:
    """The types in a skops file that loading would refuse: neither skops' own safe set nor listed.

    Reads the file's schema only (no arrays, no objects built), so `config validate` can say
    before `predict` does which types a user must review.
    """
    import skops.io as sio

    try:
        found = sio.get_untrusted_types(file=path)
    except Exception as exc:
        raise _unreadable_skops(path, exc) from None
    return [t for t in found if t not in trusted_types]


def _unreadable_skops(path: Path, exc: Exception) -> ModelLoadError:
    """Not a zip at all, or a zip whose array or object member fails in numpy or in the class."""
    import zipfile

    if isinstance(exc, zipfile.BadZipFile) or not zipfile.is_zipfile(path):
        return ModelLoadError(f"{path}: not a readable skops file: {exc}")
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return ModelLoadError(
        f"{path}: the skops file is damaged: {type(exc).__name__}: {first[:300]}",
        hint="export the model again with skops.io.dump and hand over the new file",
    )


# ----------------------------------------------------------------------------- joblib / pickle


def load_pickle(path: Path, fmt: ModelFormat, cfg: ModelConfig, digest: str) -> Any:
    """Unpickle only what the config opted into and pinned by hash (pickle runs code on load)."""
    if not cfg.allow_pickle:
        raise ModelLoadError(
            f"{path}: a {fmt} file can run code when loaded; refusing to load it",
            hint="save the model with skops, or set model.allow_pickle: true together with model.sha256",
        )
    if not cfg.sha256:
        raise ModelLoadError(
            f"{path}: model.allow_pickle needs model.sha256 to pin the exact file",
            hint=f"if you trust this file, set model.sha256: {digest}",
        )
    if cfg.sha256 != digest:  # checked again here: never unpickle a file whose hash differs
        raise ModelLoadError(f"{path}: sha256 is {digest}, but mlrelease.yaml expects {cfg.sha256}")
    try:
        if fmt == "joblib":
            import joblib

            return joblib.load(path)
        import pickle

        with open(path, "rb") as fh:
            return pickle.load(fh)  # opted in above, and the bytes match the pinned sha256
    except Exception as exc:  # unpickling raises anything the pickled classes raise
        raise ModelLoadError(f"{path}: cannot load the {fmt} file: {type(exc).__name__}: {exc}") from None


# ----------------------------------------------------------------------------- ONNX

_ONNX_NUMPY = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
    "tensor(string)": object,
}
_ONNX_KIND: dict[str, ColumnKind] = {
    "tensor(float)": "number",
    "tensor(double)": "number",
    "tensor(int64)": "integer",
    "tensor(int32)": "integer",
    "tensor(bool)": "boolean",
    "tensor(string)": "string",
}


class OnnxModel:
    """An onnxruntime session behind ``predict(DataFrame)`` / ``predict_proba(DataFrame)``.

    Two input layouts are understood: one input per column (what skl2onnx makes of a pipeline
    with a ColumnTransformer), or one 2-D input that takes the feature columns as a matrix.
    """

    def __init__(self, path: Path, features: list[str] | None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph exceptions
            raise ModelLoadError(f"{path}: not a loadable ONNX model: {exc}") from None
        self.inputs = self.session.get_inputs()
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.per_column = len(self.inputs) > 1 or (features is not None and self.inputs[0].name in features)
        if self.per_column:
            self.features = [i.name for i in self.inputs]
        elif features:
            self.features = list(features)
        else:
            raise ModelLoadError(
                f"{path}: the ONNX model takes one matrix input '{self.inputs[0].name}', "
                "so the column order cannot be read from it",
                hint="list the feature columns in order under model.features in mlrelease.yaml",
            )
        self.input_kinds: dict[str, ColumnKind] | None = (
            {i.name: _ONNX_KIND.get(i.type, "number") for i in self.inputs} if self.per_column else None
        )
        self.classes_: list[Any] | None = None

    def _feed(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        if self.per_column:
            feed = {}
            for inp in self.inputs:
                dtype = _ONNX_NUMPY.get(inp.type, np.float32)
                col = frame[inp.name]
                values = col.astype(str).to_numpy(dtype=object) if dtype is object else col.to_numpy(dtype)
                feed[inp.name] = values.reshape(-1, 1)
            return feed
        dtype = _ONNX_NUMPY.get(self.inputs[0].type, np.float32)
        return {self.inputs[0].name: frame[self.features].to_numpy(dtype=dtype)}

    def _run(self, frame: pd.DataFrame) -> list[Any]:
        try:
            outputs: list[Any] = self.session.run(None, self._feed(frame))
            return outputs
        except Exception as exc:  # onnxruntime's errors carry the node and the shapes
            raise DataError(f"the ONNX model rejected the input: {exc}") from None

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self._run(frame)[0])

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        outs = self._run(frame)
        if len(outs) < 2:
            raise DataError("the ONNX model has no probability output")
        probs = outs[1]
        if isinstance(probs, list):  # skl2onnx's ZipMap: one {label: probability} per row
            labels = list(probs[0]) if probs else []
            self.classes_ = [_plain(c) for c in labels]
            return np.array([[row[c] for c in labels] for row in probs], dtype=float)
        return np.asarray(probs, dtype=float)


def load_onnx(path: Path, features: list[str] | None) -> OnnxModel:
    return OnnxModel(path, features)


# ----------------------------------------------------------------------------- entrypoint


def load_entrypoint(spec: str, root: Path) -> Any:
    """Call ``path/module.py:factory`` (relative to ``root``) or ``package.module:factory``."""
    target, _, attr = spec.partition(":")
    if target.endswith(".py"):
        file = (root / target).resolve()
        if not file.is_file():
            raise ModelLoadError(f"entrypoint module {file} does not exist", hint="check model.entrypoint")
        name = f"mlrelease_entrypoint_{hashlib.sha256(str(file).encode()).hexdigest()[:12]}"
        module_spec = importlib.util.spec_from_file_location(name, file)
        if module_spec is None or module_spec.loader is None:
            raise ModelLoadError(f"entrypoint module {file} cannot be imported")
        module = importlib.util.module_from_spec(module_spec)
        sys.path.insert(0, str(file.parent))  # so the module can import its siblings
        try:
            sys.modules[name] = module
            module_spec.loader.exec_module(module)
        except Exception as exc:  # the handoff's own code: any exception is a load failure
            sys.modules.pop(name, None)
            raise ModelLoadError(
                f"entrypoint {spec}: importing {file} failed: {type(exc).__name__}: {exc}"
            ) from None
        finally:
            sys.path.remove(str(file.parent))
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise ModelLoadError(f"entrypoint {spec}: cannot import '{target}': {exc}") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ModelLoadError(f"entrypoint {spec}: '{target}' has no callable '{attr}'")
    try:
        obj = factory()
    except Exception as exc:  # the handoff's own code
        raise ModelLoadError(f"entrypoint {spec}: {attr}() raised {type(exc).__name__}: {exc}") from None
    if not callable(getattr(obj, "predict", None)):
        raise ModelLoadError(
            f"entrypoint {spec}: {attr}() returned a {type(obj).__name__} without a predict method",
            hint="return an object with predict(DataFrame) (and predict_proba for classifiers)",
        )
    return obj


# ----------------------------------------------------------------------------- dispatch


def load_model(cfg: ModelConfig, *, root: Path | None = None) -> LoadedModel:
    """Load the model that ``cfg`` names. ``root`` resolves a relative entrypoint path
    (the config's folder; the current directory when not given)."""
    features: list[str] | None
    if cfg.entrypoint and cfg.artifact is None:
        estimator = load_entrypoint(cfg.entrypoint, root or Path.cwd())
        features = list(cfg.features) if cfg.features else _feature_names(estimator)
        module_file = cfg.entrypoint.partition(":")[0]
        path = (root or Path.cwd()) / module_file if module_file.endswith(".py") else None
        return LoadedModel(
            estimator=estimator,
            format="entrypoint",
            path=path,
            sha256=sha256_file(path) if path and path.is_file() else None,
            features=features,
        )
    if cfg.artifact is None or cfg.format is None:
        raise ModelLoadError(f"model '{cfg.name}': no artifact to load")
    path = cfg.artifact
    if not path.is_file():
        raise ModelLoadError(f"{path}: no such model file")
    digest = sha256_file(path)
    if cfg.sha256 and cfg.sha256 != digest:
        raise ModelLoadError(
            f"{path}: sha256 is {digest}, but mlrelease.yaml expects {cfg.sha256}",
            hint="the file changed since the sha256 was recorded; check where it came from",
        )
    input_kinds = None
    if cfg.format == "skops":
        estimator = load_skops(path, cfg.trusted_types)
    elif cfg.format in ("joblib", "pickle"):
        estimator = load_pickle(path, cfg.format, cfg, digest)
    elif cfg.format == "onnx":
        estimator = load_onnx(path, list(cfg.features) if cfg.features else None)
        input_kinds = estimator.input_kinds
    else:  # pragma: no cover - the schema allows only the formats above
        raise ModelLoadError(f"{path}: unknown model format {cfg.format!r}")
    if not callable(getattr(estimator, "predict", None)):
        raise ModelLoadError(f"{path}: the loaded {type(estimator).__name__} has no predict method")
    if cfg.features:
        features = list(cfg.features)
    elif isinstance(estimator, OnnxModel):
        features = estimator.features
    else:
        features = _feature_names(estimator)
    return LoadedModel(
        estimator=estimator,
        format=cfg.format,
        path=path,
        sha256=digest,
        features=features,
        input_kinds=input_kinds,
    )


def _feature_names(estimator: Any) -> list[str] | None:
    names = getattr(estimator, "feature_names_in_", None)
    return [str(n) for n in names] if names is not None else None
