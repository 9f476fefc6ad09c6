"""The compiled schema check (fastjsonschema's code in mlrelease/schema/config_check.py) may pass a
config only when jsonschema passes it too: every command trusts its "valid" and skips jsonschema."""

from __future__ import annotations

import copy
import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from mlrelease import config
from mlrelease.schema import config_check

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(
    [*ROOT.glob("examples/*/mlrelease.yaml"), *ROOT.glob("tests/fixtures/**/mlrelease.yaml")],
    key=str,
)
REFERENCE = Draft202012Validator(config.schema())


def compiled_passes(data: Any) -> bool:
    try:
        config_check.validate(data)
    except Exception:  # any failure counts as "not passed", as config.validate_data treats it
        return False
    return True


def _loaded(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text("utf-8"))
    except yaml.YAMLError:
        return None


def _schema_words() -> tuple[list[str], list[Any]]:
    """Every property name and enum/const value in the schema, so changes reach real rules."""
    keys: set[str] = set()
    values: list[Any] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "properties" and isinstance(v, dict):
                    keys.update(v)
                if k == "enum":
                    values.extend(v)
                if k == "const":
                    values.append(v)
                walk(v)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(config.schema())
    return sorted(keys), values


KEYS, WORDS = _schema_words()
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=70_000),
    st.sampled_from([0, 1, 2, 63, 64, 100, 1024, 65535, 65536, 2**70]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 0.5, 1.0, 1.5, 100.0, 1e-7]),
    st.sampled_from(WORDS),
    st.sampled_from(["", "2%", "-30%", "2.5%", "%", "3.11", "3", "12.4", "m.py:load", "m:1x", "1", "500m"]),
    st.sampled_from(["2Gi", "2G", "a" * 63, "a" * 64, "ab-c", "-ab", "AB", "0" * 64, "g" * 64]),
    st.just("x@p.iam.gserviceaccount.com"),
    st.text(max_size=8),
    st.dates(),
    st.binary(max_size=4),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.integers(0, 2) | st.text(max_size=4), inner, max_size=3)
        | st.sets(st.integers(0, 3), max_size=2)
    ),
    max_leaves=6,
)


def _full_config() -> dict[str, Any]:
    """The example with the schema's defaults filled in and every optional section set, so a
    change anywhere in it lands where a rule applies."""
    data = config._fill_defaults(
        copy.deepcopy(_loaded(ROOT / "examples" / "brno-houses" / "mlrelease.yaml")), config.schema()
    )
    data["model"].update(format="skops", sha256="0" * 64, features=["a", "b"], version="1")
    data["lint"]["severity"] = {"NB101": "warning"}
    data["lint"]["ignore"] = ["NB102"]
    data["trust"] = {"outside_paths": ["notebooks"], "requirements_options": ["url"]}
    data["image"].update(base="python:3.11-slim", cuda="12.4", registry="r.example/p")
    data["serving"]["outliers"]["inputs"] = {"area": {"min": 1, "max": 2}}
    data["serving"]["logging"]["file"] = "logs/requests.jsonl"
    gke = data["deploy"]["gke"]
    gke["replicas"]["max"] = 20
    gke.update(baseline_rps=10, memory="2Gi", service_account="svc-acct@p.iam.gserviceaccount.com")
    data["monitoring"]["drift"]["features"] = {"area": {"warn": 0.1, "alert": 0.2, "min_samples": 5}}
    return data


FULL = _full_config()
# The other branch of model's oneOf: an entrypoint instead of a model file.
ENTRY = copy.deepcopy(FULL)
for _key in ("artifact", "format", "sha256"):
    del ENTRY["model"][_key]
ENTRY["model"]["entrypoint"] = "model.py:load"


def _words(rule: dict[str, Any]) -> list[Any]:
    """The enum and const values a rule (or its items' rule) names."""
    rule = config._resolve_ref(rule)
    items = config._resolve_ref(rule.get("items", {}))
    return [*rule.get("enum", []), *items.get("enum", []), *([rule["const"]] if "const" in rule else [])]


def _paths(node: Any, rule: dict[str, Any], path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], list[Any]]:
    """Every key and item of ``node``, the keys its ``rule`` (schema) names that it lacks, and an
    unknown key in every mapping; each with the enum words its rule names."""
    rule = config._resolve_ref(rule)
    out: dict[tuple[Any, ...], list[Any]] = {}
    if isinstance(node, dict):
        props = rule.get("properties", {})
        out |= {
            (*path, key): _words(props.get(key, {})) for key in [*props, "unknown_key"] if key not in node
        }
        for key, child in node.items():
            extra = rule.get("additionalProperties")
            child_rule = props.get(key, extra if isinstance(extra, dict) else {})
            out[(*path, key)] = _words(child_rule)
            out |= _paths(child, child_rule, (*path, key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            out[(*path, i)] = _words(rule.get("items", {}))
            out |= _paths(child, rule.get("items", {}), (*path, i))
    return out


WORDS_AT = _paths(FULL, config.schema()) | _paths(ENTRY, config.schema())
PATHS = list(_paths(FULL, config.schema()))
ENTRY_PATHS = [p for p in _paths(ENTRY, config.schema()) if p[0] == "model"]
REMOVED = object()
# The bounds, patterns, types and enum words the schema names, and values YAML has and JSON has not.
NUMBERS = (0, 1, -1, 2, 0.5, 1.0, 1.5, -0.5, 29, 30, 99, 100, 101, 999, 1000, 1001, 1023, 1024, 65535, 65536)
ODD_NUMBERS = (2**70, 1e300, float("nan"))
STRINGS = ("", "x", "2%", "-30%", "%", "3.11", "3", "500m", "2G", "m.py:load", "m:1x", "a" * 63, "a" * 64)
HEX = ("-ab", "0" * 64, "g" * 64)
CONTAINERS = ([], ["x"], [1], ["x", "x"], ["notebooks", "notebooks"], {}, {"x": 1}, {"min": "x"})
YAML_ONLY = (datetime.date(2026, 1, 1), b"x", {1})
PROBES = [REMOVED, None, True, False, *NUMBERS, *ODD_NUMBERS, *STRINGS, *HEX, *CONTAINERS, *YAML_ONLY]


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    """The container ``path[-1]`` is looked up in, or None when an earlier change removed the way."""
    node = data
    for part in path[:-1]:
        in_dict = isinstance(node, dict) and part in node
        if in_dict or (isinstance(node, list) and isinstance(part, int) and part < len(node)):
            node = node[part]
        else:
            return None
    return node if isinstance(node, (dict, list)) else None


def _set(node: Any, key: Any, value: Any) -> None:
    if value is not REMOVED:
        node[key] = value
    elif isinstance(node, dict):
        node.pop(key, None)
    else:
        del node[key]


def test_the_full_configs_are_valid_for_both():
    for data in (FULL, ENTRY):
        assert REFERENCE.is_valid(data) and compiled_passes(data)
    assert len(PATHS) > 150


@pytest.mark.parametrize(
    ("base", "paths"), [(FULL, PATHS), (ENTRY, ENTRY_PATHS)], ids=["artifact", "entrypoint"]
)
def test_compiled_check_passes_no_single_change_jsonschema_refuses(base, paths):
    """Every key of a config with every section set, removed or set to each of a few dozen values
    (bounds, types, YAML-only values, the key's enum words, the list twice over): what the
    compiled check passes, jsonschema passes. Only the other way round may they differ (then
    jsonschema runs and answers)."""
    wrongly_passed = []
    data = copy.deepcopy(base)
    for path in paths:
        node, key = _parent(data, path), path[-1]
        before = copy.deepcopy(node)
        current = node[key] if isinstance(node, list) or key in node else None
        doubled = [current * 2] if isinstance(current, list) else []
        for value in [*PROBES, *WORDS_AT[path], *doubled]:
            _set(node, key, value)
            if compiled_passes(data) and not REFERENCE.is_valid(data):
                wrongly_passed.append((path, value))
            node.clear()
            node.extend(before) if isinstance(node, list) else node.update(before)
    assert data == base
    assert wrongly_passed == []


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(ROOT).parent))
def test_compiled_check_agrees_with_jsonschema_on_every_config_in_the_repository(path):
    data = _loaded(path)
    if data is None:
        pytest.skip("not YAML: parse_text refuses it before any schema check")
    assert compiled_passes(data) == REFERENCE.is_valid(data)


def test_the_example_passes_the_compiled_check():
    """The fast path is taken for a valid config (else every command pays for jsonschema again)."""
    assert compiled_passes(_loaded(ROOT / "examples" / "brno-houses" / "mlrelease.yaml"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.lists(st.tuples(st.sampled_from(PATHS), VALUES), min_size=1, max_size=4))
def test_compiled_check_passes_no_combination_of_changes_jsonschema_refuses(changes):
    data = copy.deepcopy(FULL)
    for path, value in changes:
        node = _parent(data, path)
        if node is not None and (
            isinstance(node, dict) or (isinstance(path[-1], int) and path[-1] < len(node))
        ):
            _set(node, path[-1], value)
    if compiled_passes(data):
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in REFERENCE.iter_errors(data)]
        assert errors == [], data


def test_yaml_values_json_has_no_word_for_are_refused_by_both():
    base = _loaded(ROOT / "examples" / "brno-houses" / "mlrelease.yaml")
    for value in (datetime.date(2026, 1, 1), b"\x00", {1, 2}, ("a",)):
        data = copy.deepcopy(base)
        data["model"]["target"] = value
        assert not compiled_passes(data) and not REFERENCE.is_valid(data), value
    data = copy.deepcopy(base)
    data["version"] = True  # True == 1 in Python; not in JSON Schema's const
    assert not compiled_passes(data) and not REFERENCE.is_valid(data)
