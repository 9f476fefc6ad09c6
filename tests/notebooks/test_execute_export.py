"""Clean-kernel execution (`lint --execute`) and export to a script that trains the same model.

These run real Jupyter kernels (nbclient + ipykernel) and the real example notebook (~5 s each).
"""

from __future__ import annotations

import hashlib
import json
import os
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
    assert failed.location.cell == 2 and failed.severity == "error"
    assert "IndexError: list index out of range" in failed.message
    assert "print(values[10])" in failed.message  # the traceback names the line
    assert report.failed


def test_execute_reports_stored_outputs_a_fresh_run_does_not_reproduce():
    path = CORPUS / "execute" / "stale_output.ipynb"
    report = lint_paths([path], LintConfig(rtol=1e-6), execute=True)
    stale = [(f.location.cell, f.message) for f in report.findings if f.rule == "NB802"]
    assert [cell for cell, _ in stale] == [1]  # 'total 44' is now 'total 45'; the others reproduce
    assert "total 44" in stale[0][1] and "total 45" in stale[0][1]


def _tree_hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_execute_runs_in_a_scratch_copy_and_never_writes_the_handoff(example, tmp_path, monkeypatch):
    """The example notebook reads ../data and writes ../model/model_notebook.skops: it runs (and
    reproduces its outputs) in a copy of the handoff, and no file of the handoff changes."""
    nb = example / "notebooks" / "house_prices.ipynb"
    # a handed-over model and a data file the notebook would overwrite if it ran in place
    (example / "model" / "model_notebook.skops").write_bytes(b"the researcher's model")
    monkeypatch.setenv("MLRELEASE_CACHE", str(tmp_path / "cache"))  # the kernel built from the lock
    before = _tree_hashes(example)
    result = CliRunner().invoke(cli, ["lint", str(nb), "--execute", "--json", "--fail-on", "never"])
    assert result.exit_code == 0, result.output
    kernel = json.loads(result.stdout)["kernel"]
    assert kernel.startswith("the handoff's lock ") and "requirements.txt + requirements-dev.in" in kernel
    assert '"NB801"' not in result.stdout and '"NB802"' not in result.stdout
    assert _tree_hashes(example) == before


def test_execute_never_writes_the_handoff_even_when_the_notebook_overwrites_its_files(tmp_path):
    """The notebook overwrites the handed-over model and a CSV and writes a new file; all of it
    lands in the scratch copy, and the hash of every file of the handoff is unchanged."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    handoff = tmp_path / "handoff"
    for folder in ("analysis", "ml/models", "datasets"):
        (handoff / folder).mkdir(parents=True)
    (handoff / "mlrelease.yaml").write_text("model: {name: churn}\n")
    (handoff / "ml/models/churn.skops").write_bytes(b"handed-over model")
    (handoff / "datasets/train.csv").write_text("a,b\n1,2\n")
    code = (
        "from pathlib import Path\n"
        "Path('../ml/models/churn.skops').write_bytes(b'retrained')\n"
        "Path('../datasets/train.csv').write_text('overwritten')\n"
        "Path('scratch.txt').write_text('new')\n"
        "print(Path('../datasets/train.csv').read_text())"
    )
    nbformat.write(new_notebook(cells=[new_code_cell(code)]), handoff / "analysis" / "churn.ipynb")
    before = _tree_hashes(handoff)
    report = lint_paths([handoff / "analysis" / "churn.ipynb"], execute=True)
    assert [
        f.rule for f in report.findings if f.rule.startswith("NB8")
    ] == []  # it ran, and read its own write
    assert _tree_hashes(handoff) == before


def _handoff_with_an_empty_lock(tmp_path: Path) -> Path:
    """A handoff whose lock declares no package: its kernel has ipykernel and nothing else."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    handoff = tmp_path / "handoff"
    (handoff / "notebooks").mkdir(parents=True)
    (handoff / "mlrelease.yaml").write_text(
        "version: 1\nmodel: {name: bare, task: regression, entrypoint: 'model.py:load'}\n"
        "requirements: requirements.in\nlock: requirements.txt\nnotebooks: ['notebooks/*.ipynb']\n"
    )
    (handoff / "requirements.in").write_text("")
    (handoff / "model.py").write_text("def load():\n    return None\n")
    (handoff / "requirements.txt").write_text("# Locked by mlrelease: no packages\n")
    code = "import sys\nprint(sys.prefix)\nimport sklearn"
    nbformat.write(new_notebook(cells=[new_code_cell(code)]), handoff / "notebooks" / "uses_sklearn.ipynb")
    return handoff


def test_execute_runs_in_a_kernel_built_from_the_handoffs_lock(tmp_path, monkeypatch):
    """scikit-learn is installed beside mlrelease but the handoff never declared it: in the
    handoff's kernel the import fails; only --kernel current, asked for, lets it pass."""
    handoff = _handoff_with_an_empty_lock(tmp_path)
    monkeypatch.setenv("MLRELEASE_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(handoff)
    runner = CliRunner()
    result = runner.invoke(cli, ["lint", "--execute", "--json", "--fail-on", "error"])
    report = json.loads(result.stdout)
    assert "the handoff's lock requirements.txt" in report["kernel"]
    (failed,) = [f for f in report["findings"] if f["rule"] == "NB801"]
    assert "ModuleNotFoundError: No module named 'sklearn'" in failed["message"]
    assert result.exit_code == 1
    built = list((tmp_path / "cache" / "kernels").iterdir())
    assert len(built) == 1 and (built[0] / "ready").is_file()  # cached: one venv, keyed by the lock

    current = runner.invoke(cli, ["lint", "--execute", "--kernel", "current", "--json", "--fail-on", "error"])
    assert current.exit_code == 0, current.output
    assert json.loads(current.stdout)["kernel"].startswith("mlrelease's own environment")


def test_execute_without_a_lock_is_a_usage_error_naming_the_fix(tmp_path, monkeypatch):
    handoff = _handoff_with_an_empty_lock(tmp_path)
    (handoff / "requirements.txt").unlink()
    monkeypatch.setenv("MLRELEASE_CACHE", str(tmp_path / "cache"))
    result = subprocess.run(
        [sys.executable, "-m", "mlrelease", "lint", "--execute"], cwd=handoff, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "requirements.txt: no lock to build the notebook's kernel from" in result.stderr
    assert "--kernel current" in result.stderr


def execute_in(notebook: Path, timeout_s: int = 300) -> str:
    """Run a notebook top to bottom in its own folder (a test's copy); its printed stdout."""
    import nbformat
    from nbclient import NotebookClient

    book = nbformat.read(notebook, as_version=4)
    NotebookClient(
        book, timeout=timeout_s, kernel_name="python3", resources={"metadata": {"path": str(notebook.parent)}}
    ).execute()
    return "".join(
        o.get("text", "")
        for c in book.cells
        for o in c.get("outputs", [])
        if o.get("output_type") == "stream" and o.get("name") == "stdout"
    )


def test_export_writes_a_clean_script_with_the_source_and_its_hash(example):
    nb = example / "notebooks" / "house_prices.ipynb"
    out = example / "notebooks" / "pipeline.py"
    result = export_notebook(nb, out)
    script = out.read_text()
    assert script.startswith("# Exported by `mlrelease export` from house_prices.ipynb\n")
    assert f"# source sha256: {read(nb).sha256}" in script
    for gone in ("rf.fit", "def add_age", "get_ipython", "reference.shape, validation.shape"):
        assert gone not in script, gone
    for kept in ("reference.head()", "model.fit(X, y)", "import skops.io as sio", "sio.dump(model"):
        assert kept in script, kept
    # imports stay where the notebook has them, in order
    assert script.index("import skops.io") > script.index("model.fit(X, y)")
    assert result.dropped == {12: "nothing left to run", 13: "nothing left to run"}  # add_age; comments
    assert 18 in result.kept


def test_exported_example_trains_the_same_model_as_the_notebook(example):
    notebooks = example / "notebooks"
    produced = example / "model" / "model_notebook.skops"
    execute_in(notebooks / "house_prices.ipynb")
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
