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


def test_lint_notebooks_action_passes_names_after_double_dash_without_globbing(tmp_path: Path):
    """The step runs with bash and a stand-in `mlrelease` that prints the argv it was given."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "mlrelease"
    stub.write_text('#!/bin/sh\nfor a in "$@"; do printf "[%s]" "$a"; done\n')
    stub.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    for name in ("--execute", "a.ipynb", "b.ipynb"):
        (work / name).write_text("{}")
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "UNTRUSTED_CONFIG": ".",
        "UNTRUSTED_NOTEBOOKS": "--execute *.ipynb\nc d.ipynb",
        "UNTRUSTED_FAIL_ON": "",
        "UNTRUSTED_EXECUTE": "false",
        "UNTRUSTED_SARIF": "s.sarif",
        "UNTRUSTED_REPORT": "r.json",
    }
    script = lint_step(ROOT / "actions" / "lint-notebooks" / "action.yml")
    done = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    argv = done.stdout.strip("[]").split("][")
    assert argv[argv.index("--") + 1 :] == ["--execute", "*.ipynb", "c", "d.ipynb"]
    assert "--execute" not in argv[: argv.index("--")]
    env["UNTRUSTED_NOTEBOOKS"] = ""
    done = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.endswith("[--]"), done.stdout + done.stderr


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
