"""Run mlrelease's server with parts switched off, for bench_serving.py's on/off comparison.

    python bench/serve_variant.py CONFIG PORT [--no-logging] [--no-outliers] [--no-batching] [--no-compile]
        [--no-inline]

Same app and uvicorn settings as ``mlrelease serve``; the request lines go to stdout, which the
benchmark sends to a file, as it does for every peer's log.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # what `mlrelease serve` does


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("port", type=int)
    ap.add_argument("--no-logging", action="store_true")
    ap.add_argument("--no-outliers", action="store_true")
    ap.add_argument("--no-batching", action="store_true")
    ap.add_argument("--no-compile", action="store_true", help="always the model's own predict")
    ap.add_argument("--no-inline", action="store_true", help="always predict in the worker thread")
    args = ap.parse_args()

    import uvicorn

    from mlrelease import config as cfgmod
    from mlrelease.serve import runner
    from mlrelease.serve.app import Features, ServerApp
    from mlrelease.serve.service import load_service

    cfg = cfgmod.load(args.config)
    if args.no_compile:
        from dataclasses import replace

        cfg = replace(cfg, serving=replace(cfg.serving, compile=False))
    features = Features(
        logging=not args.no_logging,
        outliers=not args.no_outliers,
        batching=False if args.no_batching else None,
        inline=False if args.no_inline else None,
    )
    app = ServerApp(load_service(cfg), cfg.serving, features=features)
    uvicorn.Server(runner.uvicorn_config(app, "127.0.0.1", args.port)).run()


if __name__ == "__main__":
    main()
