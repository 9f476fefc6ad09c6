"""``mlrelease release``, ``releases``, ``show`` and ``mark-bad``: the release registry's commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mlrelease.cli.options import (
    config_option,
    evaluate_dir_option,
    force_option,
    force_reason_option,
    gate_json_option,
    image_json_option,
    json_option,
    registry_option,
)

if TYPE_CHECKING:
    from mlrelease.config import Config
    from mlrelease.registry import Backend


def open_registry(registry_location: str | None, cfg: Config | None) -> Backend:
    """The backend named by --registry / MLRELEASE_REGISTRY, else by the config, else the default folder."""
    from mlrelease.image.push import credentials
    from mlrelease.registry import open_backend

    location = registry_location or (cfg.registry.location if cfg else None) or ".mlrelease/registry"
    return open_backend(location, **(credentials() or {}))


def load_config(config_path: str | None, *, required: bool) -> Config | None:
    from mlrelease import config as cfgmod
    from mlrelease.errors import ConfigError

    try:
        return cfgmod.load(config_path, check_files=False)
    except ConfigError:
        if required or config_path is not None:
            raise
        return None


def model_name(model: str | None, cfg: Config | None) -> str:
    from mlrelease.errors import UsageError

    if model:
        return model
    if cfg is None:
        raise UsageError("which model? no mlrelease.yaml here", hint="pass --model NAME or -c mlrelease.yaml")
    return cfg.model.name


model_option = click.option(
    "--model", "-m", default=None, help="Model name. Default: model.name in mlrelease.yaml."
)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _change(value: float | None) -> str:
    return "" if value is None else f"{value:+.4g}"


@click.command()
@config_option
@registry_option
@evaluate_dir_option
@gate_json_option
@image_json_option
@force_option
@force_reason_option
@json_option
def release(
    config_path: str | None,
    registry_location: str | None,
    evaluate_dir: Path,
    gate_json: Path,
    image_json: Path,
    force: bool,
    reason: str | None,
    as_json: bool,
) -> None:
    """Record the current build as the model's next release (v1, v2, ...).

    Refuses (exit 1) when the gate did not pass or the image was not pushed, unless --force with a
    --reason, which the release keeps.
    """
    from mlrelease import github
    from mlrelease.errors import UsageError
    from mlrelease.registry.releases import BuildOutputs, draft_release

    if force and not (reason and reason.strip()):
        raise UsageError("--force needs --reason TEXT", hint="say why this build must be released anyway")
    if reason and not force:
        raise UsageError("--reason goes with --force")
    cfg = load_config(config_path, required=True)
    assert cfg is not None
    draft, files = draft_release(
        cfg,
        BuildOutputs(evaluate_dir, gate_json, image_json),
        force_reason=reason.strip() if force and reason else None,
    )
    backend = open_registry(registry_location, cfg)
    done = backend.publish(draft, files)
    github.set_output("version", done.tag)
    github.set_output("model", done.model)
    github.add_summary(f"### Released `{done.model}` {done.tag}\n\nimage `{done.image.reference}`")
    if done.forced:
        github.annotate("warning", done.forced, title=f"{done.model} {done.tag} released by force")
    if as_json:
        click.echo(json.dumps(done.to_json(), indent=2, sort_keys=True))
    else:
        click.echo(f"released {done.model} {done.tag} to {backend.location} (image {done.image.reference})")
        if done.forced:
            click.echo(f"forced: {done.forced}", err=True)


@click.command()
@config_option
@registry_option
@model_option
@click.option(
    "--limit", "-n", type=click.IntRange(min=1), default=20, show_default=True, help="Newest N only."
)
@click.option("--all", "show_all", is_flag=True, help="Every release, not only the newest --limit.")
@json_option
def releases(
    config_path: str | None,
    registry_location: str | None,
    model: str | None,
    limit: int,
    show_all: bool,
    as_json: bool,
) -> None:
    """List a model's releases, newest first: metric and change, where deployed, status."""
    from dataclasses import asdict

    from mlrelease.registry.releases import rows

    cfg = load_config(config_path, required=False)
    name = model_name(model, cfg)
    table = rows(open_registry(registry_location, cfg), name, None if show_all else limit)
    if as_json:
        click.echo(json.dumps([asdict(r) for r in table], indent=2, sort_keys=True))
        return
    if not table:
        click.echo(f"{name}: no releases yet", err=True)
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"{name} releases")
    for col in ("version", "created", "metric", "value", "change", "deployed", "status"):
        t.add_column(col)
    for r in table:
        t.add_row(
            f"v{r.version}" + (" (forced)" if r.forced else ""),
            r.created[:19].replace("T", " "),
            r.headline_metric or "-",
            _fmt(r.value),
            _change(r.change),
            ", ".join(r.deployed) or "-",
            r.status,
        )
    Console(width=140).print(t)


@click.command()
@click.argument("version")
@config_option
@registry_option
@model_option
@json_option
def show(
    version: str, config_path: str | None, registry_location: str | None, model: str | None, as_json: bool
) -> None:
    """Everything about one release, and what changed since its parent (metrics, packages, image).

    VERSION is v3 (or 3), latest, or a target's name for what is deployed there now.
    """
    from dataclasses import asdict

    from mlrelease.registry.releases import describe, resolve

    cfg = load_config(config_path, required=False)
    name = model_name(model, cfg)
    backend = open_registry(registry_location, cfg)
    d = describe(backend, name, resolve(backend, name, version))
    r = d.release
    if as_json:
        data = {
            "release": r.to_json(),
            "status": d.status,
            "events": [e.to_json() for e in d.events],
            "diff": {
                "parent": d.parent.version if d.parent else None,
                "metrics": [asdict(m) for m in d.metrics],
                "packages": [asdict(p) for p in d.packages],
                "image": {"before": d.parent.image.reference, "after": r.image.reference}
                if d.parent
                else None,
            },
        }
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    out = [
        f"{r.model} {r.tag}  ({d.status})",
        f"  created   {r.created}"
        + (f" by {r.actor}" if r.actor else "")
        + (f" ({r.run_url})" if r.run_url else ""),
        f"  image     {r.image.reference}",
        f"  model     sha256 {r.model_sha256}",
        f"  lock      sha256 {r.lock_sha256}",
        f"  golden    sha256 {r.golden_sha256}",
        f"  git       {r.git_commit or '-'}",
        f"  gate      {r.gate.verdict}: {r.gate.headline}"
        + (f" (against {r.gate.baseline})" if r.gate.baseline else ""),
    ]
    if r.forced:
        out.append(f"  forced    {r.forced}")
    out.append("  metrics   " + ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(r.metrics.items())))
    if d.parent is None:
        out.append("  parent    none (first release)")
    else:
        out.append(f"  changes since v{d.parent.version}:")
        for m in d.metrics:
            delta = m.after - m.before if m.after is not None and m.before is not None else None
            out.append(f"    metric  {m.name}: {_fmt(m.before)} -> {_fmt(m.after)} {_change(delta)}".rstrip())
        for p in d.packages:
            out.append(f"    package {p.name}: {p.before or '(added)'} -> {p.after or '(removed)'}")
        if d.image_changed:
            out.append(f"    image   {d.parent.image.reference} -> {r.image.reference}")
        if not (d.metrics or d.packages or d.image_changed):
            out.append("    nothing")
    if d.events:
        out.append("  events:")
        for e in d.events:
            what = e.kind.replace("_", " ") + (f" on {e.target}" if e.target else "")
            if e.from_version and e.from_version != r.version:
                what += f" (from v{e.from_version})"
            elif e.from_version == r.version:
                what = f"replaced by v{e.version}" + (f" on {e.target}" if e.target else "") + f" ({e.kind})"
            out.append(f"    {e.time[:19].replace('T', ' ')}  {what}" + (f": {e.reason}" if e.reason else ""))
    click.echo("\n".join(out))


@click.command("mark-bad")
@click.argument("version")
@click.option("--reason", required=True, help="Why the release is bad; recorded in its history.")
@config_option
@registry_option
@model_option
def mark_bad(
    version: str, reason: str, config_path: str | None, registry_location: str | None, model: str | None
) -> None:
    """Mark a release bad: rollback skips it and deploy refuses it."""
    from mlrelease.registry.releases import mark_bad as mark
    from mlrelease.registry.releases import resolve

    cfg = load_config(config_path, required=False)
    name = model_name(model, cfg)
    backend = open_registry(registry_location, cfg)
    event = mark(backend, name, resolve(backend, name, version), reason)
    click.echo(f"marked {name} v{event.version} bad: {event.reason}")
