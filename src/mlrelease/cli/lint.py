"""``mlrelease lint`` and ``mlrelease export``: the notebook handoff check and the clean script."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mlrelease.cli.options import (
    config_option,
    execute_option,
    fail_on_option,
    json_option,
    lint_report_option,
    notebooks_argument,
    sarif_option,
)


@click.command()
@notebooks_argument
@config_option
@fail_on_option(
    ["error", "warning", "info", "never"],
    None,
    "Exit 1 when a finding has this severity or worse. Default: lint.fail_on, else error.",
)
@execute_option
@click.option(
    "--kernel",
    type=click.Choice(["lock", "current"]),
    default="lock",
    show_default=True,
    help="With --execute: run in the handoff's environment, built from its lock (+ requirements-dev.in) "
    "and cached by the lock's sha256; or in mlrelease's own environment (current).",
)
@sarif_option
@lint_report_option
@json_option
def lint(
    notebooks: tuple[Path, ...],
    config_path: str | None,
    fail_on: str | None,
    execute: bool,
    kernel: str,
    sarif_path: Path | None,
    report_path: Path | None,
    as_json: bool,
) -> None:
    """Check NOTEBOOKS (files or folders; default: the `notebooks` globs of mlrelease.yaml).

    Finds out-of-order and hidden-state execution, unexecuted and failing cells, commented-out
    and dead code, installs and local paths, unseeded randomness, secrets and clutter. Exits 0
    when clean, 1 when a finding reaches --fail-on, 2 on bad usage or an unreadable notebook.
    """
    from mlrelease.artifacts import check_writable, write_json
    from mlrelease.errors import UnreadableInputs, UsageError
    from mlrelease.findings import raise_if_failed
    from mlrelease.notebooks import kernels
    from mlrelease.notebooks import report as render
    from mlrelease.notebooks.lint import display_path, lint_paths
    from mlrelease.notebooks.targets import resolve_targets

    for path in (report_path, sarif_path):
        if path is not None:
            check_writable(path)  # both, before anything is written

    targets = resolve_targets(list(notebooks), config_path)
    chosen = kernels.CURRENT
    if execute and kernel == "lock":
        if targets.lock is None:
            raise UsageError(
                "--execute: no mlrelease.yaml, so no lock to build the notebook's kernel from",
                hint="run in a handoff with an mlrelease.yaml and a lock, or pass --kernel current",
            )
        chosen = kernels.lock_kernel(targets.lock, display_path(targets.lock))
    result = lint_paths(
        targets.paths, targets.lint, root=targets.root, execute=execute, fail_on=fail_on, kernel=chosen
    )
    result.unreadable[:0] = targets.missing
    document = result.to_json()
    if report_path is not None:
        result.write(report_path)
    if sarif_path is not None:
        write_json(sarif_path, render.sarif(result, base=targets.root))
    if as_json:
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        render.render_table(result)
    render.annotate(result)
    if result.unreadable:
        raise UnreadableInputs(result.unreadable, title="unreadable notebook")
    raise_if_failed(result.findings, result.fail_on)  # type: ignore[arg-type]


@click.command()
@click.argument("notebook", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the script here (e.g. pipeline.py). Default: print it.",
)
def export(notebook: Path, output: Path | None) -> None:
    """Turn NOTEBOOK into a clean script that runs the notebook's code in the notebook's order.

    Magics that act become Python (`!cmd`, `%%bash`, `%cd`, `%%file`, `%env`, `%run`); installs,
    display-only magics, bare display expressions (a name or attribute, never a call),
    commented-out code and unused functions go. The header names the notebook and its sha256.
    Exit 2, naming the cell and line, when a cell is not valid Python."""
    from mlrelease.notebooks.export import export_notebook

    result = export_notebook(notebook, output)
    if output is None:
        click.echo(result.script, nl=False)
    else:
        dropped = ", ".join(f"{i} ({why})" for i, why in sorted(result.dropped.items())) or "none"
        click.echo(f"wrote {output}: {len(result.kept)} cell(s) kept; dropped: {dropped}", err=True)
    for line in result.not_exported:
        click.echo(f"warning: not exported, kept as a comment: {line}", err=True)
