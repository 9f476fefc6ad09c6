"""``mlrelease serve``: run the model server (or, with ``--smoke``, start it, try it, stop it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mlrelease.cli.options import compiled_model_option, config_option, json_option

if TYPE_CHECKING:
    from mlrelease.serve.runner import SmokeResult


@click.command()
@config_option
@click.option(
    "--signature",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="signature.json written by `mlrelease evaluate`. Default: inferred from validation data.",
)
@compiled_model_option
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=None, help="Port. Default: serving.port (8080)."
)
@click.option(
    "--smoke",
    is_flag=True,
    help="Start the server on a free 127.0.0.1 port, send validation rows and one absurd row through "
    "/predict, KServe v1 and MLflow, check the absurd row is flagged, stop it. Exit 1 when a check fails.",
)
@json_option
def serve(
    config_path: str | None,
    signature: Path | None,
    compiled_model: Path | None,
    host: str,
    port: int | None,
    smoke: bool,
    as_json: bool,
) -> None:
    """Serve the model over HTTP: /predict, KServe v1 and v2, MLflow /invocations, /metrics, /docs.

    One JSON log line per request goes to stdout in Cloud Logging's format (and to
    serving.logging.file when set). SIGTERM finishes in-flight requests and writes every log line.
    One process uses one core: OMP_NUM_THREADS defaults to 1 (OpenMP threads that spin beside
    the server's own threads cost more latency than they save on small batches); scale with
    replicas, or set OMP_NUM_THREADS yourself.
    """
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy/scikit-learn load
    from mlrelease import config as cfgmod
    from mlrelease.serve import runner

    cfg = cfgmod.load(config_path)
    if not smoke:
        runner.serve(cfg, signature=signature, host=host, port=port, compiled=compiled_model)
        return
    result = runner.smoke(config_path, cfg, signature=signature)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        render_smoke(result)
    runner.raise_on_failures(result)


def render_smoke(result: SmokeResult) -> None:
    click.echo(f"server ready in {result.ready_s:.2f} s on 127.0.0.1:{result.port}")
    for ex in result.exchanges:
        answer = ex["answer"]
        preds = answer.get("predictions") if isinstance(answer, dict) else None
        shown = ", ".join(f"{p:,.0f}" if isinstance(p, (int, float)) else str(p) for p in preds or [])
        flagged = ex["outlier_rows"] or "none"
        click.echo(
            f"POST {ex['path']} ({ex['rows']} rows) -> {ex['status']}: [{shown}]  flagged rows: {flagged}"
        )
        if isinstance(answer, dict) and answer.get("flags"):
            for i, flags in enumerate(answer["flags"]):
                if flags:
                    click.echo(f"    row {i}: {', '.join(flags)}")
        if isinstance(answer, dict) and "error" in answer:
            click.echo(f"    {answer['error']}")
    for rec in result.outlier_logs[:1]:
        click.echo("logged: " + json.dumps(rec, ensure_ascii=False)[:400])
    click.echo(f"{result.log_lines} log lines written; server stopped")
    for failure in result.failures:
        click.echo(f"FAIL: {failure}", err=True)
