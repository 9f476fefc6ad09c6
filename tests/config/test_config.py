"""The handoff contract: schema validation, located errors, defaults, typed objects."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from configkit import write

from mlrelease import config
from mlrelease.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "brno-houses"


def problems(path: Path) -> list:
    with pytest.raises(ConfigError) as info:
        config.load(path)
    return info.value.problems


def test_example_config_loads_into_typed_objects():
    cfg = config.load(EXAMPLE)
    assert cfg.model.name == "brno-house-prices"
    assert cfg.model.format == "skops"
    assert cfg.model.artifact == EXAMPLE / "model" / "model.skops"
    assert cfg.validation is not None and cfg.validation.data == EXAMPLE / "data" / "validation.csv"
    rule = cfg.gate.metrics["root_mean_squared_error"]
    assert rule.max_regression == config.Tolerance(0.02, relative=True)
    assert cfg.gate.trade_offs[0].when["p95_cpu_ms"] == config.Tolerance(-0.30, relative=True)
    assert cfg.serving.outliers.prediction == config.Bounds(1.0e6, 5.0e7)
    assert [p.name for p in cfg.notebook_paths()] == ["house_prices.ipynb"]


def test_defaults_are_filled_from_the_schema(tmp_path):
    path = write(tmp_path, "model: {name: m, task: regression, artifact: m.skops}\n", ("m.skops",))
    cfg = config.load(path)
    assert cfg.notebooks == ("notebooks/*.ipynb",)
    assert cfg.requirements == tmp_path.resolve() / "requirements.in"
    assert cfg.lint.fail_on == "error"
    assert cfg.image.python == "3.11" and cfg.image.gpu is False
    assert cfg.serving.batching.max_wait_ms == 2
    assert cfg.gate.bootstrap.resamples == 1000
    assert cfg.validation is None


def test_wrong_type_names_line_key_and_expectation(tmp_path):
    path = write(tmp_path, "notebooks: []\nmodel:\n  name: m\n  task: regression\n  artifact: 5\n")
    [p] = problems(path)
    assert (p.line, p.key) == (5, "model.artifact")
    assert "expected a string, got an integer 5" in p.message


def test_unknown_key_suggests_the_closest(tmp_path):
    path = write(
        tmp_path, "notebooks: []\nmodel:\n  name: m\n  tsak: regression\n  artifact: m.skops\n", ("m.skops",)
    )
    found = problems(path)
    unknown = next(p for p in found if p.key == "model.tsak")
    assert unknown.line == 4
    assert unknown.hint == "did you mean 'task'?"
    missing = next(p for p in found if p.key == "model.task")
    assert missing.message == "required key is missing"


def test_unknown_top_level_section_is_an_error(tmp_path):
    text = "notebooks: []\nmodel: {name: m, task: regression, artifact: m.skops}\nserveing: {}\n"
    [p] = problems(write(tmp_path, text, ("m.skops",)))
    assert (p.line, p.key, p.hint) == (3, "serveing", "did you mean 'serving'?")


def test_missing_file_references_are_each_reported(tmp_path):
    text = (
        "model: {name: m, task: regression, artifact: model/missing.skops}\n"
        "notebooks: [nb/*.ipynb]\n"
        "validation: {data: data/val.csv}\n"
    )
    found = problems(write(tmp_path, text))
    keys = {p.key: p for p in found}
    assert set(keys) == {"model.artifact", "notebooks[0]", "validation.data"}  # requirements: default, absent
    assert "model/missing.skops" in keys["model.artifact"].message
    assert keys["validation.data"].line == 3


def test_every_problem_is_reported_at_once(tmp_path):
    text = "model:\n  name: Bad_Name\n  task: regresion\n  artifact: m.skops\n"
    text += "gate:\n  metrics:\n    r2_score: {min: high}\n"
    found = problems(write(tmp_path, text, ("m.skops",)))
    assert [(p.line, p.key) for p in found] == [
        (2, "model.name"),
        (3, "model.task"),
        (7, "gate.metrics.r2_score.min"),
    ]
    assert "DNS-1123" in found[0].hint
    assert found[1].hint == "did you mean 'regression'?"


def test_tolerance_must_be_a_percentage_or_number(tmp_path):
    text = "notebooks: []\nmodel: {name: m, task: regression, artifact: m.skops}\n"
    text += "gate:\n  metrics:\n    r2_score: {max_regression: two percent}\n"
    [p] = problems(write(tmp_path, text, ("m.skops", "requirements.in")))
    assert p.key == "gate.metrics.r2_score.max_regression" and "'2%'" in p.message


def test_artifact_and_entrypoint_are_exclusive(tmp_path):
    text = "notebooks: []\nmodel: {name: m, task: regression}\n"
    [p] = problems(write(tmp_path, text))
    assert p.key == "model" and "exactly one of 'artifact'" in p.message


def test_pickle_needs_opt_in_and_sha256(tmp_path):
    text = "notebooks: []\nrequirements: r.txt\nmodel: {name: m, task: regression, artifact: m.joblib}\n"
    [p] = problems(write(tmp_path, text, ("m.joblib", "r.txt")))
    assert p.key == "model.artifact" and "allow_pickle" in p.hint


def test_yaml_syntax_error_carries_its_line(tmp_path):
    path = write(tmp_path, "model:\n  name: m\n  task: [regression\n")
    [p] = problems(path)
    assert p.line == 4 or p.line == 3


def test_duplicate_keys_are_errors(tmp_path):
    path = write(tmp_path, "model: {name: m, task: regression, artifact: a}\nnotebooks: []\nnotebooks: [x]\n")
    [p] = problems(path)
    assert (p.line, p.key, p.message) == (3, "notebooks", "key is given twice")


@pytest.mark.parametrize("text", ["", "- a\n- b\n"])
def test_empty_or_non_mapping_file(tmp_path, text):
    with pytest.raises(ConfigError):
        config.load(write(tmp_path, text))


def test_missing_config_file_points_to_init(tmp_path):
    with pytest.raises(ConfigError) as info:
        config.load(tmp_path)
    assert "mlrelease init" in info.value.hint


def test_published_schema_is_the_packaged_one():
    published = json.loads((ROOT / "schemas" / "mlrelease.schema.json").read_text())
    assert published == config.schema()


def test_schema_is_a_valid_draft_2020_12_schema():
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(config.schema())


def test_example_copy_validates_and_relocates(tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(EXAMPLE, dst, ignore=shutil.ignore_patterns("*.ipynb"))
    (dst / "notebooks" / "x.ipynb").write_text("{}")
    cfg = config.load(dst / "mlrelease.yaml")
    assert cfg.root == dst.resolve()


def test_schema_defaults_and_dataclass_defaults_agree(tmp_path):
    """A minimal config gets every default from the schema; they must equal the dataclasses' own."""
    cfg = config.load(
        write(tmp_path, "model: {name: m, task: regression, artifact: m.skops}\n", ("m.skops",))
    )
    assert cfg.lint == config.LintConfig()
    assert cfg.gate == config.GateConfig()
    assert cfg.image == config.ImageConfig()
    assert cfg.serving == config.ServingConfig()
    assert cfg.deploy == config.DeployConfig()
    assert cfg.monitoring == config.MonitoringConfig()


def test_gke_defaults_come_from_the_schema(tmp_path):
    text = "model: {name: m, task: regression, artifact: m.skops}\n"
    text += "deploy: {gke: {project: p, location: l, cluster: c}}\n"
    cfg = config.load(write(tmp_path, text, ("m.skops",)))
    assert cfg.deploy.gke == config.GkeConfig(project="p", location="l", cluster="c")
