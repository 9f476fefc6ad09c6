"""Build the newcomer handoffs under tests/fixtures/handoff-*/ (committed; re-run to regenerate).

PYTHONPATH=src .venv/bin/python tests/handoffs/build_fixtures.py

- ``handoff-churn``: a binary churn classifier (a RandomForest in a Pipeline with a OneHotEncoder
  and a StandardScaler), laid out as a newcomer lays it out: the model under ``ml/models/``, the
  data under ``datasets/``, the notebook under ``analysis/``.
- ``handoff-energy``: an energy-use regressor (GradientBoostingRegressor): the production model
  under ``models/``, a worse experiment under ``experiments/``, the requirements under ``env/``.

Everything is seeded and the skops files are written with the example's reproducible zip layout,
so running this twice gives the same bytes. The locks (``requirements.txt``) are written by
``mlrelease lock`` and kept when the ``.in`` files do not change.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
CHURN = FIXTURES / "handoff-churn"
ENERGY = FIXTURES / "handoff-energy"


def _save_reproducibly():
    train = ROOT / "examples" / "brno-houses" / "train.py"
    spec = importlib.util.spec_from_file_location("brno_train", train)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.save_reproducibly


# ----------------------------------------------------------------------------- churn


def churn_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "standard", "premium"], size=n, p=[0.5, 0.3, 0.2])
    contract = rng.choice(["monthly", "yearly"], size=n, p=[0.6, 0.4])
    tenure = rng.integers(1, 73, n)
    extra = np.select([plan == "premium", plan == "standard"], [30, 10], 0)
    charges = (rng.normal(50, 15, n) + extra).round(2)
    tickets = rng.poisson(1.2, n)
    logit = -1.2 + 0.9 * (contract == "monthly") - 0.04 * tenure + 0.5 * tickets + 0.01 * (charges - 50)
    churned = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame(
        {
            "customer_id": [f"c{seed}{i:05d}" for i in range(n)],
            "plan": plan,
            "contract": contract,
            "tenure_months": tenure,
            "monthly_charges": charges,
            "support_tickets": tickets,
            "churned": churned,
        }
    )


CHURN_FEATURES = ["plan", "contract", "tenure_months", "monthly_charges", "support_tickets"]

CHURN_YAML = """\
# A newcomer's churn classifier: model under ml/models, data under datasets, notebook under analysis.
version: 1
model:
  name: churn
  task: classification
  artifact: ml/models/churn.skops
  target: churned
  id_column: customer_id
  # Reviewed: the fitted trees of the random forest.
  trusted_types: [sklearn.tree._tree.Tree]
notebooks:
  - "analysis/*.ipynb"
requirements: requirements.in
lock: requirements.txt
validation:
  data: datasets/validation.csv
  reference: datasets/reference.csv
  golden_rows: 40
  slices:
    - {name: monthly, column: contract, values: [monthly], max_regression: 10%}
gate:
  metrics:
    roc_auc_score: {max_regression: 0.02, min: 0.6}
    balanced_accuracy_score: {max_regression: 0.03}
    log_loss: {max_regression: 5%}
"""

CHURN_REQUIREMENTS = "# What the churn model needs at run time.\nnumpy\npandas\nscikit-learn\nskops\n"


def churn_model(train: pd.DataFrame) -> Pipeline:
    encode = ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore"), ["plan", "contract"]),
            ("numbers", StandardScaler(), ["tenure_months", "monthly_charges", "support_tickets"]),
        ]
    )
    forest = RandomForestClassifier(n_estimators=25, max_depth=5, random_state=0, n_jobs=1)
    return Pipeline([("encode", encode), ("forest", forest)]).fit(train[CHURN_FEATURES], train["churned"])


# ----------------------------------------------------------------------------- energy


def energy_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    temperature = rng.normal(10, 8, n).round(1)
    hour = rng.integers(0, 24, n)
    weekend = (rng.random(n) < 2 / 7).astype(int)
    area = rng.lognormal(7, 0.5, n).round(0)
    heating = np.maximum(18 - temperature, 0) * 0.8
    occupancy = np.where((hour >= 8) & (hour < 18) & (weekend == 0), 1.0, 0.4)
    kwh = (area / 100 * (heating * 0.3 + occupancy * 2) + rng.normal(0, 1.5, n)).round(2)
    return pd.DataFrame(
        {
            "reading_id": [f"e{seed}{i:05d}" for i in range(n)],
            "temperature_c": temperature,
            "hour": hour,
            "is_weekend": weekend,
            "floor_area_m2": area,
            "consumption_kwh": kwh,
        }
    )


ENERGY_FEATURES = ["temperature_c", "hour", "is_weekend", "floor_area_m2"]

ENERGY_YAML = """\
# A newcomer's energy regressor: production model under models, an experiment under experiments,
# requirements under env.
version: 1
model:
  name: energy-use
  task: regression
  artifact: models/production.skops
  target: consumption_kwh
  id_column: reading_id
  # Reviewed: the fitted trees of the boosting stages.
  trusted_types: [sklearn.tree._tree.Tree]
notebooks:
  - "notebooks/*.ipynb"
requirements: env/requirements.in
lock: env/requirements.txt
validation:
  data: data/validation.csv
  reference: data/reference.csv
  golden_rows: 40
gate:
  metrics:
    root_mean_squared_error: {max_regression: 5%}
    r2_score: {min: 0.5}
"""

ENERGY_REQUIREMENTS = "# What the energy model needs at run time.\nnumpy\npandas\nscikit-learn\nskops\n"


def energy_model(train: pd.DataFrame, **params: int) -> GradientBoostingRegressor:
    model = GradientBoostingRegressor(random_state=0, **params)
    return model.fit(train[ENERGY_FEATURES], train["consumption_kwh"])


# ----------------------------------------------------------------------------- notebook


def notebook(cells: list[str]) -> str:
    """An executed notebook (counts in order, no outputs), as Jupyter saves it."""
    doc = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": i,
                "id": f"cell-{i}",
                "metadata": {},
                "outputs": [],
                "source": source.splitlines(keepends=True),
            }
            for i, source in enumerate(cells, 1)
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(doc, indent=1) + "\n"


CHURN_NOTEBOOK = [
    "import pandas as pd\nimport skops.io as sio\n"
    "from sklearn.compose import ColumnTransformer\n"
    "from sklearn.ensemble import RandomForestClassifier\n"
    "from sklearn.pipeline import Pipeline\n"
    "from sklearn.preprocessing import OneHotEncoder, StandardScaler",
    'train = pd.read_csv("../datasets/reference.csv")\n'
    'features = ["plan", "contract", "tenure_months", "monthly_charges", "support_tickets"]',
    "encode = ColumnTransformer(\n"
    '    [\n        ("categories", OneHotEncoder(handle_unknown="ignore"), ["plan", "contract"]),\n'
    '        ("numbers", StandardScaler(), ["tenure_months", "monthly_charges", "support_tickets"]),\n'
    "    ]\n)\n"
    "forest = RandomForestClassifier(n_estimators=25, max_depth=5, random_state=0, n_jobs=1)\n"
    'model = Pipeline([("encode", encode), ("forest", forest)]).fit(train[features], train["churned"])',
    'sio.dump(model, "../ml/models/churn.skops")',
]


ENERGY_NOTEBOOK = [
    "import pandas as pd\nimport skops.io as sio\nfrom sklearn.ensemble import GradientBoostingRegressor",
    'train = pd.read_csv("../data/reference.csv")\n'
    'features = ["temperature_c", "hour", "is_weekend", "floor_area_m2"]',
    "model = GradientBoostingRegressor(random_state=0, n_estimators=40, max_depth=3)\n"
    'model = model.fit(train[features], train["consumption_kwh"])',
    'sio.dump(model, "../models/production.skops")',
]


# ----------------------------------------------------------------------------- writing


def _fresh(root: Path, keep: list[str]) -> dict[str, bytes]:
    """Empty ``root`` but remember the files in ``keep`` (the locks), to restore them."""
    kept = {name: (root / name).read_bytes() for name in keep if (root / name).is_file()}
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    return kept


def build_churn(save) -> None:
    kept = _fresh(CHURN, ["requirements.txt"])
    reference = churn_frame(600, 1)
    validation = churn_frame(300, 2)
    (CHURN / "datasets").mkdir()
    reference.to_csv(CHURN / "datasets" / "reference.csv", index=False)
    validation.to_csv(CHURN / "datasets" / "validation.csv", index=False)
    save(churn_model(reference), CHURN / "ml" / "models" / "churn.skops")
    (CHURN / "analysis").mkdir()
    (CHURN / "analysis" / "churn.ipynb").write_text(notebook(CHURN_NOTEBOOK))
    (CHURN / "mlrelease.yaml").write_text(CHURN_YAML)
    (CHURN / "requirements.in").write_text(CHURN_REQUIREMENTS)
    for name, data in kept.items():
        (CHURN / name).write_bytes(data)


def build_energy(save) -> None:
    kept = _fresh(ENERGY, ["env/requirements.txt"])
    reference = energy_frame(600, 3)
    validation = energy_frame(300, 4)
    (ENERGY / "data").mkdir()
    reference.to_csv(ENERGY / "data" / "reference.csv", index=False)
    validation.to_csv(ENERGY / "data" / "validation.csv", index=False)
    save(energy_model(reference, n_estimators=40, max_depth=3), ENERGY / "models" / "production.skops")
    # The experiment: too few, too shallow trees; clearly worse than production.
    save(energy_model(reference, n_estimators=5, max_depth=1), ENERGY / "experiments" / "shallow.skops")
    (ENERGY / "notebooks").mkdir()
    (ENERGY / "notebooks" / "energy.ipynb").write_text(notebook(ENERGY_NOTEBOOK))
    (ENERGY / "env").mkdir()
    (ENERGY / "env" / "requirements.in").write_text(ENERGY_REQUIREMENTS)
    (ENERGY / "mlrelease.yaml").write_text(ENERGY_YAML)
    for name, data in kept.items():
        (ENERGY / name).write_bytes(data)


def main() -> None:
    save = _save_reproducibly()
    build_churn(save)
    build_energy(save)


if __name__ == "__main__":
    main()
