"""A magic whose value is assigned (``files = %ls``) is never dropped from an export without a word:
the name it binds may be read later, so it stays as a comment, in the header and on stderr."""

from __future__ import annotations

import subprocess
import sys

import nbformat
from nbformat.v4 import new_code_cell, new_notebook


def test_an_assigned_line_magic_is_kept_as_a_comment_and_reported(tmp_path):
    book = new_notebook(cells=[new_code_cell("files = %ls\nprint(files)"), new_code_cell("out = !echo hi")])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(book, tmp_path / "a.ipynb")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlrelease",
            "export",
            str(tmp_path / "a.ipynb"),
            "-o",
            str(tmp_path / "a.py"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    script = (tmp_path / "a.py").read_text()
    assert "# not exported: files = %ls" in script
    assert "NOT EXPORTED (kept as comments, port by hand): cell 1, line 1: files = %ls" in script
    assert "files = %ls" in done.stderr
    assert 'out = subprocess.run("echo hi"' in script  # a shell line it can translate still runs
