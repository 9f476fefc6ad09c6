"""``test-image``'s verdict: the image gives the golden predictions and holds exactly the locked packages.

Everything here decides from what the image answered and reads no engine: the golden rows and
the request bodies they travel in, the comparisons (predictions and class probabilities within a
tolerance, packages equal to the lock), the ``image-test.json`` result and its findings.
``container`` starts the image and gathers those answers.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlrelease.artifacts import read_typed, write_json
from mlrelease.artifacts.tables import GoldenRows
from mlrelease.errors import CheckFailed
from mlrelease.findings import Finding
from mlrelease.image.lockfile import Lock, normalize

IMAGE_TEST_VERSION = 1
GOLDEN_ID = "row_id"
GOLDEN_PREDICTION = "prediction"
GOLDEN_PROBA = "proba:"  # a classifier's probability of each class, one column per class
CHUNK_BYTES = 96 * 1024
CHUNK_ROWS = 200


@dataclass(frozen=True)
class RowDiff:
    row_id: Any
    expected: Any
    got: Any
    output: str = GOLDEN_PREDICTION  # or proba:<class>


@dataclass(frozen=True)
class PackageDiff:
    name: str
    locked: str | None
    installed: str | None
    build_only: bool = False  # the image names it build-only (its label), yet holds it or the lock lacks it


@dataclass(frozen=True)
class GpuReport:
    nvidia_smi: str | None
    nvidia_smi_error: str | None
    torch: str | None
    cuda_available: bool | None
    devices: int

    @property
    def ok(self) -> bool:
        return self.nvidia_smi is not None and self.cuda_available is not False

    def problems(self) -> list[str]:
        out = []
        if self.nvidia_smi is None:
            out.append(f"nvidia-smi failed: {self.nvidia_smi_error}")
        if self.cuda_available is False:
            out.append(f"torch {self.torch} says torch.cuda.is_available() is False")
        return out


@dataclass(frozen=True)
class Tolerance:
    rtol: float = 1e-7
    atol: float = 0.0


DEFAULT_TOLERANCE = Tolerance()  # what test-image holds the image to


@dataclass
class ImageTestResult:
    reference: str
    image_id: str
    rows: int
    rtol: float
    atol: float
    seconds_to_healthy: float
    uid: int
    row_diffs: list[RowDiff] = field(default_factory=list)
    max_abs_diff: float = 0.0
    classes: int = 0  # probability columns compared (a classifier's classes)
    max_proba_diff: float = 0.0
    packages: int = 0
    package_diffs: list[PackageDiff] = field(default_factory=list)
    gpu: GpuReport | None = None
    schema_version: int = IMAGE_TEST_VERSION
    build_only: list[str] = field(default_factory=list)  # locked packages a compiled-only image leaves out

    @property
    def ok(self) -> bool:
        return not self.row_diffs and not self.package_diffs and (self.gpu is None or self.gpu.ok)

    def findings(self) -> list[Finding]:
        """What makes the image differ from the golden run, one finding per cause."""
        out = []
        if self.row_diffs:
            shown = ", ".join(str(_jsonable(d.row_id)) for d in self.row_diffs[:5])
            more = f" (+{len(self.row_diffs) - 5} more)" if len(self.row_diffs) > 5 else ""
            out.append(
                Finding(
                    "prediction-differs",
                    "error",
                    f"{len(self.row_diffs)} of {self.rows} predictions differ from the golden run "
                    f"(rtol={self.rtol:g}, atol={self.atol:g}); rows {shown}{more}",
                    hint="rebuild the image from the current lock and model; --json lists every row",
                    data={"rows": len(self.row_diffs)},
                )
            )
        for d in self.package_diffs:
            what = f"{d.name}: locked {d.locked or '-'}, installed {d.installed or '-'}"
            if d.build_only:
                what = (
                    f"{d.name}: named build-only by the image, yet locked {d.locked or '-'}, "
                    f"installed {d.installed or '-'}"
                )
            out.append(
                Finding(
                    "package-differs",
                    "error",
                    what,
                    hint="rebuild the image from the current lock",
                    data={"package": d.name},
                )
            )
        if self.gpu is not None:
            for problem in self.gpu.problems():
                out.append(
                    Finding("gpu-unavailable", "error", problem, hint="run on a host with the NVIDIA runtime")
                )
        return out

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["row_diffs"] = [_jsonable(asdict(d)) for d in self.row_diffs]
        return data

    def write(self, path: Path) -> None:
        write_json(path, self.to_json())

    @classmethod
    def read(cls, path: Path) -> ImageTestResult:
        """What `test-image --json` printed, back (ArtifactError, exit 2, when it is not that)."""
        hint = "write it again with `mlrelease test-image --json`"
        return read_typed(
            path, kind="image-test.json", version=IMAGE_TEST_VERSION, hint=hint, build=cls._from_json
        )

    @classmethod
    def _from_json(cls, data: dict[str, Any]) -> ImageTestResult:
        gpu = data.get("gpu")
        return cls(
            reference=str(data["reference"]),
            image_id=str(data["image_id"]),
            rows=int(data["rows"]),
            rtol=float(data["rtol"]),
            atol=float(data["atol"]),
            seconds_to_healthy=float(data["seconds_to_healthy"]),
            uid=int(data["uid"]),
            row_diffs=[RowDiff(**d) for d in data.get("row_diffs", [])],
            max_abs_diff=float(data.get("max_abs_diff") or 0.0),
            classes=int(data.get("classes", 0)),
            max_proba_diff=float(data.get("max_proba_diff") or 0.0),
            packages=int(data.get("packages", 0)),
            package_diffs=[PackageDiff(**d) for d in data.get("package_diffs", [])],
            gpu=GpuReport(**gpu) if gpu is not None else None,
            build_only=[str(n) for n in data.get("build_only", [])],
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _cell(value: Any) -> Any:
    """A JSON value with no loss: floats keep all 17 digits (json uses repr), a timestamp is ISO
    8601, NaN, infinity and NaT become null. ``DataFrame.to_dict`` has already made numpy scalars
    Python numbers and a missing value of a nullable column None."""
    if value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class Golden:
    records: list[dict[str, Any]]  # the inputs, as JSON records
    predictions: pd.Series
    row_ids: pd.Series
    proba: pd.DataFrame | None  # proba:<class> columns, when the model is a classifier with them


def read_golden(path: Path) -> tuple[list[dict[str, Any]], pd.Series, pd.Series]:
    """The golden inputs as JSON records, the golden predictions, and the row ids."""
    golden = load_golden(path)
    return golden.records, golden.predictions, golden.row_ids


def load_golden(path: Path) -> Golden:
    """The golden rows: inputs, predictions, row ids and any class probabilities."""
    golden = GoldenRows.read(path)
    frame, proba_columns, inputs = golden.frame, golden.proba_columns, golden.inputs
    records = [{str(k): _cell(v) for k, v in row.items()} for row in inputs.to_dict(orient="records")]
    return Golden(
        records,
        frame[GOLDEN_PREDICTION].reset_index(drop=True),
        frame[GOLDEN_ID].reset_index(drop=True),
        frame[proba_columns].reset_index(drop=True) if proba_columns else None,
    )


def chunks(records: list[dict[str, Any]]) -> list[str]:
    """JSON bodies of at most CHUNK_ROWS rows and CHUNK_BYTES bytes each."""
    out: list[str] = []
    batch: list[str] = []
    size = 1  # the body's bytes so far: "[" and each row with the comma or "]" after it
    for record in records:
        text = json.dumps(record, separators=(",", ":"), allow_nan=False)
        if batch and (len(batch) >= CHUNK_ROWS or size + len(text) + 1 > CHUNK_BYTES):
            out.append("[" + ",".join(batch) + "]")
            batch, size = [], 1
        batch.append(text)
        size += len(text) + 1
    if batch:
        out.append("[" + ",".join(batch) + "]")
    return out


def _prediction_value(item: Any) -> Any:
    if isinstance(item, dict):
        for key in ("prediction", "label", "value"):
            if key in item:
                return item[key]
    return item


def compare_predictions(
    expected: pd.Series, got: list[Any], row_ids: pd.Series, tol: Tolerance
) -> tuple[list[RowDiff], float]:
    """Rows whose prediction differs beyond ``tol`` (numbers) or at all (labels), and the max |diff|."""
    if len(got) != len(expected):
        raise CheckFailed(f"the image answered {len(got)} predictions for {len(expected)} golden rows")
    values = [_prediction_value(g) for g in got]
    diffs: list[RowDiff] = []
    max_abs = 0.0
    if pd.api.types.is_numeric_dtype(expected) and all(
        (isinstance(v, int | float) and not isinstance(v, bool)) or v is None for v in values
    ):
        exp = expected.to_numpy(dtype=float)
        arr = np.array(values, dtype=float)  # None is NaN
        close = np.isclose(arr, exp, rtol=tol.rtol, atol=tol.atol, equal_nan=True)
        both = np.isfinite(arr) & np.isfinite(exp)
        if both.any():
            max_abs = float(np.max(np.abs(arr[both] - exp[both])))
        for i in np.flatnonzero(~close):
            diffs.append(RowDiff(row_ids.iloc[i], float(exp[i]), float(arr[i])))
    else:
        for row, e in enumerate(expected.tolist()):
            if e != values[row] and str(e) != str(values[row]):
                diffs.append(RowDiff(row_ids.iloc[row], e, values[row]))
    return diffs, max_abs


def compare_probabilities(
    expected: pd.DataFrame,
    got: Any,
    classes: Any,
    row_ids: pd.Series,
    tol: Tolerance,
) -> tuple[list[RowDiff], float]:
    """Cells of the golden class probabilities (``proba:<class>`` columns) that the image's
    answer (``probabilities`` rows in the order of ``classes``) misses by more than ``tol``, and
    the max |diff|. Labels can stay the same while these move: both are compared."""
    if not isinstance(got, list) or not isinstance(classes, list):
        raise CheckFailed(
            "the golden rows hold class probabilities, but the image answered none",
            hint="the image's server predates probabilities in /predict; rebuild it with `mlrelease build`",
        )
    names = [f"{GOLDEN_PROBA}{c}" for c in classes]
    if sorted(names) != sorted(map(str, expected.columns)):
        raise CheckFailed(
            f"the image answers probabilities of the classes {classes}, the golden rows of "
            f"{[str(c)[len(GOLDEN_PROBA) :] for c in expected.columns]}"
        )
    if len(got) != len(expected) or any(not isinstance(r, list) or len(r) != len(names) for r in got):
        raise CheckFailed(f"the image answered {len(got)} probability rows for {len(expected)} golden rows")
    arr = np.array(got, dtype=float)  # None is NaN
    order = [names.index(str(c)) for c in expected.columns]
    arr = arr[:, order]
    exp = expected.to_numpy(dtype=float)
    close = np.isclose(arr, exp, rtol=tol.rtol, atol=tol.atol, equal_nan=True)
    both = np.isfinite(arr) & np.isfinite(exp)
    max_abs = float(np.max(np.abs(arr[both] - exp[both]))) if both.any() else 0.0
    diffs = [
        RowDiff(row_ids.iloc[i], float(exp[i, j]), float(arr[i, j]), str(expected.columns[j]))
        for i, j in np.argwhere(~close)
    ]
    return diffs, max_abs


def compare_packages(
    lock: Lock,
    installed: list[tuple[str, str]],
    *,
    self_version: str | None,
    build_only: frozenset[str] = frozenset(),
) -> list[PackageDiff]:
    """Locked packages missing, extra or at another version in the image. mlrelease itself is held
    to ``self_version``, the version the image's label names, and left alone when it names none.
    A compiled-only image is held to the lock less ``build_only``, the set its own label names:
    each of those must be in the lock and absent from the image; anything else is compared as usual."""
    have = {normalize(name): version for name, version in installed}
    locked = {name: version for name, version in lock.versions().items() if name != "mlrelease"}
    left_out = {normalize(name) for name in build_only}
    want = {name: version for name, version in locked.items() if name not in left_out}
    if self_version is None:
        have.pop("mlrelease", None)
    else:
        want["mlrelease"] = self_version
    diffs = [
        PackageDiff(name, want.get(name), have.get(name))
        for name in sorted(want.keys() | have.keys())
        if want.get(name) != have.get(name) and name not in left_out
    ]
    diffs += [
        PackageDiff(name, locked.get(name), have.get(name), build_only=True)
        for name in sorted(left_out)
        if name in have or name not in locked
    ]
    return sorted(diffs, key=lambda d: d.name)


def predict_bodies(golden: Golden) -> list[str]:
    """The POST /predict bodies that carry the golden inputs, in order; they ask for the class
    probabilities, whatever the config's default, when the golden rows hold them."""
    bodies = chunks(golden.records)
    if golden.proba is None:
        return bodies
    return [f'{{"records":{body},"probabilities":true}}' for body in bodies]


@dataclass(frozen=True)
class Observed:
    """What the running image answered, before any comparison (``container`` gathers it)."""

    reference: str
    image_id: str
    self_version: str | None  # the image's io.mlrelease.version label: the mlrelease it holds
    seconds_to_healthy: float
    answers: list[object]  # POST /predict's JSON answer to each of ``predict_bodies``, in order
    listing: object  # the package probe's JSON: {"uid": int, "packages": [[name, version], ...]}
    gpu: GpuReport | None = None
    build_only: frozenset[str] = frozenset()  # the image's io.mlrelease.build-only label, as a set


def _installed(listing: object) -> tuple[int, list[tuple[str, str]]]:
    """The user id and the (name, version) packages of the package probe's answer."""
    packages = listing.get("packages") if isinstance(listing, dict) else None
    uid = listing.get("uid") if isinstance(listing, dict) else None
    if (
        not isinstance(uid, int)
        or not isinstance(packages, list)
        or not all(isinstance(p, list) and len(p) == 2 for p in packages)
    ):
        raise CheckFailed(
            f"listing packages: the container answered no uid and packages: {str(listing)[:500]}"
        )
    return uid, [(str(name), str(version)) for name, version in packages]


def judge(golden: Golden, seen: Observed, lock: Lock, tol: Tolerance) -> ImageTestResult:
    """The image test's result: every golden row and class probability beyond ``tol`` and every
    package off the lock. A difference is a result, never an error; an answer that is not one
    (no predictions list, a listing without packages) is ``CheckFailed``."""
    predictions: list[Any] = []
    probabilities: list[Any] | None = []  # None once an answer holds none
    classes: object = None
    for answer in seen.answers:
        if not isinstance(answer, dict) or not isinstance(answer.get("predictions"), list):
            raise CheckFailed(f"POST /predict answered without a predictions list: {str(answer)[:500]}")
        predictions += answer["predictions"]
        got, classes = answer.get("probabilities"), answer.get("classes")
        probabilities = probabilities + got if probabilities is not None and isinstance(got, list) else None
    row_diffs, max_abs = compare_predictions(golden.predictions, predictions, golden.row_ids, tol)
    max_proba = 0.0
    if golden.proba is not None:
        proba_diffs, max_proba = compare_probabilities(
            golden.proba, probabilities, classes, golden.row_ids, tol
        )
        row_diffs += proba_diffs
    uid, installed = _installed(seen.listing)
    return ImageTestResult(
        reference=seen.reference,
        image_id=seen.image_id,
        rows=len(golden.records),
        rtol=tol.rtol,
        atol=tol.atol,
        seconds_to_healthy=round(seen.seconds_to_healthy, 2),
        uid=uid,
        row_diffs=row_diffs,
        max_abs_diff=max_abs,
        classes=0 if golden.proba is None else golden.proba.shape[1],
        max_proba_diff=max_proba,
        packages=len(installed),
        package_diffs=compare_packages(
            lock, installed, self_version=seen.self_version, build_only=seen.build_only
        ),
        gpu=seen.gpu,
        build_only=sorted(seen.build_only),
    )
