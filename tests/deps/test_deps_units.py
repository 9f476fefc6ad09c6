"""Pure units of the deps package: requirements parsing, import extraction, names, headers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlrelease.deps import imports, names
from mlrelease.deps.lock import Inputs, LockRequest, Variant, parse_header, render_header
from mlrelease.deps.requirements import Policy, canonical, parse_lock, read_inputs
from mlrelease.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "brno-houses"


def test_canonical_names_follow_pep_503():
    assert canonical("Scikit_Learn") == "scikit-learn"
    assert canonical("ruamel.yaml") == "ruamel-yaml"


def test_inputs_expand_includes_and_skip_comments(tmp_path: Path):
    (tmp_path / "base.in").write_text("numpy>=2  # arrays\n")
    (tmp_path / "constraints.txt").write_text("numpy<3\n")
    (tmp_path / "requirements.in").write_text(
        "# top comment\n-r base.in\n-c constraints.txt\npandas \\\n  >=2.2\n--extra-index-url https://x/simple\n"
    )
    allowed = Policy(tmp_path, frozenset({"--extra-index-url"}))
    lines = read_inputs(tmp_path / "requirements.in", policy=allowed)
    assert [(line.text, line.kind, line.name) for line in lines] == [
        ("numpy>=2", "requirement", "numpy"),
        ("numpy<3", "constraint", "numpy"),
        ("pandas >=2.2", "requirement", "pandas"),
        ("--extra-index-url https://x/simple", "option", None),
    ]
    assert lines[2].line == 4


def test_include_cycle_and_missing_file_are_usage_errors(tmp_path: Path):
    (tmp_path / "a.in").write_text("-r b.in\n")
    (tmp_path / "b.in").write_text("-r a.in\n")
    with pytest.raises(UsageError, match="includes itself"):
        read_inputs(tmp_path / "a.in")
    with pytest.raises(UsageError, match="does not exist"):
        read_inputs(tmp_path / "nope.in")


def test_lock_parser_tells_exact_hashed_pins_from_loose_ones():
    text = (
        "six==1.17.0 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\n    # via -r requirements.in\n"
        "idna==3.10\nrequests>=2\nfoo @ https://example.org/foo.whl\nbar==1.*\n"
    )
    lock = parse_lock(text, Path("requirements.txt"))
    pins = {p.name: p for p in lock.pins}
    assert pins["six"].exact and pins["six"].hashes == ("sha256:aa", "sha256:bb")
    assert pins["idna"].exact and not pins["idna"].hashes
    assert not pins["requests"].exact and not pins["foo"].exact and not pins["bar"].exact
    assert pins["idna"].line == 5


@pytest.mark.parametrize(
    ("dist", "module"),
    [
        ("scikit-learn", "sklearn.ensemble"),
        ("pyyaml", "yaml"),
        ("opencv-python-headless", "cv2"),
        ("pillow", "PIL.Image"),
        ("beautifulsoup4", "bs4"),
        ("python-dateutil", "dateutil.parser"),
        ("google-cloud-logging", "google.cloud.logging"),
        ("numpy", "numpy.linalg"),
        ("prometheus-client", "prometheus_client"),  # from installed metadata
    ],
)
def test_distributions_map_to_their_import_names(dist: str, module: str):
    assert names.provides(dist, module)


def test_namespace_packages_do_not_claim_each_other():
    assert not names.provides("google-cloud-logging", "google.cloud.storage")
    assert names.distribution_for("google.cloud.storage") == "google-cloud-storage"
    assert names.distribution_for("sklearn.linear_model") == "scikit-learn"
    assert names.distribution_for("cv2") == "opencv-python"
    assert names.distribution_for("some_unknown_mod") == "some-unknown-mod"


def _notebook(path: Path, cells: list[str]) -> Path:
    nb = {
        "cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "source": c} for c in cells],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb))
    return path


def test_notebook_magics_are_translated_before_parsing(tmp_path: Path):
    source = "%matplotlib inline\n!pip list\nimport numpy as np\n%time x = np.ones(3)"
    nb = _notebook(tmp_path / "n.ipynb", [source])
    uses, failures = imports.notebook_imports(nb, {})
    assert failures == []
    assert [(u.module, u.cell, u.line) for u in uses] == [("numpy", 1, 3)]


def test_unparsable_cell_is_reported_not_fatal(tmp_path: Path):
    nb = _notebook(tmp_path / "n.ipynb", ["import numpy", "def broken(:\n    pass"])
    uses, failures = imports.notebook_imports(nb, {})
    assert [u.module for u in uses] == ["numpy"]
    assert [f.cell for f in failures] == [2]


def test_plotting_feeding_model_code_is_not_display_only(tmp_path: Path):
    display = {"matplotlib": "matplotlib"}
    only_display = _notebook(
        tmp_path / "a.ipynb",
        ["import matplotlib.pyplot as plt\nx = [1, 2]", "fig, ax = plt.subplots()\nax.plot(x)", "y = sum(x)"],
    )
    feeding = _notebook(
        tmp_path / "b.ipynb",
        ["import matplotlib.pyplot as plt\nx = [1, 2]", "counts, edges, _ = plt.hist(x)", "y = sum(counts)"],
    )
    assert {u.context for u in imports.notebook_imports(only_display, display)[0]} == {"display"}
    assert {u.context for u in imports.notebook_imports(feeding, display)[0]} == {"runtime"}


def test_optional_and_dynamic_imports_are_marked_optional(tmp_path: Path):
    py = tmp_path / "m.py"
    py.write_text(
        "import importlib\ntry:\n    import orjson\nexcept ImportError:\n    orjson = None\n"
        "mod = importlib.import_module('yaml')\nfrom . import sibling\n"
    )
    uses, _ = imports.python_file_imports(py)
    assert {(u.module, u.optional) for u in uses} == {("importlib", False), ("orjson", True), ("yaml", True)}


def test_model_file_modules_are_read_without_loading_it():
    modules = imports.model_modules(EXAMPLE / "model" / "model.skops")
    assert any(m.startswith("sklearn.") for m in modules)
    assert any(m.startswith("numpy") for m in modules)


def test_pickle_modules_are_read_from_opcodes(tmp_path: Path):
    import pickle
    from collections import OrderedDict
    from fractions import Fraction

    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps({"a": OrderedDict(), "b": Fraction(1, 3)}, protocol=4))
    assert {"collections", "fractions"} <= set(imports.model_modules(path))


def test_variant_names_pick_pytorch_indexes_and_lock_paths():
    gpu = Variant.parse("gpu", cuda="12.4")
    assert gpu.index == "https://download.pytorch.org/whl/cu124"
    assert Variant.parse("cpu").index == "https://download.pytorch.org/whl/cpu"
    assert gpu.lock_path(Path("x/requirements.txt")) == Path("x/requirements-gpu.txt")
    assert Variant.parse("default").lock_path(Path("r.txt")) == Path("r.txt")
    assert Variant.parse("rocm=https://idx/simple").index == "https://idx/simple"
    with pytest.raises(UsageError, match="no index known"):
        Variant.parse("rocm")
    with pytest.raises(UsageError, match="expected NAME"):
        Variant.parse("GPU!")


def test_header_round_trips_inputs_and_digests(tmp_path: Path):
    (tmp_path / "requirements.in").write_text("six\n")
    request = LockRequest(tmp_path / "requirements.in", tmp_path / "requirements.txt", "3.12", server=False)
    inputs = Inputs.of(request)
    body = "six==1.17.0 \\\n    --hash=sha256:aa\n"
    header = parse_header(render_header(request, inputs, "uv 0.0", body) + body)
    assert header is not None
    assert header.fields["inputs-sha256"] == inputs.digest()
    assert list(header.described) == inputs.describe()
    assert header.body == body
    assert "python: 3.12" in header.described


@pytest.mark.parametrize(
    ("module", "dist"),
    [("pkg_resources", "setuptools"), ("paddle.nn", "paddlepaddle"), ("thop", "ultralytics-thop")],
)
def test_import_names_that_differ_from_their_distribution(module: str, dist: str):
    assert names.distribution_for(module) == dist
    assert names.provides(dist, module)


def test_modules_a_file_magic_writes_are_local_and_load_ext_packages_are_used(tmp_path: Path):
    nb = _notebook(
        tmp_path / "n.ipynb",
        [
            "%%writefile src/helpers.py\nimport numpy\n",
            "%%file model_utils.py\ndef f():\n    return 1\n",
            "%load_ext memory_profiler\n%load_ext autoreload",
            "import helpers\nimport model_utils\nfrom src import helpers as h2\nimport pandas",
        ],
    )
    uses, failures = imports.notebook_imports(nb, {})
    assert failures == []
    assert [(u.module, u.cell, u.line, u.context) for u in uses] == [
        ("pandas", 4, 4, "runtime"),
        ("memory_profiler", 3, 1, "display"),  # a notebook tool: satisfied by the dev requirements
    ]
