"""``gate.json`` read back: the verdict and what it was against, for the steps after the gate."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mlrelease.errors import UsageError

GATE_FILE = "gate.json"


@dataclass(frozen=True)
class GateRecord:
    path: Path
    verdict: Literal["pass", "fail"]
    headline: str
    baseline_release: str | None  # "v3" when the baseline came from the release registry
    baseline_metrics: str | None  # the metrics.json the candidate was compared with, if any

    @classmethod
    def read(cls, path: Path) -> GateRecord:
        """Read ``path`` (gate.json, or the folder `mlrelease gate -o` wrote)."""
        path = Path(path)
        if path.is_dir():
            path = path / GATE_FILE
        try:
            data = json.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            raise UsageError(f"{path}: no such file", hint="run `mlrelease gate -o DIR` first") from None
        except (OSError, ValueError) as exc:
            raise UsageError(f"{path}: not readable as JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("schema_version") != 1:
            raise UsageError(f"{path}: not a gate.json of this version", hint="re-run `mlrelease gate`")
        verdict = data.get("verdict")
        if verdict not in ("pass", "fail"):
            raise UsageError(f"{path}: verdict: {verdict!r} is neither 'pass' nor 'fail'")
        base = data.get("baseline") if isinstance(data.get("baseline"), dict) else {}
        return cls(
            path=path,
            verdict=verdict,
            headline=str(data.get("headline", "")),
            baseline_release=base.get("release"),
            baseline_metrics=base.get("metrics"),
        )
