"""The corpus of handed-over notebooks (tests/fixtures/notebooks/corpus): exact findings per
notebook, the same alone and in any set, agreement with ruff on unused imports and variables, and
an export that keeps every statement with an effect and saves and prints what the notebook does."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlrelease.notebooks import engines
from mlrelease.notebooks.export import export_notebook
from mlrelease.notebooks.lint import lint_paths
from mlrelease.notebooks.source import read

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fixtures" / "notebooks" / "corpus"
EXPECTED: dict[str, list[list]] = json.loads((CORPUS / "expected.json").read_text())
NOTEBOOKS = sorted(CORPUS.glob("*.ipynb"))
_spec = importlib.util.spec_from_file_location("corpus_make", CORPUS / "make.py")
assert _spec and _spec.loader
_make = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_make)
RUNNABLE: list[str] = _make.RUNNABLE
DOES_NOT_PARSE = {"research_python2"}
# ruff's own false alarms on the corpus, with the reason: not counted against recall
RUFF_FALSE_ALARMS = {
    ("kaggle_pip_installs", "F401", "sys"),  # used by `!{sys.executable} -m pip`, which ruff does not expand
}


def found(findings) -> list[list]:
    return [[f.rule, f.location.cell, f.location.line] for f in findings]


def test_the_corpus_is_complete_and_every_notebook_has_expectations():
    assert len(NOTEBOOKS) >= 25
    assert sorted(p.stem for p in NOTEBOOKS) == sorted(EXPECTED)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_corpus_notebook_has_exactly_its_expected_findings(path):
    report = lint_paths([path])
    assert not report.unreadable
    assert found(report.findings) == EXPECTED[path.stem]


def test_results_are_the_same_alone_and_in_any_set():
    """A function defined in one notebook and called in another is still unused in the first."""
    together = lint_paths(NOTEBOOKS)
    by_path: dict[str, list] = {}
    for f in together.findings:
        by_path.setdefault(Path(f.location.file).stem, []).append([f.rule, f.location.cell, f.location.line])
    assert {p.stem: by_path.get(p.stem, []) for p in NOTEBOOKS} == EXPECTED
    reverse = lint_paths(list(reversed(NOTEBOOKS[:6])))
    for f in reverse.findings:
        assert [f.rule, f.location.cell, f.location.line] in EXPECTED[Path(f.location.file).stem]


def test_a_definition_used_only_by_another_notebook_is_unused(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    a, b = tmp_path / "a.ipynb", tmp_path / "b.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("def shared_helper():\n    return 1")]), a)
    nbformat.write(new_notebook(cells=[new_code_cell("print(shared_helper())")]), b)
    alone = found(lint_paths([a]).findings)
    assert alone == [["NB303", 1, 1]]
    assert [x for x in found(lint_paths([a, b]).findings) if x[0] == "NB303"] == alone


def _ruff_native(path: Path) -> set[tuple[str, int, int, str]]:
    """ruff's own notebook mode: (code, code-cell ordinal, row, name) of F401/F841."""
    proc = subprocess.run(
        [engines.ruff_bin(), "check", "--isolated", "--no-cache", "--select", "F401,F841",
         "--output-format", "json", "--exit-zero", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    out = set()
    for d in json.loads(proc.stdout or "[]"):
        name = d["message"].split("`")[1]
        out.add((d["code"], d["cell"], d["location"]["row"], name))
    return out


def unused_recall() -> dict[str, tuple[int, int]]:
    """Per ruff code: (hits ours also reports, ruff's hits), over the corpus notebooks ruff parses."""
    mapping = {"NB301": "F401", "NB302": "F841"}
    counts = {"F401": [0, 0], "F841": [0, 0]}
    for path in NOTEBOOKS:
        if path.stem in DOES_NOT_PARSE:
            continue  # ruff cannot see the code either
        nb = read(path)
        ordinal = {c.index + 1: n for n, c in enumerate(nb.code, 1)}
        ours = {
            (mapping[f.rule], ordinal[f.location.cell], f.location.line)
            for f in lint_paths([path]).findings
            if f.rule in mapping and f.location.cell is not None
        }
        for code, cell, row, name in _ruff_native(path):
            if (path.stem, code, name) in RUFF_FALSE_ALARMS:
                continue
            counts[code][1] += 1
            counts[code][0] += (code, cell, row) in ours
    return {k: (v[0], v[1]) for k, v in counts.items()}


def test_unused_import_and_variable_recall_equals_ruff():
    recall = unused_recall()
    assert recall["F401"][1] >= 1 and recall["F841"][1] >= 1
    for code, (agree, total) in recall.items():
        assert agree == total, f"{code}: {agree} of ruff's {total}"


# ----------------------------------------------------------------------------- export


def _simple_statements(tree: ast.AST) -> list[ast.stmt]:
    compound = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try,
                ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Match)  # fmt: skip
    return [n for n in ast.walk(tree) if isinstance(n, ast.stmt) and not isinstance(n, compound)]


def _calls_ipython(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "get_ipython" for n in ast.walk(node))


def _has_no_effect(stmt: ast.stmt) -> bool:
    """What the export may drop: an expression that is a name, constant, attribute of a name, or
    a tuple of those; nothing else."""

    def pure(node: ast.expr) -> bool:
        if isinstance(node, ast.Name | ast.Constant):
            return True
        if isinstance(node, ast.Attribute):
            return pure(node.value)
        return isinstance(node, ast.Tuple) and all(pure(e) for e in node.elts)

    return isinstance(stmt, ast.Expr) and pure(stmt.value)


# the corpus, the one-rule notebooks and the clean ones: every notebook of the project that parses
EXPORTABLE = [
    p
    for p in [
        *NOTEBOOKS,
        *sorted(CORPUS.parent.glob("*.ipynb")),
        *sorted((CORPUS.parent / "clean").glob("*.ipynb")),
    ]
    if p.stem not in DOES_NOT_PARSE and not p.stem.startswith("nb107")
]


@pytest.mark.parametrize("path", EXPORTABLE, ids=lambda p: p.stem)
def test_export_never_removes_a_statement_that_has_an_effect(path):
    nb = read(path)
    unused = {
        (h.cell, h.name) for h in engines.run_engines([nb])[0] if h.rule == "NB303"
    }  # functions defined and never called: the one kind of definition the export drops
    script = ast.parse(export_notebook(path).script)
    exported = {ast.dump(s) for s in _simple_statements(script)}
    for cell in nb.code:
        assert cell.tree is not None
        skip: set[int] = set()
        for node in cell.tree.body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and (cell.index, node.name) in unused:
                skip |= {id(s) for s in ast.walk(node)}
        for stmt in _simple_statements(cell.tree):
            if id(stmt) in skip or _has_no_effect(stmt) or _calls_ipython(stmt) or isinstance(stmt, ast.Pass):
                continue
            assert ast.dump(stmt) in exported, f"cell {cell.number} line {stmt.lineno}: {ast.unparse(stmt)}"


def test_export_of_a_notebook_that_does_not_parse_names_the_cell_and_line(tmp_path):
    out = tmp_path / "pipeline.py"
    result = subprocess.run(
        [sys.executable, "-m", "mlrelease", "export", str(CORPUS / "research_python2.ipynb"), "-o", str(out)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "research_python2.ipynb: cell 2, line 1: Missing parentheses" in result.stderr
    assert "make setup" not in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


def test_export_keeps_imports_after_the_cells_that_make_them_importable():
    script = export_notebook(CORPUS / "research_shell_module.ipynb").script
    assert script.index("tools/scaling.py") < script.index("os.chdir") < script.index("import scaling")
    script = export_notebook(CORPUS / "tutorial_file_magic_module.ipynb").script
    assert script.index("features.py") < script.index("import features")


def test_a_magic_dropped_inside_a_block_leaves_valid_code():
    script = export_notebook(CORPUS / "research_magic_in_block.ipynb").script
    assert "if SHOW:\n    pass\n" in script
    assert 'subprocess.run(f"echo step {step} >> steps.txt"' in script
    ast.parse(script)


# ----------------------------------------------------------------------------- export, run


_NOISE = ("CPU times:", "Wall time:", "Writing ", "Overwriting ", "Appending to ")


def _printed(text: str) -> list[str]:
    """Printed values, without what magics print about themselves (timings, files, directories)."""
    return [
        line
        for line in text.splitlines()
        if line.strip()
        and not line.startswith(_NOISE)
        and "per loop" not in line
        and not line.startswith("/")
    ]


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.suffix not in {".ipynb", ".pyc"} and p.name != "pipeline.py"
    }


def execute_in(notebook: Path, timeout_s: int) -> str:
    """Run a notebook top to bottom in its own folder (a test's copy); what it printed."""
    import nbformat
    from nbclient import NotebookClient

    book = nbformat.read(notebook, as_version=4)
    path = {"metadata": {"path": str(notebook.parent)}}
    NotebookClient(book, timeout=timeout_s, kernel_name="python3", resources=path).execute()
    return "".join(
        o.get("text", "")
        for c in book.cells
        for o in c.get("outputs", [])
        if o.get("output_type") == "stream" and o.get("name") == "stdout"
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "source",
    [
        *(CORPUS / f"{name}.ipynb" for name in RUNNABLE),
        # clean_classification runs too, but cross-validates 200-tree forests: a minute per run here
        *(CORPUS.parent / "clean" / f"{name}.ipynb" for name in ("clean_regression", "clean_with_magics")),
    ],
    ids=lambda p: p.stem,
)
def test_exported_script_saves_and_prints_what_the_notebook_does(source, tmp_path):
    name = source.stem
    in_kernel, as_script = tmp_path / "kernel", tmp_path / "script"
    for folder in (in_kernel, as_script):
        folder.mkdir()
        shutil.copy(source, folder)
    printed_by_notebook = execute_in(in_kernel / f"{name}.ipynb", 120)
    export_notebook(as_script / f"{name}.ipynb", as_script / "pipeline.py")
    run = subprocess.run(
        [sys.executable, "pipeline.py"], cwd=as_script, capture_output=True, text=True, timeout=120,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert _printed(run.stdout) == _printed(printed_by_notebook)
    assert _files(as_script) == _files(in_kernel)


def test_shell_lines_expand_notebook_variables_as_ipython_does(tmp_path):
    """`!echo $name {n + 1}` expands notebook variables; `$HOME` stays for the shell."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    code = [
        "name = 'model'\nn = 1\n!echo $name {n + 1} $$HOME > shell.txt",
        "print(open('shell.txt').read().split())",
    ]
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in code]), tmp_path / "shell.ipynb")
    export_notebook(tmp_path / "shell.ipynb", tmp_path / "pipeline.py")
    run = subprocess.run([sys.executable, "pipeline.py"], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(["model", "2", os.environ["HOME"]])


def test_a_magic_the_export_does_not_know_is_kept_as_a_comment_and_named(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    cells = ["%%sql\nSELECT * FROM listings", "%%html\n<b>hi</b>", "x = 1\n%custom_magic --fast\nprint(x)"]
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells]), tmp_path / "m.ipynb")
    result = export_notebook(tmp_path / "m.ipynb")
    assert (
        "# SELECT * FROM listings" in result.script
        and "# not exported: %custom_magic --fast" in result.script
    )
    assert result.not_exported == ["cell 1: %%sql cell (1 line(s))", "cell 3, line 2: %custom_magic --fast"]
    assert "# NOT EXPORTED" in result.script and "<b>" not in result.script
    assert result.dropped == {1: "not exported (see the comments)", 2: "%%html cell, display only"}
