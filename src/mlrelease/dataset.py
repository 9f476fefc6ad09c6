"""Reading the handoff's tabular data (CSV or Parquet) with clear errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlrelease.errors import DataError

READERS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file; any failure names the file and what was expected."""
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"{path}: expected a .csv or .parquet file, got '{path.suffix or 'no extension'}'")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        frame = pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)
    except (ValueError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: cannot read as {kind}: {first}") from None
    if frame.empty:
        raise DataError(f"{path}: the file has no rows")
    return frame
