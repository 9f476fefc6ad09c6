"""``mlrelease deploy``, ``rollback`` and ``watch``: run a release on a target and keep it healthy."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mlrelease.cli.options import (
    cluster_target_option,
    config_option,
    dry_run_option,
    json_option,
    port_option,
    registry_option,
    rollback_reason_option,
    rollback_runtime_option,
    rollback_to_option,
    runtime_option,
    state_option,
    target_option,
    version_argument,
    watch_duration_option,
)
from mlrelease.cli.release import load_config, model_name, model_option, open_registry

if TYPE_CHECKING:
    from docker import DockerClient

    from mlrelease.config import Config
    from mlrelease.deploy.local import Runtime
    from mlrelease.deploy.rollout import Deployed


def _target_in(args: list[str]) -> str | None:
    """The --target of ``args``, else the one MLRELEASE_DEPLOY_TARGET names (as the option reads it)."""
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--target" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--target="):
            return arg.split("=", 1)[1]
    return os.environ.get("MLRELEASE_DEPLOY_TARGET") or None


class ByTarget(click.Command):
    """``deploy --target gke`` is the cluster command (``cli/gke.py``), with its own options; every
    other target is this one. One command name, as users of kubectl and helm expect."""

    cluster_command = "deploy"  # the command of cli/gke.py that serves --target gke

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if _target_in(args) == "gke":
            from mlrelease.cli import gke

            cluster: click.Command = getattr(gke, self.cluster_command)
            ctx.meta["mlrelease.deploy.command"] = cluster
            ctx.command = cluster  # --help and usage errors speak of the cluster command's options
            return cluster.parse_args(ctx, args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        cluster = ctx.meta.get("mlrelease.deploy.command")
        return cluster.invoke(ctx) if cluster is not None else super().invoke(ctx)


class RollbackByTarget(ByTarget):
    """``rollback --target gke`` is ``cli/gke.py``'s rollback."""

    cluster_command = "rollback"


def _docker(runtime: Runtime) -> DockerClient | None:
    if runtime != "docker":
        return None
    from mlrelease.cli.image import docker_client

    return docker_client()


def _say(as_json: bool) -> Callable[[str], None]:
    def say(line: str) -> None:
        if not as_json:
            click.echo(line, err=True)

    return say


def _public_port(port: int | None, cfg: Config | None) -> int:
    return port or (cfg.serving.port if cfg else 8080)


def _report(done: Deployed, as_json: bool) -> None:
    from mlrelease import github

    github.set_output("version", f"v{done.version}")
    github.set_output("url", f"http://127.0.0.1:{done.public_port}")
    github.add_summary(
        f"### {done.model} v{done.version} on {done.target}\n\n"
        f"ready in {done.ready_s:.2f} s, {done.golden_rows} golden rows match, switch: longest gap "
        f"{done.switch['max_gap_ms']} ms, {done.switch['failed_probes']} failed probes"
    )
    if as_json:
        click.echo(json.dumps(asdict(done), indent=2, sort_keys=True, default=str))
    else:
        was = f" (was v{done.previous})" if done.previous else ""
        click.echo(
            f"{done.model} v{done.version} serves on http://127.0.0.1:{done.public_port}{was}; "
            f"switch: longest gap {done.switch['max_gap_ms']} ms, "
            f"{done.switch['failed_probes']} failed probes"
        )


@click.command(cls=ByTarget)
@version_argument
@cluster_target_option("deploy")
@runtime_option
@port_option
@state_option
@click.option("--force", is_flag=True, help="Deploy even a release marked bad.")
@config_option
@registry_option
@model_option
@json_option
def deploy(
    version: str,
    target: str,
    runtime: Runtime,
    port: int | None,
    state_dir: Path,
    force: bool,
    config_path: str | None,
    registry_location: str | None,
    model: str | None,
    as_json: bool,
) -> None:
    """Run release VERSION on the target: start it beside the current one, check /version and the
    golden rows against it, then switch the port to it and stop (not remove) the previous one.

    Exit 1 when the new release fails its checks (nothing is switched then).
    """
    from mlrelease.deploy.local import LocalTarget
    from mlrelease.deploy.rollout import deploy as run_deploy
    from mlrelease.registry.releases import resolve

    cfg = load_config(config_path, required=False)
    name = model_name(model, cfg)
    backend = open_registry(registry_location, cfg)
    local = LocalTarget(state_dir, name, docker_client=_docker(runtime))
    done = run_deploy(
        backend, local, resolve(backend, name, version), runtime=runtime, public_port=_public_port(port, cfg),
        force=force, say=_say(as_json),
    )  # fmt: skip
    _report(done, as_json)


@click.command(cls=RollbackByTarget)
@rollback_to_option
@cluster_target_option("rollback")
@rollback_runtime_option
@port_option
@state_option
@dry_run_option
@rollback_reason_option
@config_option
@registry_option
@model_option
@json_option
def rollback(
    to: str | None,
    target: str,
    runtime: Runtime | None,
    port: int | None,
    state_dir: Path,
    dry_run: bool,
    reason: str | None,
    config_path: str | None,
    registry_location: str | None,
    model: str | None,
    as_json: bool,
) -> None:
    """Go back to the previous good release (or --to VERSION): image by digest, config and model together.

    Refuses (exit 1) a release whose artifacts are missing from the registry or fail their sha256.
    """
    from mlrelease.deploy.local import LocalTarget
    from mlrelease.deploy.rollout import plan_rollback
    from mlrelease.deploy.rollout import rollback as run_rollback
    from mlrelease.errors import CheckFailed
    from mlrelease.registry.releases import resolve

    cfg = load_config(config_path, required=False)
    name = model_name(model, cfg)
    backend = open_registry(registry_location, cfg)
    if runtime is None:
        active = LocalTarget(state_dir, name).state().active
        runtime = active.runtime if active else "docker"
    local = LocalTarget(state_dir, name, docker_client=None if dry_run else _docker(runtime))
    plan = plan_rollback(backend, local, resolve(backend, name, to) if to else None)
    if dry_run:
        if as_json:
            click.echo(json.dumps(asdict(plan), indent=2, sort_keys=True))
        else:
            click.echo("\n".join(plan.lines()))
        if plan.problems:
            raise CheckFailed(f"{name} v{plan.to} cannot be rolled back to: " + "; ".join(plan.problems))
        return
    done = run_rollback(
        backend, local, plan, runtime=runtime, public_port=_public_port(port, cfg), reason=reason,
        say=_say(as_json),
    )  # fmt: skip
    _report(done, as_json)


@click.command()
@target_option
@state_option
@watch_duration_option
@click.option("--requests", type=click.IntRange(min=1), default=None, help="Stop after this many requests.")
@config_option
@registry_option
@model_option
@json_option
def watch(
    target: str,
    state_dir: Path,
    duration_s: float | None,
    requests: int | None,
    config_path: str | None,
    registry_location: str | None,
    model: str | None,
    as_json: bool,
) -> None:
    """Watch the release just deployed: error rate, p99 latency and outlier rate from /metrics,
    against the limits under `watch:` in mlrelease.yaml.

    On a breach: mark the release bad, roll back to the previous good one, exit 1 naming the limit.
    """
    from mlrelease import github
    from mlrelease.config import WatchConfig
    from mlrelease.deploy.local import LocalTarget
    from mlrelease.deploy.rollout import watch as run_watch
    from mlrelease.errors import CheckFailed

    cfg = load_config(config_path, required=False)
    name = model_name(model, cfg)
    limits = cfg.watch if cfg else WatchConfig()
    backend = open_registry(registry_location, cfg)
    state = LocalTarget(state_dir, name).state()
    runtime = state.active.runtime if state.active else "process"
    local = LocalTarget(state_dir, name, docker_client=_docker(runtime))
    result = run_watch(
        backend, local, limits, duration_s=duration_s if duration_s is not None else limits.duration_s,
        requests=requests, say=_say(as_json),
    )  # fmt: skip
    f = result.figures
    if as_json:
        click.echo(json.dumps(asdict(result), indent=2, sort_keys=True, default=str))
    else:
        click.echo(
            f"{name} v{result.version}: {f.requests} requests in {result.seconds:.0f} s, "
            f"errors {f.error_rate:.1%}, "
            + ("p99 -" if f.p99_ms is None else f"p99 {f.p99_ms:g} ms")
            + f", outliers {f.outlier_rate:.1%}"
        )
    if result.breaches:
        why = "; ".join(str(b) for b in result.breaches)
        github.annotate("error", why, title=f"{name} v{result.version} rolled back")
        raise CheckFailed(
            f"{name} v{result.version} breached {why}; marked bad, rolled back to v{result.rolled_back_to}"
        )
    if f.requests < limits.min_requests:
        click.echo(
            f"note: only {f.requests} requests (< watch.min_requests {limits.min_requests}); no verdict",
            err=True,
        )
