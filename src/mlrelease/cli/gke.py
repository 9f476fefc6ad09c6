"""``mlrelease render`` and ``mlrelease deploy --target gke``: the model on a Kubernetes cluster."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mlrelease.cli.options import (
    config_option,
    dry_run_option,
    env_option,
    json_option,
    registry_option,
    rollback_reason_option,
)

if TYPE_CHECKING:
    from mlrelease.deploy.gke.canary import CanaryOutcome
    from mlrelease.deploy.gke.rollout import Cluster, DeployOutcome
    from mlrelease.registry import Event

if TYPE_CHECKING:
    from mlrelease.config import Config
    from mlrelease.deploy.release import DeployRelease

target_option = click.option(
    "--target",
    type=click.Choice(["gke"]),
    required=True,
    envvar="MLRELEASE_DEPLOY_TARGET",
    show_envvar=True,
    help="Where the model runs: gke (Google Kubernetes Engine, any Kubernetes).",
)
image_json_option = click.option(
    "--image-json",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="MLRELEASE_IMAGE_JSON",
    show_envvar=True,
    help="image.json after `mlrelease push` (the image by digest). "
    "Without it: the config's image with a placeholder digest, to look before the first build.",
)
image_option = click.option(
    "--image",
    "image_ref",
    default=None,
    help="The image as REPO@sha256:DIGEST, instead of --image-json.",
)
metrics_option = click.option(
    "--metrics",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="metrics.json from `mlrelease evaluate`: sizes the pod's memory. Default: the server's RSS alone.",
)
kubeconfig_option = env_option(
    "--kubeconfig",
    envvar="MLRELEASE_KUBECONFIG",
    type=click.Path(dir_okay=False),
    default=None,
    help="Default: $KUBECONFIG or ~/.kube/config.",
)
context_option = click.option(
    "--context", default=None, help="The kubeconfig context. Default: its current context."
)
timeout_option = click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=1),
    default=None,
    help="Seconds to wait for the rollout. Default: deploy.gke.progress_deadline_s + 60.",
)
poll_option = click.option(
    "--poll-interval",
    "poll_s",
    type=click.FloatRange(min=0.01),
    default=2.0,
    show_default=True,
    help="Seconds between two looks at the rollout.",
)
version_option = click.option(
    "--version",
    "version",
    default=None,
    help="The release's version label, for example v3. Default: model.version or 'unreleased'.",
)


def load_release(
    config_path: str | None,
    image_json: Path | None,
    metrics: Path | None,
    version: str | None,
    image_ref: str | None = None,
) -> tuple[Config, DeployRelease]:
    from mlrelease import config as cfgmod
    from mlrelease.artifacts.metrics import MetricsReport
    from mlrelease.deploy.release import DeployRelease
    from mlrelease.image.record import ImageRecord

    cfg = cfgmod.load(config_path, check_files=False)
    record = ImageRecord.read(image_json) if image_json else None
    report = MetricsReport.read(metrics) if metrics else None
    if image_json and image_ref:
        from mlrelease.errors import UsageError

        raise UsageError("--image and --image-json both name the image", hint="give one of them")
    release = DeployRelease.from_config(cfg, record, report, version)
    return cfg, release.with_image(image_ref) if image_ref else release


@click.command()
@target_option
@config_option
@image_json_option
@image_option
@metrics_option
@version_option
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write one file per object into this folder instead of printing one YAML stream.",
)
@click.option("--kustomize", is_flag=True, help="Also write kustomization.yaml (needs --output-dir).")
@click.option(
    "--diff",
    "diff_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Print a unified diff from the objects in this folder (an earlier --output-dir) instead.",
)
def render(
    target: str,
    config_path: str | None,
    image_json: Path | None,
    image_ref: str | None,
    metrics: Path | None,
    version: str | None,
    output_dir: Path | None,
    kustomize: bool,
    diff_dir: Path | None,
) -> None:
    """Print the Kubernetes objects of a deploy: Deployment, Service, HPA, PDB, ServiceAccount.

    The objects a GitOps user can commit: the image by digest, probes on the server's
    endpoints, a locked-down pod, an HPA sized for a ten-times lunchtime peak (its arithmetic in
    a comment), GPU node pools for GPU images.
    """
    from mlrelease.deploy.gke import manifests as gke
    from mlrelease.errors import UsageError

    if kustomize and output_dir is None:
        raise UsageError(
            "--kustomize writes a kustomization.yaml beside the objects", hint="add --output-dir DIR"
        )
    cfg, release = load_release(config_path, image_json, metrics, version, image_ref)
    manifests = gke.render(cfg, release)
    if diff_dir is not None:
        click.echo(gke.diff(manifests, diff_dir) or "no changes\n", nl=False)
        return
    if output_dir is None:
        click.echo(gke.to_yaml(manifests), nl=False)
        return
    for path in gke.write(manifests, output_dir, kustomize=kustomize):
        click.echo(str(path))
    if release.placeholder:
        click.echo(
            "note: the image digest is a placeholder; pass --image-json after `mlrelease push`", err=True
        )


@click.command()
@click.argument("release_ref", metavar="[VERSION]", required=False, envvar="MLRELEASE_VERSION")
@target_option
@config_option
@registry_option
@image_json_option
@image_option
@metrics_option
@version_option
@click.option("--force", is_flag=True, help="Deploy even a release marked bad (with VERSION).")
@kubeconfig_option
@context_option
@timeout_option
@env_option(
    "--canary",
    "canary_share",
    envvar="MLRELEASE_CANARY",
    default=None,
    metavar="SHARE",
    help="Run the release beside the stable one for about SHARE of the traffic (10%), judge it on "
    "both versions' /metrics, then promote it or remove it (exit 1).",
)
@click.option(
    "--judge-seconds",
    type=click.FloatRange(min=0),
    default=300,
    show_default=True,
    help="How long a canary is judged.",
)
@poll_option
@json_option
def deploy(
    release_ref: str | None,
    target: str,
    config_path: str | None,
    registry_location: str | None,
    image_json: Path | None,
    image_ref: str | None,
    metrics: Path | None,
    version: str | None,
    force: bool,
    kubeconfig: str | None,
    context: str | None,
    timeout_s: float | None,
    canary_share: str | None,
    judge_seconds: float,
    poll_s: float,
    as_json: bool,
) -> None:
    """Apply the release (server-side apply), watch the rollout, roll back when it fails.

    VERSION (v3, latest) is a release of the registry: its image by digest is applied, and the
    deploy, a rollback after a failed rollout (which marks the release bad) and a canary's
    promotion or removal are recorded as events of the target gke:CLUSTER/NAMESPACE. Without
    VERSION, --image-json or --image name the image and nothing is recorded.

    Uses the current kubeconfig (what `gcloud container clusters get-credentials` or
    get-gke-credentials writes) or in-cluster credentials. Progress goes to stderr. When the
    rollout misses its deadline or the new pods crash-loop, prints their events and last log
    lines, applies the previous release again by digest, and exits 1.
    """
    from mlrelease.deploy.gke import canary, rollout
    from mlrelease.errors import UsageError

    share = canary.parse_share(canary_share) if canary_share is not None else None
    if release_ref is None:
        if force:
            raise UsageError("--force goes with VERSION, a release of the registry")
        cfg, release = load_release(config_path, image_json, metrics, version, image_ref)
        cluster = _cluster(kubeconfig, context)
        if share is not None:
            result = canary.run(
                cluster, cfg, release, share, judge_s=judge_seconds, timeout_s=timeout_s, poll_s=poll_s,
                progress=_show,
            )  # fmt: skip
            _canary_report(result, None, (), as_json)
            return
        outcome = rollout.deploy(cluster, cfg, release, timeout_s=timeout_s, poll_s=poll_s, progress=_show)
        _deploy_report(outcome, None, (), as_json)
        return

    given = [flag for flag, value in (("--image-json", image_json), ("--image", image_ref),
             ("--metrics", metrics), ("--version", version)) if value]  # fmt: skip
    if given:
        raise UsageError(
            f"VERSION names a release of the registry; {', '.join(given)} describe one without it",
            hint="give VERSION alone, or drop it",
        )
    from mlrelease import config as cfgmod
    from mlrelease.cli.release import open_registry
    from mlrelease.deploy.gke import releases
    from mlrelease.registry.releases import resolve

    cfg = cfgmod.load(config_path, check_files=False)
    backend = open_registry(registry_location, cfg)
    number = resolve(backend, cfg.model.name, release_ref)
    cluster = rollout.Cluster(rollout.connect(kubeconfig, context))
    if share is not None:
        judged = releases.canary(
            backend, cluster, cfg, number, share, force=force, judge_s=judge_seconds, timeout_s=timeout_s,
            poll_s=poll_s, progress=_show,
        )  # fmt: skip
        _canary_report(judged.outcome, judged.target, judged.events, as_json)
        return
    done = releases.deploy(
        backend, cluster, cfg, number, force=force, timeout_s=timeout_s, poll_s=poll_s, progress=_show
    )
    _deploy_report(done.outcome, done.target, done.events, as_json)


def _show(line: str) -> None:
    click.echo(line, err=True)


def _cluster(kubeconfig: str | None, context: str | None) -> Cluster:
    from mlrelease.deploy.gke import rollout

    return rollout.Cluster(rollout.connect(kubeconfig, context))


def _json(data: dict[str, Any], target: str | None, events: tuple[Event, ...]) -> str:
    return json.dumps(
        {**data, "target": target, "events": [e.to_json() for e in events]}, indent=2, sort_keys=True
    )


def rollout_summary(title: str, outcome: DeployOutcome, events: tuple[Event, ...]) -> str:
    """The job summary of a rollout: what was applied, how the rollout ended, what was recorded."""
    rows = [
        ("image", f"`{outcome.release.reference}`"),
        ("rollout", f"{outcome.rollout.reason}: {outcome.rollout.message}"),
    ]
    if outcome.rollback is not None and outcome.previous is not None:
        rows.append(
            (
                f"rollback to {outcome.previous.version}",
                f"{outcome.rollback.reason}: {outcome.rollback.message}",
            )
        )
    if events:
        rows.append(("registry", ", ".join(f"{e.kind.replace('_', ' ')} v{e.version}" for e in events)))
    table = "\n".join(f"| {k} | {v.replace('|', '/')} |" for k, v in rows)
    diagnostics = "\n".join(f"    {line}" for line in outcome.rollout.diagnostics)
    return f"### {title}\n\n| | |\n| --- | --- |\n{table}\n" + (f"\n{diagnostics}\n" if diagnostics else "")


def _deploy_report(
    outcome: DeployOutcome, target: str | None, events: tuple[Event, ...], as_json: bool
) -> None:
    from mlrelease import github
    from mlrelease.errors import CheckFailed

    release = outcome.release
    where = target or "the cluster"
    if as_json:
        click.echo(_json(outcome.to_json(), target, events))
    github.set_output("status", outcome.status)
    github.set_output("version", release.version if outcome.status == "deployed" else "")
    github.add_summary(
        rollout_summary(f"{release.model} {release.version} on {where}: {outcome.status}", outcome, events)
    )
    if outcome.status == "deployed":
        if not as_json:
            click.echo(f"deployed {release.model} {release.version} ({release.reference})")
        return
    what = f"the rollout of {release.version} failed ({outcome.rollout.reason}: {outcome.rollout.message})"
    if outcome.status == "rolled_back" and outcome.previous is not None:
        raise CheckFailed(f"{what}; rolled back to {outcome.previous.version} ({outcome.previous.reference})")
    if outcome.previous is None:
        raise CheckFailed(f"{what}; no previous release to roll back to")
    back = outcome.rollback
    raise CheckFailed(
        f"{what}; the rollback to {outcome.previous.version} failed too ({back.reason if back else '?'})"
    )


def _canary_report(
    result: CanaryOutcome, target: str | None, events: tuple[Event, ...], as_json: bool
) -> None:
    from mlrelease import github
    from mlrelease.errors import CheckFailed

    release = result.release
    if as_json:
        click.echo(_json(result.to_json(), target, events))
    github.set_output("status", result.status)
    github.set_output("version", release.version if result.status == "promoted" else "")
    checks = "\n".join(f"    {c.render()}" for c in result.checks)
    recorded = ", ".join(f"{e.kind.replace('_', ' ')} v{e.version}" for e in events)
    github.add_summary(
        f"### canary {release.model} {release.version} on {target or 'the cluster'}: {result.status}\n\n"
        f"{result.reason}\n\n{checks}\n" + (f"\nregistry: {recorded}\n" if recorded else "")
    )
    if result.status == "aborted":
        raise CheckFailed(f"the canary {release.version} was removed: {result.reason}")
    if not as_json:
        click.echo(f"promoted {release.model} {release.version} ({release.reference})")


@click.command()
@env_option(
    "--to",
    "to",
    envvar="MLRELEASE_ROLLBACK_TO",
    default=None,
    help="The release to go back to. Default: the newest good one before the one on the cluster.",
)
@target_option
@config_option
@registry_option
@kubeconfig_option
@context_option
@timeout_option
@poll_option
@dry_run_option
@rollback_reason_option
@json_option
def rollback(
    to: str | None,
    target: str,
    config_path: str | None,
    registry_location: str | None,
    kubeconfig: str | None,
    context: str | None,
    timeout_s: float | None,
    poll_s: float,
    dry_run: bool,
    reason: str | None,
    as_json: bool,
) -> None:
    """Apply the previous good release of the registry (or --to VERSION) again, by digest, and
    watch its rollout.

    The registry, not the cluster's ReplicaSet history, says what ran and what to go back to: a
    rollback works after revisionHistoryLimit pruned the release's ReplicaSet, and after someone
    edited the Deployment by hand (server-side apply, field manager mlrelease, with force: the
    fields mlrelease sets become its own again; fields only the editor set stay). Recorded as
    rolled_back (and superseded for what ran) once the rollout completes; exit 1 when it fails.
    """
    from dataclasses import asdict

    from mlrelease import config as cfgmod
    from mlrelease import github
    from mlrelease.cli.release import open_registry
    from mlrelease.deploy.gke import releases
    from mlrelease.errors import CheckFailed
    from mlrelease.registry.releases import resolve

    cfg = cfgmod.load(config_path, check_files=False)
    backend = open_registry(registry_location, cfg)
    name = cfg.model.name
    cluster = _cluster(kubeconfig, context)
    plan = releases.plan_rollback(backend, cluster, cfg, resolve(backend, name, to) if to else None)
    if dry_run:
        click.echo(json.dumps(asdict(plan), indent=2, sort_keys=True) if as_json else "\n".join(plan.lines()))
        if plan.problems:
            raise CheckFailed(f"{name} v{plan.to} cannot be rolled back to: " + "; ".join(plan.problems))
        return
    done = releases.rollback(
        backend, cluster, cfg, plan, reason=reason, timeout_s=timeout_s, poll_s=poll_s, progress=_show
    )
    outcome = done.outcome
    if as_json:
        click.echo(_json(outcome.to_json(), done.target, done.events))
    github.set_output("status", outcome.status)
    github.set_output("version", f"v{plan.to}" if outcome.status == "rolled_back" else "")
    github.add_summary(
        rollout_summary(
            f"{name} rolled back to v{plan.to} on {done.target}: {outcome.status}", outcome, done.events
        )
    )
    if outcome.status != "rolled_back":
        for line in outcome.rollout.diagnostics:
            _show(f"  {line}")
        raise CheckFailed(
            f"the rollback of {name} to v{plan.to} did not roll out "
            f"({outcome.rollout.reason}: {outcome.rollout.message}); nothing was recorded"
        )
    if not as_json:
        was = f" (was v{plan.current})" if plan.current else ""
        click.echo(f"rolled back {name} on {done.target} to v{plan.to} ({outcome.release.reference}){was}")
