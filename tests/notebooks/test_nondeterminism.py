"""NB501, unseeded randomness: each kind of random source on its own, seeded and unseeded, with
the exact cell, line and message of every finding (cells count from 1 as Jupyter shows them,
lines from 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlrelease.notebooks.lint import lint_paths


def findings(tmp_path: Path, *cells: str) -> list[tuple[str, int, int, str]]:
    book = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": i + 1,
                "id": f"cell{i}",
                "metadata": {},
                "outputs": [],
                "source": source,
            }
            for i, source in enumerate(cells)
        ],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = tmp_path / "book.ipynb"
    path.write_text(json.dumps(book))
    # NB501 only: the unused imports of a one-line case are other rules' business
    return [
        (f.rule, f.location.cell, f.location.line, f.message)
        for f in lint_paths([path]).findings
        if f.rule == "NB501"
    ]


NP = "import numpy as np"
UNSEEDED = [
    ("np.random.default_rng()", "default_rng() without a seed"),
    ("np.random.default_rng(None)", "default_rng() without a seed"),
    ("np.random.default_rng(seed=None)", "default_rng() without a seed"),
    ("np.random.RandomState()", "RandomState() without a seed"),
    # a Generator is as seeded as the bit generator it is given
    ("np.random.Generator(np.random.PCG64())", "PCG64() without a seed"),
    ("np.random.Generator(np.random.PCG64DXSM(None))", "PCG64DXSM() without a seed"),
    ("np.random.Generator(np.random.MT19937(seed=None))", "MT19937() without a seed"),
    ("np.random.Generator(np.random.SFC64())", "SFC64() without a seed"),
    ("np.random.SeedSequence()", "SeedSequence() without a seed"),
]
SEEDED = [
    "np.random.default_rng(0)",
    "np.random.default_rng(seed=42)",
    "np.random.default_rng([1, 2])",
    "np.random.RandomState(7)",
    "np.random.Generator(np.random.PCG64(3))",
    "np.random.Generator(np.random.MT19937(seed=5))",
    "np.random.SeedSequence(entropy=7)",
    "np.random.SeedSequence(1234).spawn(2)",
]


@pytest.mark.parametrize(("call", "message"), UNSEEDED, ids=[c for c, _ in UNSEEDED])
def test_an_unseeded_numpy_generator_is_found_on_its_line(tmp_path: Path, call: str, message: str):
    got = findings(tmp_path, NP, f"n = 3\nrng = {call}\nprint(rng.normal(size=n))")
    assert got == [("NB501", 2, 2, message)]


@pytest.mark.parametrize("call", SEEDED)
def test_a_seeded_numpy_generator_is_not_a_finding(tmp_path: Path, call: str):
    assert findings(tmp_path, NP, f"rng = {call}\nprint(rng.normal())") == []


def test_default_rng_imported_by_name_is_still_found(tmp_path: Path):
    got = findings(tmp_path, "from numpy.random import default_rng as make", "print(make().normal())")
    assert got == [("NB501", 2, 1, "default_rng() without a seed")]


def test_every_unseeded_generator_is_reported_not_only_the_first(tmp_path: Path):
    got = findings(tmp_path, NP, "a = np.random.default_rng()\nb = np.random.default_rng()\nprint(a, b)")
    assert got == [
        ("NB501", 2, 1, "default_rng() without a seed"),
        ("NB501", 2, 2, "default_rng() without a seed"),
    ]


def test_legacy_numpy_calls_need_one_module_seed_anywhere(tmp_path: Path):
    calls = "x = np.random.rand(3)\ny = np.random.randn(3)\nprint(x, y)"
    assert findings(tmp_path, NP, calls) == [
        ("NB501", 2, 1, "np.random.rand() and no np.random.seed(...) in the notebook")
    ]  # once per notebook, at the first call
    assert findings(tmp_path, NP, calls, "np.random.seed(0)") == []


def test_stdlib_random_needs_random_seed(tmp_path: Path):
    assert findings(tmp_path, "import random", "print(random.choice([1, 2]))") == [
        ("NB501", 2, 1, "random.choice() and no random.seed(...) in the notebook")
    ]
    assert findings(tmp_path, "import random\nrandom.seed(1)", "print(random.choice([1, 2]))") == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("m = RandomForestRegressor()", [(1, "RandomForestRegressor(...) without random_state")]),
        (
            "m = RandomForestRegressor(random_state=None)",
            [(1, "RandomForestRegressor(...) without random_state")],
        ),
        ("m = RandomForestRegressor(random_state=0)", []),
        ("m = RandomForestRegressor(**params)", []),  # the seed may be in there
        ("m = KFold(5)", []),  # no shuffle: deterministic
        ("m = KFold(5, shuffle=True)", [(1, "KFold(...) without random_state")]),
        ("m = KFold(5, shuffle=True, random_state=3)", []),
        ("m = train_test_split([1, 2, 3, 4])", [(1, "train_test_split(...) without random_state")]),
        ("m = LinearRegression()", []),  # not random
    ],
)
def test_scikit_learn_estimators_and_splits(tmp_path: Path, source: str, expected: list):
    imports = (
        "from sklearn.ensemble import RandomForestRegressor\n"
        "from sklearn.linear_model import LinearRegression\n"
        "from sklearn.model_selection import KFold, train_test_split\n"
        "params = {}"
    )
    got = findings(tmp_path, imports, source + "\nprint(m)")
    assert got == [("NB501", 2, line, message) for line, message in expected]


def test_torch_needs_manual_seed(tmp_path: Path):
    """Only the source is read: torch need not be installed."""
    assert findings(tmp_path, "import torch", "print(torch.randn(3))") == [
        ("NB501", 2, 1, "torch.randn() and no torch.manual_seed(...) in the notebook")
    ]
    assert findings(tmp_path, "import torch\ntorch.manual_seed(0)", "print(torch.randn(3))") == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("np.random.seed(0); m = KMeans(2)", []),  # the seed has run when KMeans is built
        ("m = KMeans(2); np.random.seed(0)", [(1, "KMeans(...) without random_state")]),
        ("np.random.seed(\n    0\n); m = KMeans(2)", []),  # on the line where the seed's call ends
        ("np.random.seed(\n    KMeans(2).n_clusters\n)", [(2, "KMeans(...) without random_state")]),
        ("np.random.seed(KMeans(2).n_clusters)", [(1, "KMeans(...) without random_state")]),
    ],
)
def test_numpy_seed_covers_estimators_built_after_its_call_ends_even_on_its_line(tmp_path, source, expected):
    got = findings(tmp_path, NP + "\nfrom sklearn.cluster import KMeans", source + "\nprint(m)")
    assert got == [("NB501", 2, line, message) for line, message in expected]


def test_imports_after_a_cell_that_does_not_parse_still_name_the_estimator(tmp_path):
    """A cell with a syntax error has no tree; the imports of the cells after it still count."""
    assert findings(tmp_path, "def broken(:\n", "from sklearn.cluster import KMeans\nKMeans(2)") == [
        ("NB501", 2, 2, "KMeans(...) without random_state"),
    ]
