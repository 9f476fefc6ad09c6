"""The ``mlrelease`` command line. Subcommands are imported only when called, so ``--help`` is fast.

Each subcommand lives in its own module (``mlrelease.cli.<name>``) and stays thin: it parses
options, calls one domain function and renders the result. Domain errors (``MlreleaseError``)
become one clear message on stderr, a GitHub annotation inside Actions, and the error's exit code.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING

import click

from mlrelease import __version__

if TYPE_CHECKING:
    from mlrelease.errors import MlreleaseError

# name -> (module, attribute, one-line help). The help is here so `--help` imports nothing else.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "config": ("mlrelease.cli.config", "config", "Validate mlrelease.yaml, print its schema."),
    "init": ("mlrelease.cli.config", "init", "Write an mlrelease.yaml for an existing handoff folder."),
    "predict": ("mlrelease.cli.predict", "predict", "Load the model and predict on a CSV or Parquet file."),
    "lint": ("mlrelease.cli.lint", "lint", "Find dead, commented-out, out-of-order code in notebooks."),
    "export": ("mlrelease.cli.lint", "export", "Turn a notebook into a clean, runnable script."),
    "lock": ("mlrelease.cli.deps", "lock", "Pin requirements.in into requirements.txt with hashes."),
    "deps": ("mlrelease.cli.deps", "deps", "Find stale locks, unused, missing and misplaced packages."),
    "evaluate": ("mlrelease.cli.evaluate", "evaluate", "Measure quality, latency and size of the model."),
    "gate": ("mlrelease.cli.gate", "gate", "Block a candidate that is worse than the baseline."),
    "serve": ("mlrelease.cli.serve", "serve", "Serve the model over HTTP (REST, KServe v1/v2, MLflow)."),
    "build": ("mlrelease.cli.image", "build", "Build the model's container image (CPU or GPU)."),
    "test-image": ("mlrelease.cli.image", "test_image", "Prove the image gives the golden predictions."),
    "push": ("mlrelease.cli.image", "push", "Push the image to a registry and record its digest."),
    "release": ("mlrelease.cli.release", "release", "Record the build as the model's next release."),
    "releases": (
        "mlrelease.cli.release",
        "releases",
        "List a model's releases: metrics, where deployed, status.",
    ),
    "show": ("mlrelease.cli.release", "show", "Show one release and what changed since its parent."),
    "mark-bad": ("mlrelease.cli.release", "mark_bad", "Mark a release bad so rollback and deploy skip it."),
    "deploy": ("mlrelease.cli.deploy", "deploy", "Run a release on a target, checked, then switch to it."),
    "rollback": ("mlrelease.cli.deploy", "rollback", "Go back to the previous good release (or --to one)."),
    "watch": (
        "mlrelease.cli.deploy",
        "watch",
        "Watch a deploy's /metrics; on a breach mark bad and roll back.",
    ),
    "render": ("mlrelease.cli.gke", "render", "Print the Kubernetes objects of a deploy (GKE)."),
    "alerts": (
        "mlrelease.cli.alerts",
        "alerts",
        "Render log-based metrics and alert policies (JSON, Terraform).",
    ),
    "monitor": (
        "mlrelease.cli.monitor",
        "monitor",
        "Find drift, outlier bursts and bad slices in production traffic.",
    ),
    "pr-check": (
        "mlrelease.cli.prcheck",
        "pr_check",
        "Run every check of a pull request in one step, then the comment's body.",
    ),
    "comment": (
        "mlrelease.cli.comment",
        "comment",
        "Write the PR check's sticky comment; post it with --pr.",
    ),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        module, attr, _ = spec
        command = getattr(importlib.import_module(module), attr)
        if not isinstance(command, click.Command):  # COMMANDS names each subcommand's module and attribute
            raise TypeError(f"{module}.{attr} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="mlrelease")
def cli() -> None:
    """mlrelease: take a model from a researcher's handoff to production, safely.

    Lint the notebook, lock the packages, evaluate and gate the model against the one in
    production, build and test a reproducible image, and serve it.
    """


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and map domain errors to exit codes."""
    from mlrelease.errors import MlreleaseError

    try:
        rv = cli.main(args=argv, prog_name="mlrelease", standalone_mode=False)
    except MlreleaseError as exc:
        report_error(exc)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        if isinstance(exc, click.UsageError):  # names the option and, from an action, its variable
            from mlrelease import github

            command = exc.ctx.command_path if exc.ctx is not None else "mlrelease"
            github.annotate("error", exc.format_message(), title=f"{command}: invalid input")
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(rv if isinstance(rv, int) else 0)


def report_error(exc: MlreleaseError) -> None:
    """Print a domain error to stderr and, inside GitHub Actions, as annotations."""
    from mlrelease import github
    from mlrelease.errors import FindingsFailed, UnreadableInputs

    if isinstance(exc, FindingsFailed):  # the findings were shown and annotated already
        if exc.message:
            click.echo(f"error: {exc.render()}", err=True)
        return
    if isinstance(exc, UnreadableInputs):  # one line each
        for line in exc.lines:
            click.echo(f"error: {line}", err=True)
            github.annotate("error", line, title=exc.title)
        return
    click.echo(f"error: {exc.render()}", err=True)
    if exc.problems:
        for p in exc.problems:
            github.annotate("error", p.render(), file=p.file, line=p.line, title=exc.title)
    else:
        github.annotate("error", exc.render(), title=exc.title)
