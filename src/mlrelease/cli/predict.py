"""``mlrelease predict``: load the handoff's model and predict on a table."""

from __future__ import annotations

from pathlib import Path

import click

from mlrelease.cli.options import config_option, data_option, json_option


@click.command()
@config_option
@data_option("CSV or Parquet to predict on. Default: validation.data from mlrelease.yaml.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write all predictions here (.csv/.parquet).",
)
@click.option("--rows", default=10, show_default=True, help="How many rows the table shows.")
@json_option
def predict(
    config_path: str | None, data: Path | None, output: Path | None, rows: int, as_json: bool
) -> None:
    """Load the model from mlrelease.yaml and predict on DATA, printing a short table.

    A regression shows the target and each prediction's error; a classifier shows the predicted
    label, the probability of each class and, when DATA holds the target, whether it was right.
    """
    from mlrelease import config as cfgmod
    from mlrelease import prediction
    from mlrelease.errors import UsageError

    cfg = cfgmod.load(config_path)
    if data is None:
        if cfg.validation is None:
            raise UsageError("no --data given and mlrelease.yaml has no validation.data")
        data = cfg.validation.data
    if output is not None:
        from mlrelease.artifacts import check_writable

        prediction.check_output(output)
        check_writable(output)
    result = prediction.predict_file(cfg, data)
    # Everything shown is computed before the file is written: a failure leaves no output behind.
    text = result.to_json(rows) if as_json else None
    table = None if as_json else prediction.table(result, rows)
    if output is not None:
        prediction.write_predictions(result.frame, output)
    if text is not None:
        click.echo(text)
    else:
        from mlrelease import terminal

        terminal.console().print(table)
