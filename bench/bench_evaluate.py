"""Benchmark: `mlrelease evaluate` on 100,000 rows, and the gate's paired bootstrap
(1,000 resamples x 100,000 rows) against scipy.stats.bootstrap(paired=True, method='percentile').

    .venv/bin/python bench/bench_evaluate.py [--rows 100000] [--resamples 1000] [--repeats 3]

Peers, in the same run: for evaluate, the floor (the model's batch predict plus scikit-learn's
metrics, nothing else); for the bootstrap, scipy's vectorised paired percentile bootstrap on the
same statistic (RMSE difference), in batches of 50 resamples to bound its memory. Prints medians
and ratios.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "brno-houses"


def make_data(rows: int, out: Path) -> Path:
    spec = importlib.util.spec_from_file_location("generate_data", EXAMPLE / "generate_data.py")
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    frame = gen.generate(rows, np.random.default_rng(12345))
    path = out / f"validation-{rows}.parquet"
    frame.to_parquet(path, index=False)
    return path


def timed(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from scipy import stats
    from sklearn import metrics as skm

    from mlrelease import config
    from mlrelease.dataset import read_table
    from mlrelease.evaluate import evaluate
    from mlrelease.gate.bootstrap import paired_regression
    from mlrelease.model import load_model

    cfg = config.load(EXAMPLE)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load} (other jobs inflate every figure alike)")
    with tempfile.TemporaryDirectory() as tmp:
        data = make_data(args.rows, Path(tmp))
        print(f"== evaluate: {args.rows:,} rows, candidate model of examples/brno-houses", flush=True)
        t_eval, ev = timed(lambda: evaluate(cfg, data_path=data), args.repeats)
        phases = ", ".join(f"{k} {v:.2f}" for k, v in ev.timings.items())  # type: ignore[attr-defined]
        print(f"mlrelease evaluate (load, read, predict, metrics, slices, latency, golden): {t_eval:.2f} s")
        print(f"  last run's phases (s): {phases}")

        model = load_model(cfg.model)
        frame = read_table(data)

        def floor():
            pred = model.predict(frame)
            y = frame["price"].to_numpy()
            return (
                skm.root_mean_squared_error(y, pred),
                skm.r2_score(y, pred),
                skm.mean_absolute_error(y, pred),
            )

        t_floor, _ = timed(floor, args.repeats)
        print(f"floor (batch predict + 3 scikit-learn metrics): {t_floor:.2f} s")
        print(f"ratio evaluate / floor: {t_eval / t_floor:.1f}x (mostly the timed single-row latency)")

        y = frame["price"].to_numpy(dtype=float)
        cand = ev.predictions["prediction"].to_numpy(dtype=float)  # type: ignore[attr-defined]
        base = load_model(
            type(cfg.model)(**{**cfg.model.__dict__, "artifact": EXAMPLE / "baseline" / "model.skops"})
        ).predict(frame)

    print(
        f"\n== paired bootstrap: {args.resamples:,} resamples x {len(y):,} rows, RMSE/MAE/MAPE/R2 differences"
    )
    t_ours, ours = timed(
        lambda: paired_regression(y, base, cand, resamples=args.resamples, seed=0), args.repeats
    )
    print(f"mlrelease paired_regression (4 metrics at once): {t_ours:.2f} s")

    def rmse_diff(y, b, c, axis=-1):
        return np.sqrt(np.mean((c - y) ** 2, axis=axis)) - np.sqrt(np.mean((b - y) ** 2, axis=axis))

    def scipy_run():
        return stats.bootstrap(
            (y, base, cand),
            rmse_diff,
            paired=True,
            vectorized=True,
            method="percentile",
            n_resamples=args.resamples,
            batch=50,
            random_state=0,
        )

    t_scipy, ref = timed(scipy_run, 1)
    print(f"scipy.stats.bootstrap(paired, percentile, RMSE difference only): {t_scipy:.2f} s")
    print(f"ratio scipy / mlrelease: {t_scipy / t_ours:.1f}x faster (mlrelease computes 4 metrics, scipy 1)")
    iv = ours["root_mean_squared_error"]  # type: ignore[index]
    ci = ref.confidence_interval  # type: ignore[attr-defined]
    print(
        f"RMSE difference 95% interval: mlrelease [{iv.low:,.0f}, {iv.high:,.0f}], "
        f"scipy [{ci.low:,.0f}, {ci.high:,.0f}] (standard error {ref.standard_error:,.0f})"  # type: ignore[attr-defined]
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
