"""Clean-kernel execution (`lint --execute`) and export to a script that trains the same model.

These run real Jupyter kernels (nbclient + ipykernel) and the real example notebook (~5 s each).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mlrelease.cli import cli
from mlrelease.config import LintConfig
from mlrelease.notebooks.export import export_notebook
from mlrelease.notebooks.lint import lint_paths
from mlrelease.notebooks.source import read

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fixtures" / "notebooks"
EXAMPLE = ROOT / "examples" / "brno-houses"

pytestmark = pytest.mark.slow


@pytest.fixture
def example(tmp_path):
    """A copy of the example handoff, so that what the notebook writes stays out of the repository."""
    dest = tmp_path / "brno-houses"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("model_notebook.skops", "__pycache__"))
    return dest


def test_execute_reports_the_first_failing_cell_with_its_traceback():
    report = lint_paths([CORPUS / "execute" / "fails_in_fresh_kernel.ipynb"], execute=True)
    (failed,) = [f for f in report.findings if f.rule == "NB801"]
    assert failed.cell == 1 and failed.severity == "error"
    assert "IndexError: list index out of range" in failed.message
    assert "print(values[10])" in failed.message  # the traceback names the line
    assert report.exit_code == 1


def test_execute_reports_stored_outputs_a_fresh_run_does_not_reproduce():
    path = CORPUS / "execute" / "stale_output.ipynb"
    report = lint_paths([path], LintConfig(rtol=1e-6), execute=True)
    stale = [(f.cell, f.message) for f in report.findings if f.rule == "NB802"]
    assert [cell for cell, _ in stale] == [0]  # 'total 44' is now 'total 45'; the others reproduce
    assert "total 44" in stale[0][1] and "total 45" in stale[0][1]


def test_execute_runs_in_the_notebooks_folder_and_the_example_reproduces(example):
    nb = example / "notebooks" / "house_prices.ipynb"
    result = CliRunner().invoke(cli, ["lint", str(nb), "--execute", "--json", "--fail-on", "never"])
    assert result.exit_code == 0, result.output
    assert '"NB801"' not in result.stdout and '"NB802"' not in result.stdout
    assert (example / "model" / "model_notebook.skops").is_file()  # ../model relative to the notebook


def test_export_writes_a_clean_script_with_the_source_and_its_hash(example):
    nb = example / "notebooks" / "house_prices.ipynb"
    out = example / "notebooks" / "pipeline.py"
    result = export_notebook(nb, out)
    script = out.read_text()
    assert script.startswith("# Exported by `mlrelease export` from house_prices.ipynb\n")
    assert f"# source sha256: {read(nb).sha256}" in script
    for gone in ("matplotlib", "import json", "import os", "RandomForestRegressor", "rf.fit", ".head()",
                 "describe()", "def add_age", "plt.", "get_ipython"):  # fmt: skip
        assert gone not in script, gone
    body = script[script.index("# %% cell") :]
    assert "import " not in body  # every import is at the top
    assert result.dropped[3] == "display only" and 17 in result.kept


def test_exported_example_trains_the_same_model_as_the_notebook(example):
    notebooks = example / "notebooks"
    produced = example / "model" / "model_notebook.skops"
    from mlrelease.notebooks.execute import run_fresh  # the same fresh kernel `lint --execute` uses

    _, failed, why = run_fresh(read(notebooks / "house_prices.ipynb"), 300)
    assert failed is None, why
    from_notebook = example / "model" / "from_notebook.skops"
    produced.rename(from_notebook)
    script = str(notebooks / "pipeline.py")
    exported = CliRunner().invoke(cli, ["export", str(notebooks / "house_prices.ipynb"), "-o", script])
    assert exported.exit_code == 0, exported.output
    run = subprocess.run([sys.executable, "pipeline.py"], cwd=notebooks, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "RMSE 564,757 CZK" in run.stdout  # the notebook's printed metric
    import pandas as pd
    import skops.io as sio

    def predictions(path: Path) -> np.ndarray:
        model = sio.load(path, trusted=sio.get_untrusted_types(file=path))
        frame = pd.read_csv(example / "data" / "validation.csv")
        return model.predict(frame.drop(columns=["price", "listing_id"]))

    np.testing.assert_array_equal(
        predictions(produced), predictions(from_notebook)
    )  # not bytes: skops names the archive's members by id() and stamps the zip with the time
