"""The compiled model as files: what a compiled-only image serves, with no scikit-learn beside it.

``mlrelease.serve.freeze`` writes it at build time, in the image's builder stage, where the
model's own library is installed: the trees packed into flat arrays, the request columns'
encodings (a ColumnPlan's dictionaries), how the summed leaves become the answer (a forest's mean,
the loss's link, a target transformer's numpy inverse, a classifier's argmax and class
fractions), the generated C library, the signature (with the outlier guard's reference
statistics) and the inputs it was checked on with the predictions the model's own ``predict``
gave for them. The runtime stage holds only numpy and the HTTP stack; at start-up
:func:`load_compiled_service` refuses to start unless the arrays are the ones the build wrote
(:func:`read` with ``check_digest``: the digest covers the leaves no recorded row reaches) and
every recorded input walks to a prediction bit-identical to the recorded one (:func:`prove`).

Folder layout (``/app/compiled`` in an image):

- ``model.json``: schema version, the sha256 of ``arrays.npz``, what was compiled, the columns,
  the encodings, the finish, the classes, the signature and the checked inputs (request columns,
  JSON values);
- ``arrays.npz``: the packed trees and the recorded predictions (plain arrays, no pickles);
- ``trees-<hash>.so``: the trees as machine code; its name is the hash of the C source of the
  trees in ``arrays.npz``, so a changed array finds no library and the numpy walk (checked the
  same way) serves.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from mlrelease.artifacts import malformed, read_document, write_bytes, write_json
from mlrelease.errors import ArtifactError, CheckFailed
from mlrelease.serve.compiled import _MISSING, MAX_BATCH, CategoryEncoding, Forest, Outcome, _key

if TYPE_CHECKING:
    from mlrelease.config import Config
    from mlrelease.serve.service import Service
    from mlrelease.serve.startup import Startup

ARTIFACT_VERSION = 1
MANIFEST = "model.json"
ARRAYS = "arrays.npz"
HINT = "build the image again with `mlrelease build` (this version of mlrelease)"
UFUNCS = ("exp", "expm1", "log", "log1p", "sqrt", "square", "negative")  # target inverses served
_FOREST_ARRAYS = (
    "roots",
    "feature",
    "threshold",
    "child",
    "missing_left",
    "value",
    "cat_features",
    "baseline",
)

Columns = dict[str, list[Any]]
Answer = np.ndarray | tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Column:
    """One input of the trees, read from one request column: as a number, or through an
    OrdinalEncoder's codes (``unknown`` the code of an unseen category; None: the encoder's
    error)."""

    name: str
    codes: dict[Any, float] | None = None
    unknown: float | None = None


@dataclass(frozen=True)
class Finish:
    """How the summed leaves become the model's answer, as its own code computes it."""

    divide: int | None = None  # a forest's mean: the sum over its trees divided by their number
    link: Literal["identity", "exp"] = "identity"  # the loss's inverse link (HistGradientBoosting)
    target_inverse: str | None = None  # a TransformedTargetRegressor's numpy inverse function
    labels: Literal["argmax"] | None = None  # a classifier's label: the class of the largest fraction


@dataclass(frozen=True)
class Recorded:
    """An input the compiled model was checked on, as request columns, and what the model's own
    ``predict`` (and ``predict_proba``) answered for it."""

    columns: Columns
    predictions: np.ndarray  # values, or class indices for a classifier
    probabilities: np.ndarray | None = None


@dataclass(frozen=True)
class CompiledModel:
    forest: Forest
    columns: tuple[Column, ...]
    encoding: CategoryEncoding | None
    finish: Finish
    classes: tuple[Any, ...] | None
    allow_nan: bool
    signature: dict[str, Any]  # Signature.to_dict(): the columns, their categories and statistics
    about: dict[str, str]  # what was compiled: model file and sha256, family, steps, library versions
    recorded: tuple[Recorded, ...]

    @property
    def rows(self) -> int:
        return sum(len(r.predictions) for r in self.recorded)


# ----------------------------------------------------------------------------- files


def _value(v: Any) -> Any:
    """A category as JSON: numpy scalars as Python values; the missing value as a marker."""
    if v is _MISSING:
        return {"missing": True}
    return v.item() if isinstance(v, np.generic) else v


def _category(v: Any) -> Any:
    return _MISSING if isinstance(v, dict) and v.get("missing") else v


def write(model: CompiledModel, folder: Path, library: Path | None = None) -> None:
    """Write ``model`` into ``folder`` (with ``library``, the trees' C, beside it)."""
    forest = model.forest
    arrays: dict[str, np.ndarray] = {name: getattr(forest, name) for name in _FOREST_ARRAYS}
    if forest.cat_row is not None and forest.cat_left is not None:
        arrays["cat_row"], arrays["cat_left"] = forest.cat_row, forest.cat_left
    if model.encoding is not None:
        arrays["enc_categorical"] = model.encoding.categorical
        arrays["enc_numeric"] = model.encoding.numeric
        for j, known in enumerate(model.encoding.categories):
            arrays[f"enc_categories_{j}"] = known
    for i, rec in enumerate(model.recorded):
        arrays[f"predictions_{i}"] = rec.predictions
        if rec.probabilities is not None:
            arrays[f"probabilities_{i}"] = rec.probabilities
    folder.mkdir(parents=True, exist_ok=True)
    packed = _npz(arrays)
    write_bytes(folder / ARRAYS, packed)
    write_json(
        folder / MANIFEST,
        {
            "schema_version": ARTIFACT_VERSION,
            "arrays_sha256": hashlib.sha256(packed).hexdigest(),
            "about": model.about,
            "forest": {
                "depth": forest.depth,
                "k": forest.k,
                "float32": forest.float32,
                "sum32": forest.sum32,
            },
            "columns": [
                {
                    "name": c.name,
                    "codes": None if c.codes is None else [[_value(k), v] for k, v in c.codes.items()],
                    "unknown": c.unknown,
                }
                for c in model.columns
            ],
            "encoding": None if model.encoding is None else len(model.encoding.categories),
            "finish": {
                "divide": model.finish.divide,
                "link": model.finish.link,
                "target_inverse": model.finish.target_inverse,
                "labels": model.finish.labels,
            },
            "classes": None if model.classes is None else [_value(c) for c in model.classes],
            "allow_nan": model.allow_nan,
            "signature": model.signature,
            "recorded": [
                {"columns": r.columns, "probabilities": r.probabilities is not None} for r in model.recorded
            ],
        },
    )
    if library is not None and library.parent.resolve() != folder.resolve():
        shutil.copy2(library, folder / library.name)


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    """``numpy.savez``'s format with fixed zip timestamps: equal arrays give equal bytes, so two
    builds of one model install the same files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(arrays[name]), allow_pickle=False)
            zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), member.getvalue())
    return buffer.getvalue()


def read(folder: Path, *, check_digest: bool = False) -> CompiledModel:
    """The compiled model in ``folder``; ArtifactError naming the file when it is not one. With
    ``check_digest``, CheckFailed unless ``arrays.npz`` is the file the build wrote: the proof
    walks only the leaves the recorded rows reach, the digest covers every other leaf and
    threshold."""
    data = read_document(folder / MANIFEST, kind="compiled model", version=ARTIFACT_VERSION, hint=HINT)
    try:
        packed = (folder / ARRAYS).read_bytes()
    except FileNotFoundError:
        raise ArtifactError(f"{folder / ARRAYS}: no such file", hint=HINT) from None
    if check_digest:
        want, have = data.get("arrays_sha256"), hashlib.sha256(packed).hexdigest()
        if have != want:
            raise _refused(
                f"{folder / ARRAYS} has sha256 {have[:12]}, not the {str(want)[:12]} its build "
                f"recorded in {MANIFEST}",
                "is not the one that was built",
            )
    try:
        with np.load(io.BytesIO(packed), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{folder / ARRAYS}: not the compiled trees: {exc}", hint=HINT) from None
    try:
        meta = data["forest"]
        forest = Forest(
            **{name: arrays[name] for name in _FOREST_ARRAYS},
            depth=int(meta["depth"]),
            cat_row=arrays.get("cat_row"),
            cat_left=arrays.get("cat_left"),
            k=int(meta["k"]),
            float32=bool(meta["float32"]),
            sum32=bool(meta["sum32"]),
        )
        encoding = None
        if data["encoding"] is not None:
            encoding = CategoryEncoding(
                categorical=arrays["enc_categorical"],
                numeric=arrays["enc_numeric"],
                categories=tuple(arrays[f"enc_categories_{j}"] for j in range(int(data["encoding"]))),
            )
        columns = tuple(
            Column(
                str(c["name"]),
                None if c["codes"] is None else {_category(k): float(v) for k, v in c["codes"]},
                None if c["unknown"] is None else float(c["unknown"]),
            )
            for c in data["columns"]
        )
        f = data["finish"]
        finish = Finish(f["divide"], f["link"], f["target_inverse"], f["labels"])
        if finish.link not in ("identity", "exp") or (
            finish.target_inverse is not None and finish.target_inverse not in UFUNCS
        ):
            raise ValueError(f"a finish this version does not serve: {f}")
        recorded = tuple(
            Recorded(
                {str(k): list(v) for k, v in r["columns"].items()},
                arrays[f"predictions_{i}"],
                arrays[f"probabilities_{i}"] if r["probabilities"] else None,
            )
            for i, r in enumerate(data["recorded"])
        )
        classes = None if data["classes"] is None else tuple(data["classes"])
        return CompiledModel(
            forest=forest,
            columns=columns,
            encoding=encoding,
            finish=finish,
            classes=classes,
            allow_nan=bool(data["allow_nan"]),
            signature=dict(data["signature"]),
            about={str(k): str(v) for k, v in data["about"].items()},
            recorded=recorded,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise malformed(folder / MANIFEST, "compiled model", exc, HINT) from None


# ----------------------------------------------------------------------------- predicting


class Predictor:
    """The compiled model as one function of a request's validated columns: the predictions, or
    (labels, probabilities) for a classifier. It never defers to a model: an input the model
    itself would refuse (a missing value where it takes none, an unseen category its encoder
    refuses) raises ValueError, as the model does."""

    def __init__(self, model: CompiledModel, folder: Path | None = None):
        from mlrelease.serve.native import NoNativeCode, load

        self.model = model
        self.forest = model.forest
        self.engine, self.engine_note = "numpy", ""
        self.walk = model.forest.raw
        try:
            native = load(model.forest, [folder] if folder is not None else [])
        except NoNativeCode as exc:
            self.engine_note = str(exc)
        else:
            self.walk, self.engine = native.raw, "native"
        self.classes = None if model.classes is None else _class_array(model.classes)
        inverse = model.finish.target_inverse
        self.inverse = None if inverse is None else getattr(np, inverse)

    def raw(self, columns: Columns) -> np.ndarray:
        cols = self.model.columns
        n = len(columns[cols[0].name])
        X = np.empty((n, len(cols)), dtype=np.float64)
        for j, col in enumerate(cols):
            values = columns[col.name]
            if col.codes is None:
                X[:, j] = np.asarray(values, dtype=np.float64)  # None becomes NaN
                continue
            for i, value in enumerate(values):
                code = col.codes.get(_key(value), col.unknown)
                if code is None:
                    raise ValueError(f"{col.name}: {value!r} is a category the model's encoder never saw")
                X[i, j] = code
        if self.model.encoding is not None:
            X = self.model.encoding.encode(X)
        if not self.model.allow_nan and not np.isfinite(X).all():
            raise ValueError("the model takes no missing or infinite values")
        if self.forest.float32:
            with np.errstate(over="ignore"):
                if np.isinf(X.astype(np.float32)).any():
                    raise ValueError("a value beyond what float32 holds, which the model's trees refuse")
        if not self.forest.handles(X):
            raise ValueError("a category code of 256 or more, which the model cannot read")
        return self.walk(np.ascontiguousarray(X))

    def __call__(self, columns: Columns) -> Answer:
        raw = self.raw(columns)
        finish = self.model.finish
        if self.classes is not None:
            proba = raw.copy()
            if finish.divide is not None:
                proba /= finish.divide
            labels = np.asarray(self.classes.take(np.argmax(proba, axis=1), axis=0))
            return labels, proba
        pred = raw[:, 0] if finish.divide is None else raw[:, 0] / finish.divide
        if finish.link == "exp":
            pred = np.exp(pred)
        if self.inverse is not None:  # FunctionTransformer.inverse_transform on the (n, 1) column
            pred = np.asarray(self.inverse(pred.reshape(-1, 1))).squeeze(axis=1)
        return np.asarray(pred)


def _class_array(classes: Sequence[Any]) -> np.ndarray:
    """The classes as scikit-learn holds them: strings in an object array, numbers as numbers."""
    if any(isinstance(c, str) for c in classes):
        return np.asarray(list(classes), dtype=object)
    return np.asarray(list(classes))


def answer_of(predictor: Predictor, columns: Columns) -> tuple[np.ndarray, np.ndarray | None]:
    """The predictions (class indices for a classifier) and probabilities for ``columns``."""
    out = predictor(columns)
    if isinstance(out, tuple):
        labels, proba = out
        assert predictor.classes is not None  # a tuple answers only with classes
        index = {c: i for i, c in enumerate(predictor.classes.tolist())}
        return np.asarray([index[c] for c in labels.tolist()], dtype=np.int64), proba
    return out, None


def prove(predictor: Predictor) -> int:
    """Walk every recorded input and compare with the recorded predictions bit for bit; the rows
    compared, or CheckFailed saying where the first difference is."""
    rows = 0
    for i, rec in enumerate(predictor.model.recorded):
        try:
            got, proba = answer_of(predictor, rec.columns)
        except (ValueError, KeyError, IndexError) as exc:
            raise _refused(f"recorded input {i} fails: {type(exc).__name__}: {exc}") from None
        for what, want, have in (
            ("prediction", rec.predictions, got),
            ("probability", rec.probabilities, proba),
        ):
            if want is None and have is None:
                continue
            if want is None or have is None or want.shape != have.shape:
                raise _refused(f"recorded input {i}: the {what}s have another shape")
            same = (
                np.array_equal(want, have, equal_nan=True)
                if want.dtype.kind == "f"
                else np.array_equal(want, have)
            )
            if not same:
                bad = np.flatnonzero(np.any((want != have).reshape(len(want), -1), axis=1))
                row = int(bad[0])
                raise _refused(
                    f"recorded input {i}: {len(bad)} of {len(want)} {what}s differ from the model's own "
                    f"(first at row {row}: recorded {want[row].tolist()!r}, compiled {have[row].tolist()!r})"
                )
        rows += len(rec.predictions)
    if not rows:
        raise _refused("it records no predictions to check against")
    return rows


def _refused(why: str, what: str = "does not reproduce the model's recorded predictions") -> CheckFailed:
    return CheckFailed(
        f"the compiled model {what}, so the server does not start: {why}",
        hint="the image's compiled model was changed after it was built; "
        "build the image again with `mlrelease build`",
    )


# ----------------------------------------------------------------------------- the server


def outcome(model: CompiledModel, predictor: Predictor, rows: int) -> Outcome:
    """What /version says of a compiled-only server."""
    return Outcome(
        True,
        "compiled-only: the image holds no scikit-learn; bit-identical to the model's recorded "
        f"predictions on {rows} rows at start-up",
        MAX_BATCH,
        rows,
        None,
        "columns",
        family=model.about.get("family"),
        engine=predictor.engine,
        engine_note=predictor.engine_note,
        runtime="compiled-only",
        compiled_from=dict(model.about),
    )


def load_compiled_service(cfg: Config, folder: Path, startup: Startup) -> Service:
    """The server's service from the compiled model in ``folder``, proven at start-up: refuses
    (CheckFailed) unless every recorded input walks to its recorded prediction bit for bit."""
    from mlrelease.model import LoadedModel
    from mlrelease.serve.service import Service, model_version
    from mlrelease.signature import Signature

    with startup.phase("model_load"):
        model = read(folder, check_digest=True)
        predictor = Predictor(model, folder)
    with startup.phase("signature"):
        signature = Signature.from_dict(model.signature, source=str(folder / MANIFEST))
    with startup.phase("proof"):
        rows = prove(predictor)
    about = model.about
    loaded = LoadedModel(
        estimator=None,
        format="joblib" if about.get("format") == "joblib" else "skops",
        path=None,
        sha256=about.get("sha256"),
        features=signature.names,
    )
    service = Service(
        name=cfg.model.name,
        version=model_version(cfg, loaded),
        model=loaded,
        signature=signature,
        task=cfg.model.task,
        startup=startup,
    )
    service.classes = None if model.classes is None else list(model.classes)
    service.probabilities = model.classes is not None
    service.direct = predictor
    service.compiled = outcome(model, predictor, rows)
    return service
