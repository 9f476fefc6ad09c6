"""``mlrelease init``: write an ``mlrelease.yaml`` for a handoff folder by looking at what is there."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mlrelease.artifacts import write_text
from mlrelease.config import CONFIG_NAME, FORMAT_BY_SUFFIX
from mlrelease.errors import UsageError

TARGET_NAMES = ("target", "label", "y", "price", "class", "outcome", "score")
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".ipynb_checkpoints"}


@dataclass
class Scaffold:
    """What ``init`` found, and the YAML it writes."""

    name: str
    task: str
    artifact: str | None
    target: str | None
    notebooks: list[str]
    requirements: str | None
    validation: str | None
    reference: str | None
    notes: list[str] = field(default_factory=list)

    def to_yaml(self) -> str:
        lines = [
            "# The handoff contract of this model. Reference: schemas/mlrelease.schema.json",
            "version: 1",
            "model:",
            f"  name: {self.name}",
            f"  task: {self.task}",
        ]
        if self.artifact:
            lines.append(f"  artifact: {self.artifact}")
        if self.target:
            lines.append(f"  target: {self.target}")
        if self.notebooks:
            lines.append("notebooks:")
            lines += [f"  - {nb}" for nb in self.notebooks]
        if self.requirements:
            lines.append(f"requirements: {self.requirements}")
        if self.validation:
            lines += ["validation:", f"  data: {self.validation}"]
            if self.reference:
                lines.append(f"  reference: {self.reference}")
        metric = "root_mean_squared_error" if self.task == "regression" else "accuracy_score"
        lines += ["gate:", "  metrics:", f"    {metric}: {{max_regression: 2%}}"]
        return "\n".join(lines) + "\n"


def _files(root: Path, suffixes: tuple[str, ...]) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        found += [Path(dirpath) / f for f in sorted(filenames) if f.lower().endswith(suffixes)]
    return found


def dns_name(text: str) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:63].strip("-")
    return name or "model"


def infer_target(frame: pd.DataFrame) -> tuple[str, str]:
    """Guess the target column and the task from the data; the reason goes into the notes."""
    cols = list(frame.columns)
    by_lower = {c.lower(): c for c in cols}
    target = next((by_lower[n] for n in TARGET_NAMES if n in by_lower), None)
    if target is None:
        target = next((c for c in cols if re.search(r"(^|_)(target|label|price)($|_)", c.lower())), cols[-1])
    series = frame[target].dropna()
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    distinct = series.nunique()
    regression = numeric and (pd.api.types.is_float_dtype(series) or distinct > max(20, len(series) // 20))
    return target, "regression" if regression else "classification"


def scaffold(root: Path) -> Scaffold:
    root = root.resolve()
    if not root.is_dir():
        raise UsageError(f"{root}: not a folder")
    rel = lambda p: p.relative_to(root).as_posix()  # noqa: E731 - a one-line local helper
    models = _files(root, tuple(FORMAT_BY_SUFFIX))
    notebooks = _files(root, (".ipynb",))
    tables = _files(root, (".csv", ".parquet"))
    notes: list[str] = []
    artifact = rel(models[0]) if models else None
    if len(models) > 1:
        notes.append(f"found {len(models)} model files, chose {artifact}")
    if artifact is None:
        notes.append(
            "no model file found (.skops, .joblib, .pkl, .onnx): set model.artifact or model.entrypoint"
        )

    def pick(words: tuple[str, ...]) -> Path | None:
        return next((t for t in tables if any(w in t.stem.lower() for w in words)), None)

    validation = pick(("valid", "test", "holdout", "eval"))
    reference = pick(("reference", "train", "ref"))
    if validation is None and tables:
        validation = tables[0]
    target = task = None
    if validation is not None:
        try:
            frame = (
                pd.read_csv(validation, nrows=5000)
                if validation.suffix == ".csv"
                else pd.read_parquet(validation)
            )
        except Exception as exc:  # any unreadable table only lowers what we can infer
            notes.append(f"could not read {rel(validation)} to infer the target: {exc}")
        else:
            target, task = infer_target(frame)
            notes.append(f"target '{target}' and task '{task}' inferred from {rel(validation)}")
    req = next((n for n in ("requirements.in", "requirements.txt") if (root / n).is_file()), None)
    nb_patterns = sorted({(Path(rel(n)).parent / "*.ipynb").as_posix() for n in notebooks})
    return Scaffold(
        name=dns_name(root.name),
        task=task or "regression",
        artifact=artifact,
        target=target,
        notebooks=nb_patterns,
        requirements=req,
        validation=rel(validation) if validation else None,
        reference=rel(reference) if reference and reference != validation else None,
        notes=notes,
    )


def init(root: Path, *, force: bool = False) -> tuple[Path, Scaffold]:
    target = root / CONFIG_NAME
    if target.exists() and not force:
        raise UsageError(f"{target} already exists", hint="pass --force to overwrite it")
    found = scaffold(root)
    write_text(target, found.to_yaml())
    return target, found
