"""Names that come with a pull request stay names: a notebook called ``--execute`` is a file to
lint, never an option, and a glob in the notebooks input is not expanded by the shell. And a
notebook saved without cell ids lints without nbformat's warning on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "brno-houses"


def lint_step(action: Path) -> str:
    steps = yaml.safe_load(action.read_text())["runs"]["steps"]
    return next(s["run"] for s in steps if s.get("id") == "lint")


def test_lint_notebooks_action_runs_the_bare_command_over_its_variables():
    assert lint_step(ROOT / "actions" / "lint-notebooks" / "action.yml") == "mlrelease lint"


def test_notebook_names_from_the_variable_stay_names_without_globbing(tmp_path: Path):
    """MLRELEASE_NOTEBOOKS (the action's input) splits on whitespace only: `--execute` is a file
    name, never an option, and `*.ipynb` is not expanded though a.ipynb exists."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "a.ipynb").write_text((EXAMPLE / "notebooks" / "house_prices.ipynb").read_text())
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "MLRELEASE_"))},
        "MLRELEASE_CONFIG": str(EXAMPLE),
        "MLRELEASE_NOTEBOOKS": "--execute *.ipynb\nc.ipynb",
    }
    done = subprocess.run(
        [sys.executable, "-m", "mlrelease", "lint"], cwd=work, env=env, capture_output=True, text=True
    )
    assert done.returncode == 2, done.stderr
    missing = [line for line in done.stderr.splitlines() if line.endswith(": no such file")]
    assert missing == [
        "error: --execute: no such file",
        "error: *.ipynb: no such file",
        "error: c.ipynb: no such file",
    ]


def test_a_notebook_named_like_an_option_is_a_missing_file_not_an_option():
    done = subprocess.run(
        [sys.executable, "-m", "mlrelease", "lint", "-c", str(EXAMPLE), "--", "--execute"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 2 and "--execute: no such file" in done.stderr


def test_a_notebook_without_cell_ids_lints_without_nbformat_warnings(tmp_path: Path):
    path = tmp_path / "house_prices.ipynb"
    nb = json.loads((EXAMPLE / "notebooks" / "house_prices.ipynb").read_text())
    nb["nbformat_minor"] = 5
    for cell in nb["cells"]:
        cell.pop("id", None)
    path.write_text(json.dumps(nb))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    for command in (["lint", str(path)], ["export", str(path), "-o", str(tmp_path / "out.py")]):
        done = subprocess.run(
            [sys.executable, "-m", "mlrelease", *command], capture_output=True, text=True, cwd=ROOT, env=env
        )
        assert done.returncode in (0, 1), done.stderr
        assert "Warning" not in done.stderr, done.stderr
