"""Build time: the model compiled once and for all, proven and written as the compiled-model files
(``mlrelease.serve.artifact``) that a compiled-only image serves.

A model compiles fully when no scikit-learn code runs for a request: its trees pack into a
:class:`~mlrelease.serve.compiled.Forest`, the steps before them are one ColumnTransformer of
OrdinalEncoders and passthrough columns (a ColumnPlan's dictionaries), and what it makes of the
summed leaves is plain numpy arithmetic: a forest's mean and its class fractions, the identity or
log link of a HistGradientBoosting or GradientBoosting regressor, a TransformedTargetRegressor
whose inverse is a numpy function. :func:`blueprint` says whether a model does, or why not;
``mlrelease build`` asks it on the host to choose the image's runtime, and the builder stage runs
:func:`main` with the image's own scikit-learn: it compiles the model, compares the compiled
answers with the model's own ``predict`` bit for bit on the checked inputs (the validation rows,
the same with values missing, random rows past the reference range) and writes the files with
those recorded predictions. Any difference fails the build with the reason.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlrelease.errors import MlreleaseError
from mlrelease.serve.artifact import UFUNCS, Column, CompiledModel, Finish, Predictor, Recorded, answer_of
from mlrelease.serve.artifact import write as write_artifact
from mlrelease.serve.compiled import CategoryEncoding, ColumnPlan, CompiledTrees, NotCompilable, substitute

Columns = dict[str, list[Any]]
SAMPLES = "samples.json"  # the checked inputs, in the build context's compile/ folder


@dataclass(frozen=True)
class Blueprint:
    """A model that compiles fully: its trees, its columns and its finish."""

    trees: CompiledTrees
    columns: tuple[Column, ...]
    encoding: CategoryEncoding | None
    finish: Finish
    classes: tuple[Any, ...] | None
    steps: str  # what was compiled, in words, for /version


def blueprint(est: Any, names: Sequence[str], classifier: bool) -> Blueprint:
    """How ``est`` compiles fully for request columns ``names``; NotCompilable saying why not."""
    _, trees = substitute(est)
    plan = ColumnPlan(est, trees, names, proba=classifier)
    columns = tuple(Column(name, codes, unknown) for name, codes, unknown in plan.outputs)
    family = trees.family.name
    inner = type(trees.est).__name__
    if trees.family.links:
        raise NotCompilable(f"{family} answers through its own link library, served with the model")
    classes = None
    if classifier:
        if inner not in ("RandomForestClassifier", "ExtraTreesClassifier"):
            raise NotCompilable(f"{family}'s probabilities come from scikit-learn's loss functions")
        finish = Finish(divide=len(trees.est.estimators_), labels="argmax")
        classes = tuple(_plain(c) for c in trees.est.classes_)
    elif inner in ("RandomForestRegressor", "ExtraTreesRegressor"):
        finish = Finish(divide=len(trees.est.estimators_))
    elif inner == "GradientBoostingRegressor":
        finish = Finish()
    elif inner == "HistGradientBoostingRegressor":
        link = type(trees.est._loss.link).__name__
        if link not in ("IdentityLink", "LogLink"):
            raise NotCompilable(f"{family} with a {link}")
        finish = Finish(link="identity" if link == "IdentityLink" else "exp")
    else:
        raise NotCompilable(f"{family} is not one the compiled-only server finishes")
    encoded = sum(c.codes is not None for c in columns)
    steps = [
        f"{encoded} ordinal-encoded and {len(columns) - encoded} numeric columns",
        f"{family} ({trees.forest.roots.size} trees)",
    ]
    if plan.target is not None:
        inverse = _target_inverse(plan.target)
        finish = Finish(finish.divide, finish.link, inverse, finish.labels)
        steps.append(f"target inverse numpy.{inverse}")
    return Blueprint(trees, columns, trees._encoding, finish, classes, ", then ".join(steps))


def _target_inverse(target: Any) -> str:
    transformer = target.transformer_
    inverse = getattr(transformer, "inverse_func", None)
    if (
        type(transformer).__name__ != "FunctionTransformer"
        or not isinstance(inverse, np.ufunc)
        or inverse.__name__ not in UFUNCS
        or getattr(np, inverse.__name__) is not inverse
        or transformer.inv_kw_args
        or target._training_dim != 1
    ):
        raise NotCompilable("a target transformer other than a numpy function of one column")
    return str(inverse.__name__)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def freeze(
    model: Any,
    signature: Any,
    samples: Sequence[Columns],
    *,
    prebuilt: Sequence[Path],
    out: Path,
    about: dict[str, str],
) -> CompiledModel:
    """Compile ``model`` (a LoadedModel), prove it on ``samples`` against the model's own
    predictions and write it into ``out``; NotCompilable saying why when it cannot be served alone."""
    from mlrelease.serve.native import NoNativeCode, library_name, source
    from mlrelease.serve.service import Service

    classifier = signature.task == "classification" or getattr(model.estimator, "classes_", None) is not None
    plan = blueprint(model.estimator, signature.names, classifier)
    service = Service(
        about.get("name", "model"),
        "build",
        model,
        signature,
        "classification" if classifier else "regression",
        probabilities=classifier,
    )
    forest = plan.trees.forest
    library = next(
        (
            Path(p) / library_name(source(forest))
            for p in prebuilt
            if (Path(p) / library_name(source(forest))).exists()
        ),
        None,
    )
    if library is None:
        from mlrelease.serve.native import build as build_library

        try:
            library = build_library(forest, out)
        except NoNativeCode:
            library = None  # the numpy walk serves, proven the same way
    base = CompiledModel(
        forest=forest,
        columns=plan.columns,
        encoding=plan.encoding,
        finish=plan.finish,
        classes=plan.classes,
        allow_nan=plan.trees.family.allow_nan,
        signature=signature.to_dict(),
        about={**about, "family": plan.trees.family.name, "steps": plan.steps},
        recorded=(),
    )
    write_artifact(base, out, library)
    from mlrelease.serve.artifact import read

    predictor = Predictor(read(out), out)
    recorded: list[Recorded] = []
    for i, columns in enumerate(samples):
        try:
            want = (
                service._predict_both(model.estimator, columns)
                if classifier
                else service._predict_with(model.estimator, columns)
            )
        except Exception:  # inputs the model refuses: the server's validation keeps them out
            continue
        if isinstance(want, tuple):
            index = {c: j for j, c in enumerate(plan.classes or ())}
            labels = np.asarray([index[_plain(c)] for c in want[0].tolist()], dtype=np.int64)
            expected = Recorded(columns, labels, np.asarray(want[1], dtype=np.float64))
        else:
            expected = Recorded(columns, np.asarray(want))
        try:
            got, proba = answer_of(predictor, columns)
        except ValueError as exc:
            raise NotCompilable(
                f"the compiled model refuses checked input {i}, which the model takes: {exc}"
            ) from None
        if not _same(expected.predictions, got) or not _same(expected.probabilities, proba):
            raise NotCompilable(
                f"the compiled model differs from the model's own predictions on checked input {i}"
            )
        recorded.append(expected)
    if not recorded:
        raise NotCompilable("no checked input the model predicts on")
    final = CompiledModel(
        **{**base.__dict__, "recorded": tuple(recorded), "about": {**base.about, "engine": predictor.engine}}
    )
    write_artifact(final, out)
    return final


def _same(want: np.ndarray | None, got: np.ndarray | None) -> bool:
    """Bit for bit: the same shape, the same kind of values, every value equal (NaN to NaN)."""
    if want is None or got is None:
        return want is None and got is None
    if want.shape != got.shape or want.dtype != got.dtype:
        return False
    return bool(np.array_equal(want, got, equal_nan=want.dtype.kind == "f"))


def write_samples(samples: Sequence[Columns], path: Path) -> None:
    from mlrelease.artifacts import write_json

    write_json(path, {"schema_version": 1, "samples": list(samples)})


def main(argv: Sequence[str] | None = None) -> int:
    """The builder stage's step: compile /app's model, prove it, write the compiled model."""
    parser = argparse.ArgumentParser(
        prog="python -m mlrelease.serve.freeze", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--signature", type=Path, required=True)
    parser.add_argument("--samples", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--prebuilt", type=Path, action="append", default=[], help="a folder of built trees")
    args = parser.parse_args(argv)
    from mlrelease import __version__
    from mlrelease.config import load
    from mlrelease.model import load_model
    from mlrelease.signature import Signature

    try:
        cfg = load(str(args.config))
        model = load_model(cfg.model, root=cfg.root)
        signature = Signature.read(args.signature)
        samples = json.loads(args.samples.read_text("utf-8"))["samples"]
        about = {
            "name": cfg.model.name,
            "model": cfg.relative(model.path) if model.path is not None else "",
            "sha256": model.sha256 or "",
            "format": str(model.format),
            "mlrelease": __version__,
            **{name: _version(name) for name in ("scikit-learn", "numpy")},
        }
        prebuilt = [*args.prebuilt, *([model.path.parent] if model.path is not None else [])]
        frozen = freeze(model, signature, samples, prebuilt=prebuilt, out=args.out, about=about)
    except NotCompilable as exc:
        print(
            f"the model does not compile fully in the image: {exc}; "
            "set image.runtime: full in mlrelease.yaml to serve it as it is",
            file=sys.stderr,
        )
        return 1
    except MlreleaseError as exc:
        print(f"compiling the model failed: {exc}", file=sys.stderr)
        return 1
    about = frozen.about
    print(
        f"compiled {about['family']} ({about['steps']}): bit-identical to the model's own "
        f"predictions on {frozen.rows} rows; {about['engine']} walk"
    )
    return 0


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return ""


if __name__ == "__main__":
    sys.exit(main())
