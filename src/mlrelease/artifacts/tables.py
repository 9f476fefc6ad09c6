"""The two tables ``mlrelease evaluate`` writes: ``predictions.parquet`` and ``golden.parquet``.

Each is a Parquet file whose rows the catalogue describes (``catalogue.ARTIFACTS``); the version
travels in the file's key-value metadata under ``mlrelease`` (``{"artifact": ..., "schema_version":
1}``), so a table written by a newer mlrelease is refused like a JSON artifact. A table without
that key (written before it existed, or by hand) is read as version 1. Every problem is one
``ArtifactError`` (exit 2) naming the file and how to write it again.

- ``PredictionsTable``: ``row_id``, ``prediction``, ``target``, ``proba:<class>`` and
  ``slice:<name>`` for every validation row; the gate's paired bootstrap reads it.
- ``GoldenRows``: a seeded sample of input rows as the model takes them, with ``row_id``,
  ``prediction`` and ``proba:<class>``; test-image and deploy replay it. A golden CSV (given with
  ``test-image --golden``) is read too, without a version.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Final

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlrelease.artifacts import write_bytes
from mlrelease.artifacts.metrics import PROBA_PREFIX
from mlrelease.errors import ArtifactError

PREDICTIONS_VERSION: Final = 1
GOLDEN_VERSION: Final = 1
META_KEY: Final = b"mlrelease"
ROW_ID: Final = "row_id"
PREDICTION: Final = "prediction"
TARGET: Final = "target"
HINT: Final = "write it again with `mlrelease evaluate -o DIR`"


def _to_parquet(frame: pd.DataFrame, kind: str, version: int) -> bytes:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[META_KEY] = json.dumps({"artifact": kind, "schema_version": version}, sort_keys=True).encode()
    buffer = io.BytesIO()
    pq.write_table(table.replace_schema_metadata(meta), buffer)
    return buffer.getvalue()


def _read_parquet(path: Path, kind: str, version: int) -> pd.DataFrame:
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise ArtifactError(f"{path}: no such file", hint=HINT) from None
    except (pa.ArrowException, OSError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ArtifactError(f"{path}: cannot read as parquet: {first}", hint=HINT) from None
    raw = (table.schema.metadata or {}).get(META_KEY)
    if raw is not None:
        try:
            meta = json.loads(raw)
            found = meta["schema_version"]
        except (ValueError, TypeError, KeyError):
            bad = f"{path}: its `mlrelease` metadata is not valid; not a {kind}"
            raise ArtifactError(bad, hint=HINT) from None
        if meta.get("artifact") != kind:
            raise ArtifactError(f"{path}: is a {meta.get('artifact')!r}, not a {kind}", hint=HINT)
        if found != version:
            newer = isinstance(found, int) and found > version
            raise ArtifactError(
                f"{path}: {kind} schema_version {found!r} is not {version}"
                + (": it was written by a newer mlrelease" if newer else ""),
                hint=("upgrade mlrelease, or " if newer else "") + HINT,
            )
    frame: pd.DataFrame = table.to_pandas()
    return frame


def _require(path: Path, frame: pd.DataFrame, kind: str, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ArtifactError(f"{path}: lacks the column(s) {', '.join(missing)}", hint=HINT)
    if frame.empty:
        raise ArtifactError(f"{path}: has no rows", hint=HINT)


@dataclass(frozen=True)
class PredictionsTable:
    """Every validation row's prediction, target, class probabilities and slice membership."""

    frame: pd.DataFrame
    NAME: ClassVar[str] = "predictions.parquet"

    def write(self, path: Path) -> None:
        write_bytes(path, _to_parquet(self.frame, self.NAME, PREDICTIONS_VERSION))

    @classmethod
    def read(cls, path: Path) -> PredictionsTable:
        frame = _read_parquet(Path(path), cls.NAME, PREDICTIONS_VERSION)
        _require(Path(path), frame, cls.NAME, (ROW_ID, PREDICTION, TARGET))
        return cls(frame)


@dataclass(frozen=True)
class GoldenRows:
    """The golden rows: the model's inputs with ``row_id``, ``prediction`` and ``proba:<class>``."""

    frame: pd.DataFrame
    NAME: ClassVar[str] = "golden.parquet"

    def write(self, path: Path) -> None:
        write_bytes(path, _to_parquet(self.frame, self.NAME, GOLDEN_VERSION))

    @classmethod
    def read(cls, path: Path) -> GoldenRows:
        path = Path(path)
        if path.suffix.lower() == ".csv":
            try:
                frame = pd.read_csv(path)
            except FileNotFoundError:
                raise ArtifactError(f"{path}: no such file", hint=HINT) from None
            except (ValueError, OSError, pd.errors.ParserError) as exc:
                bad = f"{path}: cannot read as CSV, not golden rows: {exc}"
                raise ArtifactError(bad, hint=HINT) from None
        else:
            frame = _read_parquet(path, cls.NAME, GOLDEN_VERSION)
        _require(path, frame, cls.NAME, (ROW_ID, PREDICTION))
        return cls(frame)

    @property
    def proba_columns(self) -> list[str]:
        return [str(c) for c in self.frame.columns if str(c).startswith(PROBA_PREFIX)]

    @property
    def inputs(self) -> pd.DataFrame:
        """The model's input columns alone."""
        return self.frame.drop(columns=[ROW_ID, PREDICTION, *self.proba_columns])
