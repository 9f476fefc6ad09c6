"""Build the evaluate fixtures under tests/fixtures/eval-*/ (committed; re-run to regenerate).

.venv/bin/python tests/evaluate/build_fixtures.py
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.linear_model import LinearRegression, LogisticRegression

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def regression_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(10, 3, n).round(3)
    x2 = rng.integers(0, 5, n)
    group = np.where(rng.random(n) < 0.3, "small", "large")
    y = (3 * x1 + 2 * x2 + rng.normal(0, 1, n) + 50).round(3)
    return pd.DataFrame({"id": [f"r{i:04d}" for i in range(n)], "x1": x1, "x2": x2, "group": group, "y": y})


def classification_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(0, 1, n).round(4)
    x2 = rng.normal(0, 1, n).round(4)
    score = x1 + 0.5 * x2 + rng.normal(0, 0.7, n)
    label = np.select([score < -0.5, score < 0.6], ["low", "mid"], "high")
    return pd.DataFrame({"x1": x1, "x2": x2, "label": label})


REGRESSION_YAML = """\
model:
  name: eval-regression
  task: regression
  artifact: {artifact}
  target: y
  id_column: id
{extra}notebooks: []
requirements: requirements.in
validation:
  data: data/validation.csv
  reference: data/reference.csv
  golden_rows: 50
  slices:
    - {{name: small, column: group, values: [small], max_regression: 5%}}
    - {{name: high-x2, column: x2, min: 3}}
gate:
  metrics:
    root_mean_squared_error: {{max_regression: 2%}}
    r2_score: {{min: 0.5}}
"""


def write_handoff(name: str, yaml_text: str, frames: dict[str, pd.DataFrame]) -> Path:
    root = FIXTURES / name
    shutil.rmtree(root, ignore_errors=True)
    (root / "data").mkdir(parents=True)
    (root / "mlrelease.yaml").write_text(yaml_text)
    (root / "requirements.in").write_text("scikit-learn\n")
    for file, frame in frames.items():
        frame.to_csv(root / "data" / file, index=False)
    return root


def main() -> None:
    ref = regression_frame(600, 1)
    val = regression_frame(400, 2)
    features = ["x1", "x2"]
    reg = LinearRegression().fit(ref[features], ref["y"])

    root = write_handoff(
        "eval-regression",
        REGRESSION_YAML.format(artifact="model.skops", extra=""),
        {"validation.csv": val, "reference.csv": ref},
    )
    sio.dump(reg, root / "model.skops")

    root = FIXTURES / "eval-pickle"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    joblib.dump(reg, root / "model.joblib")
    digest = hashlib.sha256((root / "model.joblib").read_bytes()).hexdigest()
    write_handoff(
        "eval-pickle",
        REGRESSION_YAML.format(artifact="model.joblib", extra=f"  allow_pickle: true\n  sha256: {digest}\n"),
        {"validation.csv": val, "reference.csv": ref},
    )
    joblib.dump(reg, root / "model.joblib")

    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    onx = convert_sklearn(reg, initial_types=[("X", FloatTensorType([None, 2]))], target_opset=17)
    root = write_handoff(
        "eval-onnx",
        REGRESSION_YAML.format(artifact="model.onnx", extra="  features: [x1, x2]\n"),
        {"validation.csv": val, "reference.csv": ref},
    )
    (root / "model.onnx").write_bytes(onx.SerializeToString())

    root = write_handoff(
        "eval-entrypoint",
        REGRESSION_YAML.replace("artifact: {artifact}", "entrypoint: model.py:load").format(extra=""),
        {"validation.csv": val, "reference.csv": ref},
    )
    (root / "model.py").write_text(
        '"""A hand-written model: the handoff\'s own code behind predict(DataFrame)."""\n\n'
        "import numpy as np\n\n\n"
        "class Rule:\n"
        '    feature_names_in_ = np.array(["x1", "x2"])\n\n'
        "    def predict(self, frame):\n"
        '        return 3.0 * frame["x1"].to_numpy() + 2.0 * frame["x2"].to_numpy() + 50.0\n\n\n'
        "def load():\n"
        "    return Rule()\n"
    )

    bad = val.drop(columns=["x2"]).assign(junk=1, x1=[f"v{i}" for i in range(len(val))])
    root = write_handoff(
        "eval-bad-columns",
        REGRESSION_YAML.format(artifact="model.skops", extra=""),
        {"validation.csv": bad, "reference.csv": ref},
    )
    sio.dump(reg, root / "model.skops")

    cref = classification_frame(800, 3)
    cval = classification_frame(500, 4)
    clf = LogisticRegression(max_iter=500).fit(cref[["x1", "x2"]], cref["label"])
    root = write_handoff(
        "eval-classification",
        "model:\n  name: eval-classification\n  task: classification\n  artifact: model.skops\n"
        "  target: label\nnotebooks: []\nrequirements: requirements.in\n"
        "validation:\n  data: data/validation.csv\n  reference: data/reference.csv\n  golden_rows: 20\n"
        "gate:\n  metrics:\n    f1_macro_score: {max_regression: 2%}\n    accuracy_score: {min: 0.6}\n",
        {"validation.csv": cval, "reference.csv": cref},
    )
    sio.dump(clf, root / "model.skops")


if __name__ == "__main__":
    main()
