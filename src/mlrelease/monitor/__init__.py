"""Monitoring: data drift, outlier bursts and slices gone bad, from the server's request logs.

- ``sources``: windows of rows from request logs (JSONL files or folders), CSV or Parquet,
  read in batches.
- ``stats``: the exact statistics (KS, Wasserstein, PSI, chi-square), one sort per column.
- ``drift``: verdicts from effect sizes and corrected p-values, thresholds per column.
- ``analyse``: one run, overall, per slice, outliers and quality against late labels.
- ``report``: ``drift.json`` (reader, writer, schema), the Markdown summary and the HTML report.
- ``run``: what ``mlrelease monitor`` does, without click.
"""
