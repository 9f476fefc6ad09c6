"""``mlrelease monitor``: drift, outliers and slices of a window of traffic against the reference."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from mlrelease.cli.options import (
    config_option_with,
    current_option,
    issue_label_option,
    json_option,
    labels_option,
    output_dir_option,
    reference_option,
)

if TYPE_CHECKING:
    from google.cloud.logging import Client as LoggingClient

PATH = click.Path(path_type=Path)


@click.command()
@current_option
@click.option(
    "--since", default="24h", show_default=True, help="Cloud Logging: from (RFC 3339, or 30m, 24h, 7d ago)."
)
@click.option(
    "--until", default="0m", show_default=True, help="Cloud Logging: to (RFC 3339, or an age; 0m is now)."
)
@click.option(
    "--model", "model_name", default=None, help="Cloud Logging: the model's name. Default: model.name."
)
@click.option("--model-version", default=None, help="Cloud Logging: only this version's lines.")
@click.option(
    "--logging-endpoint",
    default=None,
    help="Cloud Logging: another API endpoint (private or regional); plain http:// ones get no credentials.",
)
@reference_option
@config_option_with(
    "mlrelease.yaml, or its folder. Optional: without one, all shared columns at the defaults."
)
@labels_option
@click.option("--id-column", default=None, help="Joins --labels to the window. Default: model.id_column.")
@click.option("--target", default=None, help="The label column in --labels. Default: model.target.")
@output_dir_option("drift.json, drift.md and drift.html", required=False)
@issue_label_option
@json_option
@click.pass_context
def monitor(
    ctx: click.Context,
    current: str,
    since: str,
    until: str,
    model_name: str | None,
    model_version: str | None,
    logging_endpoint: str | None,
    reference: Path | None,
    config_path: str | None,
    labels: Path | None,
    id_column: str | None,
    target: str | None,
    out_dir: Path | None,
    issue_label: str | None,
    as_json: bool,
) -> None:
    """Find data drift, outlier bursts and slices gone bad in a window of traffic.

    Numeric columns: PSI on the reference's deciles, Kolmogorov-Smirnov and Wasserstein;
    categorical ones: PSI and chi-square, unseen categories by name. A column drifts when
    its effect size crosses a threshold and the shift is significant after a Holm correction
    across columns. Exit 0 when nothing alerts (warnings included), 1 on an alert, 2 on bad input.
    """
    from mlrelease import config as cfgmod
    from mlrelease.monitor import report
    from mlrelease.monitor.run import monitor as run

    cfg = None
    if config_path is not None or Path("mlrelease.yaml").is_file():
        cfg = cfgmod.load(config_path, check_files=False)
    from mlrelease.monitor.run import CLOUD, cloud_window

    window: Path | object = Path(current)
    if current.startswith(CLOUD):
        client = _logging_client(current[len(CLOUD) :], logging_endpoint)
        name = model_name or (cfg.model.name if cfg is not None else None)
        window = cloud_window(current, client, model=name, version=model_version, since=since, until=until)
    result = run(window, reference=reference, cfg=cfg, labels=labels, id_column=id_column, target=target)  # type: ignore[arg-type]
    data = result.to_dict()
    if out_dir is not None:
        report.write_all(result, out_dir, model=cfg.model.name if cfg is not None else None)
    report.publish(result, out_dir)
    if as_json:
        click.echo(report.dumps(data))
    else:
        click.echo(report.markdown(result))
    if issue_label and result.verdict == "alert":
        action, number = report.open_issue(result, issue_label)
        click.echo(f"issue #{number} {action}", err=True)
    if result.verdict == "alert":
        ctx.exit(1)


def _logging_client(project: str, endpoint: str | None) -> LoggingClient:
    """The Cloud Logging client (HTTP/JSON transport), made here and handed to the domain."""
    from mlrelease.errors import EnvironmentUnavailable

    try:
        from google.cloud import logging as gcl
    except ImportError:
        raise EnvironmentUnavailable(
            "reading Cloud Logging needs google-cloud-logging", hint="pip install google-cloud-logging"
        ) from None
    options = {"api_endpoint": endpoint} if endpoint else None
    credentials = None
    if endpoint and endpoint.startswith("http://"):
        from google.auth.credentials import AnonymousCredentials

        credentials = AnonymousCredentials()
    try:
        return gcl.Client(project=project, credentials=credentials, _use_grpc=False, client_options=options)
    except Exception as exc:  # google.auth's DefaultCredentialsError and friends
        raise EnvironmentUnavailable(
            f"cannot reach Cloud Logging: {exc}",
            hint="run `gcloud auth application-default login`, or use google-github-actions/auth in CI",
        ) from None
