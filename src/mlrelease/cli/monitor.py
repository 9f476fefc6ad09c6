"""``mlrelease monitor``: drift, outliers and slices of a window of traffic against the reference."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from mlrelease.cli.options import (
    config_option_with,
    current_option,
    env_option,
    issue_label_option,
    json_option,
    labels_option,
    output_dir_option,
    reference_option,
    registry_option,
    state_option,
)

if TYPE_CHECKING:
    from google.cloud.logging import Client as LoggingClient

    from mlrelease.config import Config
    from mlrelease.deploy.local import LocalTarget
    from mlrelease.monitor.analyse import DriftReport
    from mlrelease.registry import Backend

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
    "--model",
    "model_name",
    default=None,
    help="The model's name (Cloud Logging's lines, --rollback-on's releases). Default: model.name.",
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
@env_option(
    "--github-api-url",
    envvar="MLRELEASE_GITHUB_API_URL",
    default=None,
    help="GitHub's REST API for --issue-label. Default: GITHUB_API_URL, else https://api.github.com.",
)
@env_option(
    "--rollback-on",
    envvar="MLRELEASE_ROLLBACK_ON",
    type=click.Choice(["alert"]),
    default=None,
    help="alert: on an alert, mark the release deployed on the local target (--state-dir) bad and"
    " roll back to the newest good one before it (needs the release registry). Default: report only.",
)
@registry_option
@state_option
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
    github_api_url: str | None,
    rollback_on: str | None,
    registry_location: str | None,
    state_dir: Path,
    as_json: bool,
) -> None:
    """Find data drift, outlier bursts and slices gone bad in a window of traffic.

    Numeric columns: PSI on the reference's deciles, Kolmogorov-Smirnov and Wasserstein;
    categorical ones: PSI and chi-square, unseen categories by name. A column drifts when
    its effect size crosses a threshold and the shift is significant after a Holm correction
    across columns. Exit 0 when nothing alerts (warnings included), 1 on an alert, 2 on bad input.

    With --rollback-on alert, an alert also marks the deployed release bad and rolls back to the
    previous good one, both recorded in the registry's history.
    """
    from mlrelease import config as cfgmod
    from mlrelease.monitor import report
    from mlrelease.monitor.run import monitor as run

    cfg = None
    if config_path is not None or Path("mlrelease.yaml").is_file():
        cfg = cfgmod.load(config_path, check_files=False)
    from mlrelease.monitor.run import CLOUD, cloud_window

    window: Path | object = Path(current)
    rollback = _rollback_target(cfg, model_name, registry_location, state_dir) if rollback_on else None
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
        body_file = out_dir / "issue.md" if out_dir is not None else None
        opened = report.open_issue(result, issue_label, body_file=body_file, api_url=github_api_url)
        if opened is not None:
            click.echo(f"issue #{opened[1]} {opened[0]}", err=True)
        else:
            click.echo(f"no GitHub API answered; the issue is in {body_file or 'nowhere (no -o)'}", err=True)
    if result.verdict == "alert" and rollback is not None:
        _roll_back(result, *rollback, state_dir=state_dir, out_dir=out_dir, as_json=as_json)
    if result.verdict == "alert":
        ctx.exit(1)


def _rollback_target(
    cfg: Config | None, model_name: str | None, registry_location: str | None, state_dir: Path
) -> tuple[Backend, LocalTarget]:
    """The registry and the deployed release --rollback-on acts on, checked before any analysis."""
    from mlrelease.cli.release import open_registry
    from mlrelease.deploy.local import LocalTarget
    from mlrelease.errors import UsageError

    default = Path(".mlrelease/registry")
    configured = registry_location or (cfg.registry.location if cfg is not None else None)
    if configured is None and not default.is_dir():
        raise UsageError(
            "--rollback-on needs the release registry, and none is configured",
            hint="pass --registry (or MLRELEASE_REGISTRY), or set registry.location in mlrelease.yaml",
        )
    name = model_name or (cfg.model.name if cfg is not None else None)
    if not name:
        raise UsageError("--rollback-on needs the model's name", hint="pass --config or --model")
    backend = open_registry(registry_location, cfg)
    local = LocalTarget(state_dir, name)
    if local.state().active is None:
        raise UsageError(
            f"--rollback-on: nothing of {name} is deployed on {local.name} (state in {state_dir})",
            hint="deploy a release with `mlrelease deploy`, or pass the --state-dir it used",
        )
    return backend, local


def _roll_back(
    result: DriftReport,
    backend: Backend,
    local: LocalTarget,
    *,
    state_dir: Path,
    out_dir: Path | None,
    as_json: bool,
) -> None:
    """Mark the deployed release bad and roll back; the reason names what drifted (exit 1 follows)."""
    from mlrelease import github
    from mlrelease.deploy.local import LocalTarget
    from mlrelease.deploy.rollout import retire
    from mlrelease.errors import CheckFailed
    from mlrelease.monitor.report import reason

    active = local.state().active
    docker = None
    if active is not None and active.runtime == "docker":
        from mlrelease.cli.image import docker_client

        docker = docker_client()
    target = LocalTarget(state_dir, local.model, docker_client=docker)
    why = f"monitor: {reason(result)}"
    detail: dict[str, object] = {"drifted": [c.name for c in result.drifted]}
    if out_dir is not None:
        detail["report"] = str(out_dir / "drift.json")
    done = retire(backend, target, why, detail=detail, say=(lambda _: None) if as_json else _stderr)
    github.annotate("error", why, title=f"{done.model} v{done.version} rolled back")
    raise CheckFailed(f"{done.model} v{done.version} {why}; marked bad, rolled back to v{done.to}")


def _stderr(line: str) -> None:
    click.echo(line, err=True)


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
