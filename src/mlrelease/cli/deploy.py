"""``mlrelease render`` and ``mlrelease deploy``: the model on a cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mlrelease.cli.options import config_option

target_option = click.option(
    "--target",
    type=click.Choice(["gke"]),
    required=True,
    help="Where the model runs: gke (Google Kubernetes Engine, any Kubernetes).",
)
image_json_option = click.option(
    "--image-json",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="image.json after `mlrelease push` (the image by digest). "
    "Without it: the config's image with a placeholder digest, to look before the first build.",
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
    config_path: str | None, image_json: Path | None, metrics: Path | None, version: str | None
) -> Any:
    from mlrelease import config as cfgmod
    from mlrelease.deploy.release import DeployRelease
    from mlrelease.evaluate import MetricsReport
    from mlrelease.image.record import ImageRecord

    cfg = cfgmod.load(config_path, check_files=False)
    record = ImageRecord.read(image_json) if image_json else None
    report = MetricsReport.read(metrics) if metrics else None
    return cfg, DeployRelease.from_config(cfg, record, report, version)


@click.command()
@target_option
@config_option
@image_json_option
@metrics_option
@version_option
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write one file per object into this folder instead of printing one YAML stream.",
)
@click.option("--kustomize", is_flag=True, help="Also write kustomization.yaml (needs --output-dir).")
def render(
    target: str,
    config_path: str | None,
    image_json: Path | None,
    metrics: Path | None,
    version: str | None,
    output_dir: Path | None,
    kustomize: bool,
) -> None:
    """Print the Kubernetes objects of a deploy: Deployment, Service, HPA, PDB, ServiceAccount.

    The objects a GitOps user can commit: the image by digest, probes on the server's
    endpoints, a locked-down pod, an HPA sized for a ten-times lunchtime peak (its arithmetic in
    a comment), GPU node pools for GPU images.
    """
    from mlrelease.deploy import gke
    from mlrelease.errors import UsageError

    if kustomize and output_dir is None:
        raise UsageError(
            "--kustomize writes a kustomization.yaml beside the objects", hint="add --output-dir DIR"
        )
    cfg, release = load_release(config_path, image_json, metrics, version)
    manifests = gke.render(cfg, release)
    if output_dir is None:
        click.echo(gke.to_yaml(manifests), nl=False)
        return
    for path in gke.write(manifests, output_dir, kustomize=kustomize):
        click.echo(str(path))
    if release.placeholder:
        click.echo(
            "note: the image digest is a placeholder; pass --image-json after `mlrelease push`", err=True
        )
