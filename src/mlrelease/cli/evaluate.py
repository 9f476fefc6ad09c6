"""``mlrelease evaluate``: measure quality, latency and size of the model on the validation data."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from mlrelease.cli.options import (
    config_option,
    data_option,
    json_option,
    latency_budget_option,
    latency_samples_option,
    model_file_option,
    output_dir_option,
)

if TYPE_CHECKING:
    from mlrelease.artifacts.metrics import MetricsReport


@click.command()
@config_option
@model_file_option
@data_option("CSV or Parquet to evaluate on. Default: validation.data from mlrelease.yaml.")
@output_dir_option("metrics.json, predictions.parquet, golden.parquet and signature.json")
@latency_samples_option
@latency_budget_option
@json_option
def evaluate(
    config_path: str | None,
    model_path: Path | None,
    data: Path | None,
    out_dir: Path,
    latency_samples: int,
    latency_budget_s: float,
    as_json: bool,
) -> None:
    """Evaluate the model on the validation data and write metrics.json and predictions."""
    import json

    from mlrelease import config as cfgmod
    from mlrelease import github
    from mlrelease.artifacts import check_writable
    from mlrelease.evaluate import evaluate as run_evaluate

    check_writable(out_dir, folder=True)
    cfg = cfgmod.load(config_path)
    result = run_evaluate(
        cfg,
        model_path=model_path,
        data_path=data,
        latency_samples=latency_samples,
        latency_budget_s=latency_budget_s,
    )
    paths = result.write(out_dir)
    github.set_output("metrics", str(paths["metrics"]))
    github.set_output("golden", str(paths["golden"]))
    github.set_output("out-dir", str(out_dir))
    github.add_summary(_summary(result.report))
    if as_json:
        click.echo(json.dumps(result.report.to_dict(), indent=2, sort_keys=True, allow_nan=False))
        return
    _print(result.report, out_dir, result.timings["total_s"], list(cfg.gate.metrics))


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
    text = head + "\n".join(f"| {k} | {v} |" for k, v in _rows(r))
    m = r.measurement
    if m:
        text += (
            f"\n\nLatency from {m['latency_samples']:,} single-row predictions "
            f"(stopped by the {m['latency_stopped_by']})."
        )
    return text


def _print(report: MetricsReport, out_dir: Path, seconds: float, gated: list[str]) -> None:
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
        # The metrics the gate checks, per slice; the first metric when none of them is per-slice.
        shown = [m for m in gated if m in s.metrics] or list(s.metrics)[:1]
        for metric in shown:
            table.add_row(f"slice {name} ({s.rows:,} rows): {metric}", fmt(s.metrics[metric]))
    console = terminal.console()
    console.print(table)
    m = r.measurement
    if m:
        console.print(
            f"latency: {m['latency_samples']:,} single-row samples in {m['latency_s']:.1f} s "
            f"(stopped by the {m['latency_stopped_by']}; at most {m['latency_samples_asked']:,} "
            f"or {m['latency_budget_s']:g} s)",
            highlight=False,
        )
    console.print(
        f"wrote metrics.json, predictions.parquet, golden.parquet, signature.json to {out_dir}/ "
        f"in {seconds:.1f} s",
        highlight=False,
    )
