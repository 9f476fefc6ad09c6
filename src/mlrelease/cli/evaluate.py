"""``mlrelease evaluate``: measure quality, latency and size of the model on the validation data."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from mlrelease.cli.options import config_option, json_option, output_dir_option

if TYPE_CHECKING:
    from mlrelease.evaluate import MetricsReport


@click.command()
@config_option
@click.option(
    "--model",
    "model_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Evaluate this model file instead of model.artifact (e.g. the baseline). Same trust settings.",
)
@click.option(
    "--data",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="CSV or Parquet to evaluate on. Default: validation.data from mlrelease.yaml.",
)
@output_dir_option("metrics.json, predictions.parquet, golden.parquet and signature.json")
@click.option(
    "--latency-samples",
    default=500,
    show_default=True,
    type=click.IntRange(min=100),
    help="Single-row predictions timed for the latency percentiles (after a warm-up).",
)
@json_option
def evaluate(
    config_path: str | None,
    model_path: Path | None,
    data: Path | None,
    out_dir: Path,
    latency_samples: int,
    as_json: bool,
) -> None:
    """Evaluate the model on the validation data and write metrics.json and predictions."""
    import json

    from mlrelease import config as cfgmod
    from mlrelease import github
    from mlrelease.evaluate import evaluate as run_evaluate

    cfg = cfgmod.load(config_path)
    result = run_evaluate(cfg, model_path=model_path, data_path=data, latency_samples=latency_samples)
    paths = result.write(out_dir)
    github.set_output("metrics", str(paths["metrics"]))
    github.set_output("golden", str(paths["golden"]))
    github.set_output("out-dir", str(out_dir))
    github.add_summary(_summary(result.report))
    if as_json:
        click.echo(json.dumps(result.report.to_dict(), indent=2, sort_keys=True, allow_nan=False))
        return
    _print(result.report, out_dir, result.timings["total_s"])


def _rows(report: MetricsReport) -> list[tuple[str, str]]:
    from mlrelease.gate import fmt

    rows = [(k, fmt(v)) for k, v in report.metrics.items()]
    rows += [(k, fmt(v)) for k, v in report.cost.items()]
    return rows


def _summary(report: MetricsReport) -> str:
    r = report
    head = (
        f"### Evaluation of {r.model.name} ({(r.model.sha256 or '')[:12]}) on "
        f"{r.data.path}: {r.data.rows:,} rows\n\n| metric | value |\n| --- | ---: |\n"
    )
    return head + "\n".join(f"| {k} | {v} |" for k, v in _rows(r))


def _print(report: MetricsReport, out_dir: Path, seconds: float) -> None:
    from rich.table import Table

    from mlrelease import terminal
    from mlrelease.gate import fmt

    r = report
    table = Table(title=f"{r.model.name}: {r.data.rows:,} rows of {r.data.path}", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in _rows(r):
        table.add_row(k, v)
    for name, s in r.slices.items():
        main = next(iter(s.metrics), None)
        if main:
            table.add_row(f"slice {name} ({s.rows:,} rows): {main}", fmt(s.metrics[main]))
    console = terminal.console()
    console.print(table)
    console.print(
        f"wrote metrics.json, predictions.parquet, golden.parquet, signature.json to {out_dir}/ "
        f"in {seconds:.1f} s",
        highlight=False,
    )
