"""``mlrelease alerts render``: log-based metrics and alert policies as JSON and Terraform."""

from __future__ import annotations

from pathlib import Path

import click

from mlrelease.cli.options import config_option, output_dir_option


@click.group()
def alerts() -> None:
    """Alerts as code for Cloud Logging and Cloud Monitoring."""


@alerts.command()
@config_option
@output_dir_option("log_metrics.json, alert_policies.json and alerts.tf")
@click.option(
    "--error-rate", type=click.FloatRange(0, 1), default=0.01, show_default=True, help="5xx per request."
)
@click.option(
    "--p95-latency-ms", type=click.FloatRange(min=0), default=1000, show_default=True, help="Latency budget."
)
def render(config_path: str | None, out_dir: Path, error_rate: float, p95_latency_ms: float) -> None:
    """Render the log-based metrics (requests, 5xx, outlier rows, latency, drift alerts) and the
    alert policies on them (outlier rate at monitoring.outliers.alert, error rate, p95 latency,
    any drift alert): REST bodies for the Logging and Monitoring APIs, and Terraform."""
    from mlrelease import config as cfgmod
    from mlrelease.artifacts import write_json, write_text
    from mlrelease.monitor import alerts as mod

    cfg = cfgmod.load(config_path, check_files=False)
    settings = mod.AlertSettings(
        model=cfg.model.name,
        outlier_rate=cfg.monitoring.outliers.alert,
        error_rate=error_rate,
        p95_latency_s=p95_latency_ms / 1000,
    )
    write_json(out_dir / "log_metrics.json", mod.log_metrics(settings))
    write_json(out_dir / "alert_policies.json", mod.alert_policies(settings))
    write_text(out_dir / "alerts.tf", mod.terraform(settings))
    for name in ("log_metrics.json", "alert_policies.json", "alerts.tf"):
        click.echo(str(out_dir / name))
