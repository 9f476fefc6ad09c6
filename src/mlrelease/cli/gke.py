"""``mlrelease render`` and ``mlrelease deploy --target gke``: the model on a Kubernetes cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mlrelease.cli.options import config_option, json_option

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
) -> Any:
    from mlrelease import config as cfgmod
    from mlrelease.deploy.release import DeployRelease
    from mlrelease.evaluate import MetricsReport
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
@target_option
@config_option
@image_json_option
@image_option
@metrics_option
@version_option
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False),
    default=None,
    help="Default: $KUBECONFIG or ~/.kube/config.",
)
@click.option("--context", default=None, help="The kubeconfig context. Default: its current context.")
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=1),
    default=None,
    help="Seconds to wait for the rollout. Default: deploy.gke.progress_deadline_s + 60.",
)
@click.option(
    "--canary",
    "canary_share",
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
@click.option(
    "--poll-interval",
    "poll_s",
    type=click.FloatRange(min=0.01),
    default=2.0,
    show_default=True,
    help="Seconds between two looks at the rollout.",
)
@json_option
def deploy(
    target: str,
    config_path: str | None,
    image_json: Path | None,
    image_ref: str | None,
    metrics: Path | None,
    version: str | None,
    kubeconfig: str | None,
    context: str | None,
    timeout_s: float | None,
    canary_share: str | None,
    judge_seconds: float,
    poll_s: float,
    as_json: bool,
) -> None:
    """Apply the release (server-side apply), watch the rollout, roll back when it fails.

    Uses the current kubeconfig (what `gcloud container clusters get-credentials` or
    get-gke-credentials writes) or in-cluster credentials. Progress goes to stderr. When the
    rollout misses its deadline or the new pods crash-loop, prints their events and last log
    lines, applies the previous release again by digest, and exits 1.
    """
    import json

    from mlrelease import github
    from mlrelease.deploy.gke import canary, rollout
    from mlrelease.errors import CheckFailed

    cfg, release = load_release(config_path, image_json, metrics, version, image_ref)
    share = canary.parse_share(canary_share) if canary_share is not None else None
    cluster = rollout.Cluster(rollout.connect(kubeconfig, context))

    def show(line: str) -> None:
        click.echo(line, err=True)

    if share is not None:
        result = canary.run(
            cluster,
            cfg,
            release,
            share,
            judge_s=judge_seconds,
            timeout_s=timeout_s,
            poll_s=poll_s,
            progress=show,
        )
        if as_json:
            click.echo(json.dumps(result.to_json(), indent=2, sort_keys=True))
        github.set_output("status", result.status)
        if result.status == "aborted":
            raise CheckFailed(f"the canary {release.version} was removed: {result.reason}")
        if not as_json:
            click.echo(f"promoted {release.model} {release.version} ({release.reference})")
        return

    outcome = rollout.deploy(cluster, cfg, release, timeout_s=timeout_s, poll_s=poll_s, progress=show)
    if as_json:
        click.echo(json.dumps(outcome.to_json(), indent=2, sort_keys=True))
    github.set_output("status", outcome.status)
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
