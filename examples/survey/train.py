"""Train the survey classifier on the young respondents and save it with skops.

python train.py        # model/model.skops
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

HERE = Path(__file__).parent
FEATURES = ["age", "hours_online", "faculty"]


def main() -> None:
    train = pd.read_csv(HERE / "data" / "train.csv")
    encode = ColumnTransformer(
        [
            ("numbers", StandardScaler(), ["age", "hours_online"]),
            ("faculty", OneHotEncoder(handle_unknown="ignore"), ["faculty"]),
        ]
    )
    model = Pipeline([("encode", encode), ("classify", LogisticRegression(max_iter=1000))])
    model.fit(train[FEATURES], train["answer"])
    (HERE / "model").mkdir(exist_ok=True)
    sio.dump(model, HERE / "model" / "model.skops")
    print("untrusted types to review:", sio.get_untrusted_types(file=HERE / "model" / "model.skops"))


if __name__ == "__main__":
    main()
