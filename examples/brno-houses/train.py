"""Train the Brno house-price model and save it with skops.

    python train.py                       # the candidate: model/model.skops
    python train.py --variant baseline    # the model in production, for baseline/

The pipeline encodes the two categorical columns and fits a gradient-boosted tree ensemble on
log prices. Training is deterministic, and the saved file is written with fixed zip timestamps, so
the same data gives the same bytes.
"""

from __future__ import annotations

import argparse
import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

HERE = Path(__file__).parent
FEATURES = [
    "area_m2",
    "rooms",
    "floor",
    "year_built",
    "distance_to_centre_km",
    "district",
    "energy_class",
    "has_balcony",
    "has_elevator",
]
CATEGORICAL = ["district", "energy_class"]
TARGET = "price"
VARIANTS = {
    # The candidate: deeper trees, more iterations.
    "candidate": {"max_iter": 200, "learning_rate": 0.08, "max_leaf_nodes": 15, "min_samples_leaf": 40},
    # The model in production: an earlier, smaller configuration.
    "baseline": {"max_iter": 60, "learning_rate": 0.1, "max_leaf_nodes": 8, "min_samples_leaf": 40},
}


def build(variant: str) -> TransformedTargetRegressor:
    encode = ColumnTransformer(
        [("categories", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), CATEGORICAL)],
        remainder="passthrough",
        verbose_feature_names_out=False,
    )
    boost = HistGradientBoostingRegressor(
        categorical_features=[0, 1], random_state=0, early_stopping=False, **VARIANTS[variant]
    )
    pipeline = Pipeline([("encode", encode), ("boost", boost)])
    return TransformedTargetRegressor(regressor=pipeline, func=np.log, inverse_func=np.exp)


def save_reproducibly(model: object, path: Path) -> None:
    """skops names array files after object ids and stamps the current time into its zip;
    rename the files in order of appearance and use a fixed timestamp, so equal models give
    equal bytes."""
    raw = sio.dumps(model)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        schema = src.read("schema.json").decode()
        members = [n for n in src.namelist() if n != "schema.json"]
        members.sort(key=lambda n: schema.find(f'"{n}"'))
        renamed = {old: f"{i:04d}{Path(old).suffix}" for i, old in enumerate(members)}
        for old, new in renamed.items():
            schema = schema.replace(f'"{old}"', f'"{new}"')
        ids: dict[str, str] = {}  # object ids (memo keys) renumbered in order of appearance
        schema = re.sub(
            r'"__id__": (\d+)', lambda m: f'"__id__": {ids.setdefault(m[1], str(len(ids) + 1))}', schema
        )
        entries = {"schema.json": schema.encode(), **{renamed[n]: src.read(n) for n in members}}
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(info, entries[name])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="candidate")
    parser.add_argument("--data", type=Path, default=HERE / "data" / "reference.csv")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    default_out = HERE / ("model" if args.variant == "candidate" else "baseline") / "model.skops"
    out = args.out or default_out
    frame = pd.read_csv(args.data)
    model = build(args.variant).fit(frame[FEATURES], frame[TARGET])
    save_reproducibly(model, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
