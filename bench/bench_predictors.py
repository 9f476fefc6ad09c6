"""Predictor benchmark: scikit-learn's own predict, mlrelease's compiled trees, treelite + tl2cgen
(compiled C) and ONNX Runtime (skl2onnx), in-process, on 1 and 100 rows, in one interleaved run.

Models: the peers' benchmark model (/work/shared/peer-bench/make_model.py: a
HistGradientBoostingRegressor, 8 numeric features), the trees of examples/brno-houses (a
HistGradientBoostingRegressor with two categorical columns, fed the rows its pipeline encodes),
and one model of each further family mlrelease compiles (RandomForest, ExtraTrees,
GradientBoosting, an XGBClassifier and an LGBMClassifier, both binary with missing values; for
these two the "sklearn" column is the library's own predict_proba, and tl2cgen reads them through
treelite's XGBoost and LightGBM front ends). Each (model, rows, engine) cell is timed as the
median of ``--calls`` calls, the engines in turn within each repetition and the order rotated
between repetitions; the table shows the median over repetitions, the ratio to tl2cgen (< 1.2 is
the target) and to the model's own predict, and each engine's max abs difference to the model's
own predictions on 1,000 rows.

    python bench/bench_predictors.py [--reps 3] [--calls 300] [--only benchmark,example]

Needs treelite, tl2cgen, onnxruntime and skl2onnx (requirements-dev.txt) and a C compiler.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PEER = Path(os.environ.get("PEER_BENCH", "/work/shared/peer-bench"))
EXAMPLE = ROOT / "examples" / "brno-houses"
SIZES = (1, 100)
ENGINES = ("sklearn", "mlrelease", "tl2cgen", "onnxruntime")


@dataclass
class Case:
    name: str
    X: np.ndarray  # 1,000 rows as the tree ensemble receives them
    predict: dict[str, Callable[[np.ndarray], Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def benchmark_model() -> tuple[Any, np.ndarray]:
    from sklearn.ensemble import HistGradientBoostingRegressor

    sys.path.insert(0, str(PEER))
    from make_model import make_data  # type: ignore[import-not-found]

    X, y = make_data()
    return HistGradientBoostingRegressor(random_state=0).fit(X, y), X[:1000]


def example_model() -> tuple[Any, np.ndarray]:
    from mlrelease.config import load
    from mlrelease.dataset import read_table
    from mlrelease.model import load_model

    cfg = load(EXAMPLE / "mlrelease.yaml")
    est = load_model(cfg.model).estimator  # TransformedTargetRegressor(Pipeline(encode, boost))
    pipeline = est.regressor_
    rows = read_table(cfg.validation.data).head(1000)
    X = np.ascontiguousarray(
        pipeline[:-1].transform(rows[list(pipeline.feature_names_in_)]), dtype=np.float64
    )
    return pipeline[-1], X


def family_models() -> list[tuple[str, Any, np.ndarray]]:
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        GradientBoostingRegressor,
        RandomForestRegressor,
    )

    rng = np.random.default_rng(0)
    X = rng.normal(size=(6000, 8))
    y = X[:, 0] * 3 + np.sin(X[:, 1] * 2) + X[:, 2] * X[:, 3] + rng.normal(0, 0.2, len(X))
    return [
        ("random-forest", RandomForestRegressor(50, max_depth=8, random_state=0).fit(X, y), X[:1000]),
        ("extra-trees-clf", ExtraTreesClassifier(50, max_depth=8, random_state=0).fit(X, y > 0), X[:1000]),
        (
            "gradient-boosting",
            GradientBoostingRegressor(n_estimators=100, random_state=0).fit(X, y),
            X[:1000],
        ),
        *booster_models(X, y > 0),
    ]


def booster_models(X: np.ndarray, y: np.ndarray) -> list[tuple[str, Any, np.ndarray]]:
    """An XGBoost and a LightGBM binary classifier (100 trees) on the same rows, 5% missing."""
    holes = X.copy()
    holes[np.random.default_rng(1).random(X.shape) < 0.05] = np.nan
    out: list[tuple[str, Any, np.ndarray]] = []
    try:
        import xgboost

        est = xgboost.XGBClassifier(n_estimators=100, max_depth=6, n_jobs=1).fit(holes, y)
        out.append(("xgboost-clf", est, holes[:1000]))
    except ImportError:
        print("   xgboost not installed: no XGBoost row")
    try:
        import lightgbm

        est = lightgbm.LGBMClassifier(n_estimators=100, n_jobs=1, verbose=-1).fit(holes, y)
        out.append(("lightgbm-clf", est, holes[:1000]))
    except ImportError:
        print("   lightgbm not installed: no LightGBM row")
    return out


def treelite_model(est: Any) -> Any:
    """The model in treelite's form, through the front end of its library."""
    import treelite

    module = type(est).__module__.split(".")[0]
    if module == "xgboost":
        return treelite.frontend.from_xgboost(est.get_booster())
    if module == "lightgbm":
        return treelite.frontend.from_lightgbm(est.booster_)
    return treelite.sklearn.import_model(est)


def prepare(name: str, est: Any, X: np.ndarray, work: Path) -> Case:
    from mlrelease.serve.compiled import compile_trees

    case = Case(name, X)
    proba = hasattr(est, "predict_proba")
    own = est.predict_proba if proba else est.predict
    case.predict["sklearn"] = lambda A: own(A)[:, 1] if proba else own(A)
    compiled = compile_trees(est)
    compiled.max_rows = 1 << 62
    compiled.use_native()
    if compiled.engine != "native":
        case.notes.append(f"mlrelease: numpy walk ({compiled.engine_note})")
    mine = compiled.predict_proba if proba else compiled.predict
    case.predict["mlrelease"] = lambda A: mine(A)[:, 1] if proba else mine(A)
    try:
        import tl2cgen

        lib = work / f"{name}.so"
        tl2cgen.export_lib(treelite_model(est), toolchain="gcc", libpath=str(lib), nthread=1)
        predictor = tl2cgen.Predictor(str(lib), nthread=1)

        def tl(A: np.ndarray) -> np.ndarray:
            out = predictor.predict(tl2cgen.DMatrix(A, dtype="float64")).reshape(len(A), -1)
            return out[:, -1]

        case.predict["tl2cgen"] = tl
    except Exception as exc:  # a peer that cannot take this model is a finding
        case.notes.append(f"tl2cgen: {type(exc).__name__}: {str(exc)[:120]}")
    if type(est).__module__.split(".")[0] in ("xgboost", "lightgbm"):
        case.notes.append(
            "onnxruntime: converting XGBoost and LightGBM needs onnxmltools (not in the dev lock)"
        )
        return case
    try:
        import onnxruntime as ort
        from skl2onnx import to_onnx

        opsets = {"": 17, "ai.onnx.ml": 3}  # HistGradientBoosting's converter needs ai.onnx.ml 3
        options = {"zipmap": False} if proba else None
        onx = to_onnx(est, X[:1].astype(np.float32), options=options, target_opset=opsets)
        session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name
        output = -1 if proba else 0

        def onnx(A: np.ndarray) -> np.ndarray:
            out = session.run(None, {input_name: A.astype(np.float32)})[output]
            return out[:, 1] if proba else out.ravel()

        case.predict["onnxruntime"] = onnx
    except Exception as exc:
        cause = exc.__cause__ or exc  # skl2onnx wraps the converter's error in a long message
        case.notes.append(f"onnxruntime: {type(cause).__name__}: {str(cause)[:160]}")
    return case


def median_call(fn: Callable[[np.ndarray], Any], A: np.ndarray, calls: int) -> float:
    for _ in range(5):
        fn(A)
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        fn(A)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--only", default="", help="comma-separated model names")
    args = ap.parse_args()
    wanted = set(filter(None, args.only.split(",")))
    print(f"== predictors: Python {platform.python_version()}, {os.cpu_count()} CPUs ({platform.machine()})")
    cases: list[Case] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        models: list[tuple[str, Any, np.ndarray]] = []
        if not wanted or "benchmark" in wanted:
            models.append(("benchmark", *benchmark_model()))
        if not wanted or "example" in wanted:
            models.append(("example", *example_model()))
        models += [m for m in family_models() if not wanted or m[0] in wanted]
        for name, est, X in models:
            print(f"   preparing {name} ...", flush=True)
            cases.append(prepare(name, est, X, work))
        times: dict[tuple[str, int, str], list[float]] = {}
        for rep in range(args.reps):
            for case in cases:
                for n in SIZES:
                    engines = [e for e in ENGINES if e in case.predict]
                    shift = rep % len(engines)
                    for engine in engines[shift:] + engines[:shift]:
                        t = median_call(case.predict[engine], case.X[:n], args.calls)
                        times.setdefault((case.name, n, engine), []).append(t)
        header = f"{'model':18s} {'rows':>4s} " + " ".join(f"{e + ' ms':>15s}" for e in ENGINES)
        print(header + f" {'mlr/tl2cgen':>11s} {'own/mlr':>11s} {'onnx/mlr':>9s}")
        for case in cases:
            for n in SIZES:
                med = {
                    e: statistics.median(times[(case.name, n, e)]) * 1e3 for e in ENGINES if e in case.predict
                }
                cells = " ".join(f"{med[e]:15.4f}" if e in med else f"{'-':>15s}" for e in ENGINES)
                mine = med["mlrelease"]
                tl2 = f"{mine / med['tl2cgen']:11.2f}" if "tl2cgen" in med else f"{'-':>11s}"
                onnx = f"{med['onnxruntime'] / mine:9.2f}" if "onnxruntime" in med else f"{'-':>9s}"
                print(f"{case.name:18s} {n:4d} {cells} {tl2} {med['sklearn'] / mine:11.1f} {onnx}")
        print("max abs difference to the model's own predictions (1,000 rows):")
        for case in cases:
            want = np.asarray(case.predict["sklearn"](case.X), dtype=np.float64)
            diffs = []
            for engine in ENGINES[1:]:
                if engine in case.predict:
                    got = np.asarray(case.predict[engine](case.X), dtype=np.float64)
                    diffs.append(f"{engine} {float(np.max(np.abs(got - want))):.3g}")
            print(f"   {case.name:18s} " + ", ".join(diffs))
            for note in case.notes:
                print(f"      {note}")


if __name__ == "__main__":
    main()
