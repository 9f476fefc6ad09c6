"""``mlrelease pr-check``: every check of a pull request in one step (the root action's body)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from mlrelease.cli.options import (
    base_image_option,
    baseline_option,
    config_option,
    latency_samples_option,
    lint_fail_on_option,
    output_dir_option,
    pr_checks_option,
    pr_fail_on_option,
)


@click.command("pr-check")
@config_option
@pr_checks_option
@pr_fail_on_option
@lint_fail_on_option
@baseline_option
@latency_samples_option
@base_image_option
@output_dir_option("every report and comment.md", default="mlrelease-pr-check")
@click.pass_context
def pr_check(
    ctx: click.Context,
    config_path: str | None,
    checks: tuple[str, ...],
    fail_on: str,
    lint_fail_on: str | None,
    baseline: Path | None,
    latency_samples: int,
    base_image: str | None,
    out_dir: Path,
) -> None:
    """Run the selected checks (each even when an earlier one failed), then the PR comment's body.

    Each check is its own `mlrelease` command and reports as it does alone (annotations, job
    summary, outputs). Outputs: reports, failed-checks, blocked. Exit codes: 0 passed (or the
    policy forgives what failed), 1 blocked by --fail-on, 2 bad input.
    """
    from mlrelease import github, prcheck
    from mlrelease.errors import CheckFailed

    request = prcheck.PrCheckRequest(
        config=config_path or ".",
        checks=tuple(c for c in prcheck.CHECKS if c in checks),
        fail_on=fail_on,  # type: ignore[arg-type]  # click.Choice of POLICIES
        out=out_dir,
        lint_fail_on=lint_fail_on,
        baseline=str(baseline) if baseline is not None else None,
        latency_samples=latency_samples,
        base_image=base_image,
    )
    # the checks get the environment without this command's own variables (its --fail-on is not lint's)
    own = {p.envvar for p in ctx.command.params if isinstance(p.envvar, str)}
    env = {k: v for k, v in os.environ.items() if k not in own}

    def say(stdout: str, stderr: str) -> None:
        if stdout:
            click.echo(stdout, nl=False)
        if stderr:
            click.echo(stderr, nl=False, err=True)

    result = prcheck.run(request, prcheck.runner([sys.executable, "-m", "mlrelease"], env, say))
    github.set_output("reports", str(out_dir))
    github.set_output("failed-checks", " ".join(result.failed))
    github.set_output("blocked", "true" if result.failed else "false")
    if not result.failed:
        click.echo(f"mlrelease pr-check: every check passed ({' '.join(request.checks)})")
        return
    click.echo(f"mlrelease pr-check: failed: {' '.join(result.failed)}")
    if result.blocks(request.fail_on):
        raise CheckFailed(f"pr-check failed: {' '.join(result.failed)}", hint=f"--fail-on {fail_on}")
