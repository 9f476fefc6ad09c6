"""Handoff folders laid out the ways researchers lay them out, built in a test's tmp_path.

Each builder writes a complete handoff (a real skops model, real data, a notebook, requirements)
and returns its folder; the models are small so a whole layout builds in well under a second.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "a1",
            "metadata": {},
            "outputs": [],
            "source": "1",
        }
    ],
    "metadata": {},
    "nbformat": 4,
    "nbformat_minor": 5,
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_hashes(root: Path) -> dict[str, str]:
    """Every file under ``root`` and its sha256: what a command must leave as it was."""
    return {p.relative_to(root).as_posix(): sha256(p) for p in sorted(root.rglob("*")) if p.is_file()}


def churn_frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, n)
    plan = rng.choice(["basic", "plus", "pro"], n)
    churned = ((tenure < 12) | (plan == "basic")).astype(int)
    return pd.DataFrame(
        {"tenure_months": tenure, "plan": plan, "monthly_fee": rng.normal(30, 5, n), "churned": churned}
    )


def energy_frame(n: int = 200, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    temp = rng.normal(10, 8, n)
    hour = rng.integers(0, 24, n)
    return pd.DataFrame(
        {"temperature_c": temp, "hour": hour, "load_kwh": 500 - 9 * temp + 3 * hour + rng.normal(0, 5, n)}
    )


@cache
def classifier_bytes(tree: bool = False) -> bytes:
    """A one-hot + scaler pipeline: logistic regression (no untrusted types) or a random forest."""
    import skops.io as sio
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = churn_frame()
    prep = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["plan"]),
        (StandardScaler(), ["tenure_months", "monthly_fee"]),
    )
    estimator = RandomForestClassifier(n_estimators=3, random_state=0) if tree else LogisticRegression()
    model = make_pipeline(prep, estimator).fit(frame.drop(columns="churned"), frame["churned"])
    return sio.dumps(model)


@cache
def regressor_bytes(alpha: float = 1.0) -> bytes:
    import skops.io as sio
    from sklearn.linear_model import Ridge

    frame = energy_frame()
    return sio.dumps(Ridge(alpha=alpha).fit(frame.drop(columns="load_kwh"), frame["load_kwh"]))


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def notebook(path: Path) -> Path:
    return write(path, json.dumps(NOTEBOOK))


def classifier_handoff(root: Path, *, tree: bool = False) -> Path:
    """The churn layout: model under ml/models/, data under datasets/, notebook under analysis/."""
    write(root / "ml" / "models" / "churn.skops", classifier_bytes(tree))
    frame = churn_frame()
    (root / "datasets").mkdir(parents=True)
    frame.iloc[:150].to_parquet(root / "datasets" / "train.parquet")
    frame.iloc[150:].to_parquet(root / "datasets" / "val.parquet")
    notebook(root / "analysis" / "churn_model.ipynb")
    write(root / "requirements.in", "pandas\nscikit-learn\nskops\n")
    return root


def energy_handoff(root: Path) -> Path:
    """The energy layout: requirements under env/, a production model and a worse experiment."""
    write(root / "models" / "production.skops", regressor_bytes(1.0))
    write(root / "models" / "experiment.skops", regressor_bytes(1000.0))
    frame = energy_frame()
    (root / "data").mkdir(parents=True)
    frame.iloc[:150].to_parquet(root / "data" / "train.parquet")
    frame.iloc[150:].to_parquet(root / "data" / "valid.parquet")
    notebook(root / "notebooks" / "energy.ipynb")
    write(root / "env" / "requirements.in", "pandas\nscikit-learn\n")
    write(root / "env" / "requirements-dev.in", "pytest\n")
    return root


def loose_requirements_handoff(root: Path, *, notebooks_at_root: bool = True) -> Path:
    """The issue's case: only a loose requirements.txt, notebooks at the root, a model, data."""
    write(root / "model.skops", regressor_bytes(1.0))
    energy_frame().to_csv(write(root / "data" / "validation.csv", ""), index=False)
    if notebooks_at_root:
        notebook(root / "explore.ipynb")
        notebook(root / "train model.ipynb")
    write(root / "requirements.txt", "pandas>=2\nscikit-learn  # the model\nskops\n")
    return root
