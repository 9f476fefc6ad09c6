"""``mlrelease monitor``: drift, outliers and slices of a window of traffic against the reference."""

from __future__ import annotations

from pathlib import Path

import click

from mlrelease.cli.options import json_option

PATH = click.Path(path_type=Path)


@click.command()
@click.option(
    "--current",
    type=PATH,
    required=True,
    help="The window to check: the server's request log (.jsonl), a folder of them, or a CSV/Parquet file.",
)
@click.option(
    "--reference",
    type=PATH,
    default=None,
    help="What the model was trained on (CSV, Parquet, or past request logs). Default: validation.reference.",
)
@click.option(
    "--config",
    "-c",
    "config_path",
    type=click.Path(dir_okay=True, path_type=str),
    default=None,
    help="mlrelease.yaml, or its folder. Optional: without one, all shared columns at the defaults.",
)
@click.option("--labels", type=PATH, default=None, help="Ground truth (CSV/Parquet) for quality per slice.")
@click.option("--id-column", default=None, help="Joins --labels to the window. Default: model.id_column.")
@click.option("--target", default=None, help="The label column in --labels. Default: model.target.")
@click.option(
    "--output",
    "-o",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for drift.json, drift.md and drift.html.",
)
@click.option(
    "--issue-label",
    default=None,
    help="On an alert, open one GitHub issue with this label, or update the open one"
    " (needs GITHUB_TOKEN and GITHUB_REPOSITORY; GITHUB_API_URL for GitHub Enterprise).",
)
@json_option
@click.pass_context
def monitor(
    ctx: click.Context,
    current: Path,
    reference: Path | None,
    config_path: str | None,
    labels: Path | None,
    id_column: str | None,
    target: str | None,
    out_dir: Path | None,
    issue_label: str | None,
    as_json: bool,
) -> None:
    """Find data drift, outlier bursts and slices gone bad in a window of traffic.

    Numeric columns: PSI on the reference's deciles, Kolmogorov-Smirnov and Wasserstein;
    categorical ones: PSI and chi-square, unseen categories by name. A column drifts when
    its effect size crosses a threshold and the shift is significant after a Holm correction
    across columns. Exit 0 when nothing alerts (warnings included), 1 on an alert, 2 on bad input.
    """
    from mlrelease import config as cfgmod
    from mlrelease.monitor import report
    from mlrelease.monitor.run import monitor as run

    cfg = None
    if config_path is not None or Path("mlrelease.yaml").is_file():
        cfg = cfgmod.load(config_path, check_files=False)
    result = run(current, reference=reference, cfg=cfg, labels=labels, id_column=id_column, target=target)
    data = result.to_dict()
    if out_dir is not None:
        report.write_all(result, out_dir, model=cfg.model.name if cfg is not None else None)
    report.publish(result, out_dir)
    if as_json:
        click.echo(report.dumps(data))
    else:
        click.echo(report.markdown(result))
    if issue_label and result.verdict == "alert":
        action, number = report.open_issue(result, issue_label)
        click.echo(f"issue #{number} {action}", err=True)
    if result.verdict == "alert":
        ctx.exit(1)
