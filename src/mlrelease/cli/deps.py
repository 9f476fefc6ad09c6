"""``mlrelease lock`` and ``mlrelease deps check``: pin the handoff's packages, audit them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mlrelease.cli.options import (
    config_option,
    extra_index_urls_option,
    fail_on_option,
    json_option,
    lock_mode_option,
    variants_option,
)

if TYPE_CHECKING:
    from mlrelease.config import Config
    from mlrelease.deps.lock import LockRequest, LockResult, Resolver


@click.command()
@config_option
@variants_option
@click.option(
    "--python", default=None, help="Python of the image. Default: image.python from mlrelease.yaml."
)
@click.option(
    "--platform",
    default=None,
    help="Platform to resolve for, as uv names it. Default: x86_64-manylinux_2_28 (linux x86_64).",
)
@click.option("--index-url", default=None, help="Main package index. Default: https://pypi.org/simple.")
@extra_index_urls_option
@click.option(
    "--server/--no-server",
    default=None,
    help="Lock the model server's own runtime packages together with the handoff's (default), or not.",
)
@click.option(
    "--resolver",
    type=click.Choice(["uv", "pip-tools"]),
    default="uv",
    show_default=True,
    help="uv targets the image's platform; pip-compile resolves for the Python it runs in.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write (or check) this lock file. Default: 'lock' from mlrelease.yaml (requirements.txt).",
)
@click.option(
    "--check",
    is_flag=True,
    help="Do not resolve: exit 1 with a diff when the lock is stale or was edited by hand.",
)
@lock_mode_option
@json_option
def lock(
    config_path: str | None,
    variants: tuple[str, ...],
    python: str | None,
    platform: str | None,
    index_url: str | None,
    extra_index_urls: tuple[str, ...],
    server: bool | None,
    resolver: Resolver,
    output: Path | None,
    check: bool,
    mode: str | None,
    as_json: bool,
) -> None:
    """Pin requirements.in into requirements.txt with hashes, for the image's Python and platform.

    The handoff's requirements are locked together with the model server's own, so the image
    gets one consistent set. The lock's header records how it was made and a hash of its inputs.
    Exit codes: 0 locked or fresh, 1 stale or edited (--check), 2 bad input or a conflict.
    """
    from dataclasses import replace

    from mlrelease import config as cfgmod
    from mlrelease.deps import lock as lockmod
    from mlrelease.deps.requirements import Policy

    check = check or mode == "check"
    cfg = cfgmod.load(config_path)
    specs = variants or ("default",)
    given = {
        name
        for name, value in (
            ("platform", platform),
            ("index_url", index_url),
            ("extra_index_urls", extra_index_urls),
            ("server", server),
        )
        if value not in (None, ())
    }
    base = lockmod.LockRequest(
        requirements=cfg.requirements,
        lock=output or cfg.lock,
        python=python or cfg.image.python,
        platform=platform or lockmod.DEFAULT_PLATFORM,
        index_url=index_url or lockmod.PYPI,
        extra_index_urls=extra_index_urls,
        server=True if server is None else server,
        resolver=resolver,
        policy=Policy.of(cfg),
    )
    requests = [
        replace(base, variant=lockmod.Variant.parse(spec, cuda=cfg.image.cuda))
        for spec in dict.fromkeys(specs)
    ]
    if check:
        _check_locks(cfg, requests, given, as_json)
    else:
        _write_locks(cfg, requests, as_json)


def _check_locks(cfg: Config, requests: list[LockRequest], given: set[str], as_json: bool) -> None:
    """``lock --check``: each lock against the inputs it records (bar the ``given`` options),
    without resolving; exit 1 when one is stale."""
    from mlrelease import github
    from mlrelease.deps import lock as lockmod
    from mlrelease.errors import CheckFailed

    results = [lockmod.check(lockmod.recorded_request(r, given)) for r in requests]
    github.set_output("lock-files", _workspace_paths(r.path for r in results))
    github.set_output("changed", "false")
    if as_json:
        click.echo(json.dumps(lockmod.LockCheckReport(results).to_json(), indent=2))
    else:
        for r in results:
            click.echo(f"{cfg.relative(r.path)}: {r.status}: {r.message}")
            for line in r.diff:
                click.echo(f"  {line}")
    bad = [r for r in results if not r.ok]
    if bad:
        github.add_summary(
            "### Lock check failed\n\n"
            + "\n".join(f"- `{cfg.relative(r.path)}`: {r.message}" for r in bad)
            + "\n\n```diff\n"
            + "\n".join(line for r in bad for line in r.diff)
            + "\n```"
        )
        raise CheckFailed(
            "lock check failed",
            problems=[r.problem() for r in bad],
            hint="run `mlrelease lock` and commit the new lock",
        )


def _write_locks(cfg: Config, requests: list[LockRequest], as_json: bool) -> None:
    """Resolve and write each lock, then say what changed."""
    from mlrelease import github
    from mlrelease.deps import lock as lockmod

    out = [lockmod.lock(r) for r in requests]
    github.set_output("lock-files", _workspace_paths(r.path for r in out))
    github.set_output("changed", "true" if any(r.written for r in out) else "false")
    if as_json:
        click.echo(json.dumps({"locks": [_lock_json(r) for r in out]}, indent=2))
        return
    for done in out:
        state = "written" if done.written else "unchanged"
        click.echo(
            f"{cfg.relative(done.path)}: {done.pins} pins with hashes, {state} "
            f"({done.resolver}, {done.seconds:.1f} s)"
        )
        for c in done.changes:
            if c.old is None:
                click.echo(f"  + {c.name} {c.new}")
            elif c.new is None:
                click.echo(f"  - {c.name} {c.old}")
            else:
                click.echo(f"  ~ {c.name} {c.old} -> {c.new}")


def _lock_json(r: LockResult) -> dict[str, object]:
    return {
        "path": str(r.path),
        "resolver": r.resolver,
        "seconds": round(r.seconds, 3),
        "pins": r.pins,
        "written": r.written,
        "changes": [{"name": c.name, "old": c.old, "new": c.new} for c in r.changes],
    }


@click.group()
def deps() -> None:
    """Find stale locks, unused, missing and misplaced packages."""


@deps.command("check")
@config_option
@click.option(
    "--dev-requirements",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Development requirements (plots, notebooks, tests). Default: requirements-dev.in beside "
    "requirements.in, when it exists.",
)
@fail_on_option(["error", "warning", "never"], "error", "Lowest severity that makes the check exit 1.")
@json_option
def check(config_path: str | None, dev_requirements: Path | None, fail_on: str, as_json: bool) -> None:
    """Find stale locks, loose pins, and unused, missing, misplaced or duplicate packages.

    Reads every notebook and Python file of the handoff (and the modules the model file refers to)
    and compares their imports with requirements.in and the lock.
    Exit codes: 0 clean, 1 findings at or above --fail-on, 2 bad input.
    """
    from mlrelease import config as cfgmod
    from mlrelease import findings, github
    from mlrelease.deps import audit

    cfg = cfgmod.load(config_path)
    report = audit.check(cfg, dev_requirements=dev_requirements)
    counts = report.counts()
    line = (
        f"deps check: {counts['error']} errors, {counts['warning']} warnings "
        f"({report.files_scanned} files, {len(report.declared)} declared packages, "
        f"locks: {', '.join(report.locks_checked) or 'none'})"
    )
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        findings.render_table(report.findings)
        click.echo(line, err=bool(report.findings))
    findings.annotate(report.findings, title_prefix="deps: ", base=cfg.root)
    github.set_output("errors", str(counts["error"]))
    github.set_output("warnings", str(counts["warning"]))
    failed = findings.fails(report.findings, fail_on)  # type: ignore[arg-type]
    if report.findings:
        github.add_summary(
            findings.summary_markdown(report.findings, title="Dependency check", failed=failed, line=line)
        )
    findings.raise_if_failed(
        report.findings,
        fail_on,  # type: ignore[arg-type]
        f"deps check failed: {counts['error']} errors, {counts['warning']} warnings",
    )


def _workspace_paths(paths: Iterable[Path]) -> str:
    """One path a line, relative to the working directory (the workspace) when inside it."""
    cwd = Path.cwd()
    lines = []
    for path in paths:
        try:
            lines.append(str(path.resolve().relative_to(cwd)))
        except ValueError:
            lines.append(str(path))
    return "\n".join(lines)
