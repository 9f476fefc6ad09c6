"""A classifier over real sockets: labels and class probabilities in every protocol, exactly as
the model's own predict and predict_proba give them, outputs described as they are returned."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from servekit import EXAMPLE, REPO, payload, with_serving
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

from mlrelease import config as cfgmod
from mlrelease.config import ClassificationServing, Config
from mlrelease.model import LoadedModel
from mlrelease.serve.compiled import CompiledBoosting, compile_for_serving
from mlrelease.serve.service import Service, load_service
from mlrelease.signature import infer_signature

FIXTURE = REPO / "tests" / "fixtures" / "eval-classification"
NAME = "eval-classification"
PATHS = {
    "native": "/predict",
    "v1": f"/v1/models/{NAME}:predict",
    "v2": f"/v2/models/{NAME}/infer",
    "mlflow": "/invocations",
}


@pytest.fixture(scope="module")
def clf_cfg() -> Config:
    return cfgmod.load(str(FIXTURE))


@pytest.fixture(scope="module")
def clf_service(clf_cfg: Config) -> Service:
    return load_service(clf_cfg)


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return pd.read_csv(FIXTURE / "data" / "validation.csv").head(5)


def bodies(frame: pd.DataFrame) -> dict[str, dict]:
    records = frame[["x1", "x2"]].to_dict(orient="records")
    return {
        "native": {"records": records},
        "v1": {"instances": records},
        "v2": {
            "inputs": [
                {"name": c, "shape": [len(frame)], "datatype": "FP64", "data": frame[c].tolist()}
                for c in ("x1", "x2")
            ]
        },
        "mlflow": {"dataframe_split": {"columns": ["x1", "x2"], "data": frame[["x1", "x2"]].values.tolist()}},
    }


def test_every_protocol_answers_labels_and_the_models_own_probabilities(
    start_server, clf_cfg, clf_service, rows
):
    est = clf_service.model.estimator
    labels = est.predict(rows[["x1", "x2"]]).tolist()
    proba = est.predict_proba(rows[["x1", "x2"]]).tolist()
    classes = ["high", "low", "mid"]
    server = start_server(clf_cfg, clf_service)
    send = bodies(rows)

    status, native, _ = server.post(PATHS["native"], send["native"])
    assert status == 200, native
    assert native["predictions"] == labels and native["classes"] == classes
    assert native["probabilities"] == proba  # the same floats, not merely close ones

    status, v1, _ = server.post(PATHS["v1"], send["v1"])
    assert status == 200 and v1 == {"predictions": labels}  # KServe v1: labels unless asked
    status, v1p, _ = server.post(PATHS["v1"], {**send["v1"], "parameters": {"predict_proba": True}})
    assert status == 200 and v1p == {"predictions": proba}  # as KServe's PREDICT_PROBA answers

    status, v2, _ = server.post(PATHS["v2"], send["v2"])
    assert status == 200, v2
    out = {o["name"]: o for o in v2["outputs"]}
    assert list(out) == ["predict", "predict_proba"]
    assert out["predict"] == {"name": "predict", "datatype": "BYTES", "shape": [5], "data": labels}
    assert out["predict_proba"]["datatype"] == "FP64" and out["predict_proba"]["shape"] == [5, 3]
    assert out["predict_proba"]["data"] == [p for row in proba for p in row]

    status, mlflow, _ = server.post(PATHS["mlflow"], send["mlflow"])
    assert status == 200, mlflow
    assert mlflow["predictions"] == [
        {"prediction": label, **{f"proba:{c}": p for c, p in zip(classes, row, strict=True)}}
        for label, row in zip(labels, proba, strict=True)
    ]
    status, version = server.request("GET", "/version")[0], server.request("GET", "/version")[2]
    assert status == 200 and b'"classes":["high","low","mid"]' in version


def v2_metadata_matches(server, path: str, body: dict) -> None:
    status, meta, _ = server.post(path, body)  # an infer answer
    assert status == 200, meta
    _, _, raw = server.request("GET", path.rsplit("/infer", 1)[0])
    import json

    described = json.loads(raw)["outputs"]
    assert [(o["name"], o["datatype"]) for o in described] == [
        (o["name"], o["datatype"]) for o in meta["outputs"]
    ]
    for d, o in zip(described, meta["outputs"], strict=True):
        assert len(d["shape"]) == len(o["shape"])
        assert all(a in (-1, b) for a, b in zip(d["shape"], o["shape"], strict=True))


def test_v2_metadata_describes_the_outputs_exactly_as_infer_returns_them(
    start_server, clf_cfg, clf_service, rows, example_cfg, example_service
):
    v2_metadata_matches(start_server(clf_cfg, clf_service), PATHS["v2"], bodies(rows)["v2"])
    regressor = start_server(example_cfg, example_service)
    v2_metadata_matches(regressor, "/v2/models/brno-house-prices/infer", payload("v2-columns.json"))
    binary = boosted_service(clf_cfg)
    server = start_server(clf_cfg, binary)
    frame = flats(8)
    frame["b"] = frame["b"].fillna(0.0)  # JSON has no NaN; whether flats drew one depends on test order
    body = {
        "inputs": [
            {"name": "kind", "shape": [8], "datatype": "BYTES", "data": frame["kind"].tolist()},
            {"name": "b", "shape": [8], "datatype": "FP64", "data": frame["b"].tolist()},
            {"name": "c", "shape": [8], "datatype": "FP64", "data": frame["c"].tolist()},
        ]
    }
    v2_metadata_matches(server, "/v2/models/eval-classification/infer", body)
    _, answer, _ = server.post("/v2/models/eval-classification/infer", body)
    assert answer["outputs"][0]["datatype"] == "INT64"  # integer classes answer INT64, as described


def test_requests_choose_what_comes_back_and_impossible_choices_are_400(
    start_server, clf_cfg, clf_service, rows, example_cfg, example_service
):
    server = start_server(clf_cfg, clf_service)
    send = bodies(rows)
    status, only, _ = server.post(PATHS["v2"], {**send["v2"], "outputs": [{"name": "predict_proba"}]})
    assert status == 200 and [o["name"] for o in only["outputs"]] == ["predict_proba"]
    status, bad, _ = server.post(PATHS["v2"], {**send["v2"], "outputs": [{"name": "proba"}]})
    assert status == 400 and "'proba' is not an output of this model (predict, predict_proba)" in bad["error"]
    status, lean, _ = server.post(PATHS["native"], {**send["native"], "probabilities": False})
    assert status == 200 and "probabilities" not in lean and "classes" not in lean
    status, bad, _ = server.post(PATHS["native"], {**send["native"], "probabilities": "yes"})
    assert status == 400 and bad["error"] == "probabilities: expected true or false"
    status, bad, _ = server.post(PATHS["v1"], {**send["v1"], "parameters": {"predict_proba": 1}})
    assert status == 400 and "parameters.predict_proba" in bad["error"]

    regressor = start_server(example_cfg, example_service)
    record = payload("native.json")
    status, bad, _ = regressor.post("/predict", {"records": record, "probabilities": True})
    assert status == 400 and "regression; it has no class probabilities" in bad["error"]
    status, bad, _ = regressor.post(
        "/v2/models/brno-house-prices/infer",
        {**payload("v2-columns.json"), "outputs": [{"name": "predict_proba"}]},
    )
    assert status == 400 and "regression" in bad["error"]
    status, fine, _ = regressor.post("/predict", record)
    assert status == 200 and "probabilities" not in fine


def test_the_config_chooses_the_default_answer(start_server, clf_cfg, clf_service, rows):
    labels_only = with_serving(clf_cfg, classification=ClassificationServing(probabilities=False))
    server = start_server(labels_only, clf_service)
    send = bodies(rows)
    _, native, _ = server.post(PATHS["native"], send["native"])
    assert "probabilities" not in native
    _, v2, _ = server.post(PATHS["v2"], send["v2"])
    assert [o["name"] for o in v2["outputs"]] == ["predict"]
    _, mlflow, _ = server.post(PATHS["mlflow"], send["mlflow"])
    assert mlflow["predictions"] == native["predictions"]  # a plain list of labels
    _, asked, _ = server.post(PATHS["native"], {**send["native"], "probabilities": True})
    assert len(asked["probabilities"]) == 5  # a request can still ask for them

    v1_proba = with_serving(clf_cfg, classification=ClassificationServing(kserve_v1="probabilities"))
    server = start_server(v1_proba, clf_service)
    _, v1, _ = server.post(PATHS["v1"], send["v1"])
    assert v1["predictions"] == clf_service.model.estimator.predict_proba(rows[["x1", "x2"]]).tolist()
    _, v1, _ = server.post(PATHS["v1"], {**send["v1"], "parameters": {"predict_proba": False}})
    assert v1["predictions"] == native["predictions"]


# ----------------------------------------------------------------------------- compiled


RNG = np.random.default_rng(11)


def flats(n: int) -> pd.DataFrame:
    frame = pd.DataFrame({"kind": RNG.choice(["flat", "house", "villa"], n), "b": RNG.normal(size=n)})
    frame["c"] = RNG.normal(size=n)
    frame.loc[RNG.random(n) < 0.05, "b"] = np.nan
    return frame


def boosted() -> tuple[Pipeline, pd.DataFrame]:
    frame = flats(2000)
    y = (
        (np.nan_to_num(frame["b"]) + (frame["kind"] == "villa") + RNG.normal(0, 0.5, len(frame))) > 0.5
    ).astype(int)
    encode = ColumnTransformer(
        [("kind", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), ["kind"])],
        remainder="passthrough",
    )
    boost = HistGradientBoostingClassifier(max_iter=40, categorical_features=[0], random_state=0)
    return Pipeline([("encode", encode), ("boost", boost)]).fit(frame, y), frame


def boosted_service(cfg: Config, compile_: bool = True) -> Service:
    est, frame = boosted()
    features = ["kind", "b", "c"]
    model = LoadedModel(estimator=est, format="skops", path=None, sha256="0" * 64, features=features)
    sig = infer_signature(frame, features, task="classification")
    service = Service(NAME, "1", model, sig, "classification", probabilities=True)
    if compile_:
        service.compile(frame)
    return service


def test_a_compiled_classifier_answers_bit_identical_probabilities(clf_cfg):
    service = boosted_service(clf_cfg)
    assert service.compiled.compiled, service.compiled.reason
    assert service.compiled.direct == "columns" and service.direct is not None
    est = service.model.estimator
    probe = flats(64)
    probe.loc[:3, "kind"] = "castle"  # unknown to the encoder
    for n in (1, 3, 64):
        head = probe.head(n)
        cols = {c: [None if isinstance(v, float) and np.isnan(v) else v for v in head[c]] for c in head}
        got = service.predict_answer(cols)
        assert np.array_equal(got.values, est.predict(head))
        want = est.predict_proba(head)
        assert got.proba.dtype == want.dtype and np.array_equal(got.proba, want)


def test_a_compiled_classifier_whose_probabilities_differ_in_one_bit_is_refused():
    est, frame = boosted()

    def both(model, X):
        proba = model.predict_proba(X)
        if isinstance(model.steps[-1][1], CompiledBoosting):
            proba[5, 1] = np.nextafter(proba[5, 1], np.inf)
        return model.predict(X), proba

    model, _, outcome = compile_for_serving(est, both, [frame.head(100)])
    assert model is None and "differ" in outcome.reason and not outcome.compiled


def test_the_example_regressor_is_unchanged_by_classification_settings(example_cfg, example_service):
    assert example_service.classes is None and not example_service.probabilities
    cols = example_service.example_columns(2)
    assert example_service.predict_answer(cols).proba is None
    assert dataclasses.asdict(example_cfg.serving.classification) == {
        "probabilities": True,
        "kserve_v1": "labels",
    }
    assert EXAMPLE.is_dir()


def test_openapi_describes_the_probabilities_a_classifier_answers(start_server, clf_cfg, clf_service, rows):
    import json

    import jsonschema

    server = start_server(clf_cfg, clf_service)
    spec = json.loads(server.request("GET", "/openapi.json")[2])
    post = spec["paths"]["/predict"]["post"]
    answer_schema = post["responses"]["200"]["content"]["application/json"]["schema"]
    assert "probabilities" in answer_schema["properties"] and "classes" in answer_schema["properties"]
    request_forms = post["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert request_forms[1]["properties"]["probabilities"]["type"] == "boolean"
    _, answer, _ = server.post(PATHS["native"], bodies(rows)["native"])
    jsonschema.validate(answer, answer_schema)


def test_a_pipeline_classifier_runs_its_steps_once_and_answers_as_the_pipeline_does(start_server, clf_cfg):
    """A churn-like Pipeline (OneHotEncoder, StandardScaler, RandomForest), its forest compiled:
    its preprocessing runs once for both labels and probabilities, which equal the Pipeline's own."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = flats(600)
    frame["b"] = frame["b"].fillna(0.0)
    y = np.where(frame["b"] + (frame["kind"] == "villa") > 0.3, "churn", "stay")
    prep = ColumnTransformer(
        [("kind", OneHotEncoder(handle_unknown="ignore"), ["kind"]), ("num", StandardScaler(), ["b", "c"])]
    )
    est = Pipeline([("prep", prep), ("forest", RandomForestClassifier(30, random_state=0))]).fit(frame, y)
    features = ["kind", "b", "c"]
    model = LoadedModel(estimator=est, format="skops", path=None, sha256="1" * 64, features=features)
    sig = infer_signature(frame, features, task="classification")
    service = Service(NAME, "1", model, sig, "classification", probabilities=True)
    service.compile(frame)
    assert service.compiled.compiled and service.compiled.family == "RandomForestClassifier"
    probe = flats(40)
    probe["b"] = probe["b"].fillna(0.0)
    server = start_server(clf_cfg, service)
    status, answer, _ = server.post(PATHS["native"], probe.to_dict(orient="records"))
    assert status == 200, answer
    assert answer["predictions"] == est.predict(probe).tolist() and answer["classes"] == ["churn", "stay"]
    assert answer["probabilities"] == est.predict_proba(probe).tolist()
