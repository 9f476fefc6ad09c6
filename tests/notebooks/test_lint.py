"""Notebook lint: each rule fires on its own notebook, never on the clean ones; config, inline
ignores, output formats and exit codes behave as documented."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlrelease.cli import cli
from mlrelease.config import LintConfig
from mlrelease.notebooks import checks
from mlrelease.notebooks.lint import lint_paths
from mlrelease.notebooks.rules import RULES
from mlrelease.notebooks.source import translate

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fixtures" / "notebooks"
EXAMPLE = ROOT / "examples" / "brno-houses"
RULE_CASES = sorted(CORPUS.glob("nb[0-9]*.ipynb"))


def rules_of(path: Path, cfg: LintConfig | None = None) -> list[str]:
    return [f.rule for f in lint_paths([path], cfg).findings]


def test_the_corpus_has_a_notebook_for_every_static_rule():
    covered = {p.name[:5].upper() for p in RULE_CASES}
    static = {r for r in RULES if not r.startswith("NB8")}  # NB8xx need --execute: tests below
    assert static <= covered


@pytest.mark.parametrize("path", RULE_CASES, ids=lambda p: p.stem)
def test_each_rule_fires_on_its_notebook_and_nothing_else_does(path):
    expected = path.name[:5].upper()
    found = rules_of(path)
    assert expected in found
    assert set(found) == {expected}, found


@pytest.mark.parametrize("path", sorted((CORPUS / "clean").glob("*.ipynb")), ids=lambda p: p.stem)
def test_no_rule_fires_on_clean_realistic_notebooks(path):
    assert rules_of(path) == []


def test_magics_are_understood_not_skipped():
    """%%capture defines its name, %timeit uses its function, an import used only in a magic is used."""
    assert rules_of(CORPUS / "magics_understood.ipynb") == []


def test_translation_keeps_line_numbers_and_the_names_magics_define_and_use():
    python, _, _ = translate("%%capture out\nx = f()\n")
    assert python.splitlines() == ["out = get_ipython()", "x = f()"]
    python, _, _ = translate("import numpy as np\n%timeit np.sum(a)\ny = !ls\n%time z = g()")
    assert python.splitlines() == [
        "import numpy as np",
        "np.sum(a)",
        "y = get_ipython().getoutput('ls')",
        "z = g()",
    ]
    _, _, shell = translate("%%bash\npip install x\n")
    assert shell


@pytest.mark.parametrize(
    "comment",
    ["Note: prices are in CZK", "see the data dictionary", "TODO fix this", "not ready", "https://example.com/x",
     "first try: a random forest on raw prices", "(optional)", "else:", "price in CZK"],
)  # fmt: skip
def test_prose_comments_are_not_code(comment):
    assert not checks.is_code_comment(comment)


@pytest.mark.parametrize(
    "comment",
    ["rf = RandomForestRegressor(n_estimators=200)", "model.fit(X, y)", "print(rmse)", "import os",
     "for row in rows:", "df['a'] = 1", "return x"],
)  # fmt: skip
def test_code_comments_are_code(comment):
    assert checks.is_code_comment(comment)


def test_config_changes_severity_and_ignores_rules():
    path = CORPUS / "nb301_unused_import.ipynb"
    report = lint_paths([path], LintConfig(severity={"NB301": "error"}))
    assert [f.severity for f in report.findings] == ["error"]
    assert report.failed
    assert lint_paths([path], LintConfig(ignore=("NB301",))).findings == []
    assert lint_paths([path], LintConfig(ignore=("NB3",))).findings == []
    assert lint_paths([path], LintConfig(severity={"NB301": "off"})).findings == []


def test_inline_comment_ignores_one_rule_on_one_line(tmp_path):
    book = json.loads((CORPUS / "nb301_unused_import.ipynb").read_text())
    book["cells"][0]["source"] = "import os  # mlrelease: ignore[NB301]\nimport math"
    path = tmp_path / "ignored.ipynb"
    path.write_text(json.dumps(book))
    assert rules_of(path) == []
    book["cells"][0]["source"] = "import os  # mlrelease: ignore[NB201]\nimport math"
    path.write_text(json.dumps(book))
    assert rules_of(path) == ["NB301"]


def test_example_notebook_fails_for_the_reasons_the_rules_state():
    report = lint_paths([EXAMPLE / "notebooks" / "house_prices.ipynb"], root=EXAMPLE)
    by_rule: dict[str, list] = {}
    for f in report.findings:
        by_rule.setdefault(f.rule, []).append(f)
    # cells count from 1 as Jupyter shows them: the model was saved (cell 18, count 12) before
    # the cell that fits it ran (count 14)
    assert [(f.location.cell, f.severity) for f in by_rule["NB101"]] == [(18, "error")]
    assert sorted(f.message.split("`")[1] for f in by_rule["NB301"]) == [
        "json", "os", "sklearn.ensemble.RandomForestRegressor"]  # fmt: skip
    assert [f.message for f in by_rule["NB303"]] == ["unused function 'add_age'"]
    assert [(f.location.cell, f.location.line) for f in by_rule["NB201"]] == [
        (13, 2)
    ]  # line 1 of the cell is prose
    assert [f.location.cell for f in by_rule["NB104"]] == [12]
    assert [f.location.cell for f in by_rule["NB701"]] == [4, 5, 7, 8, 17]
    assert set(by_rule) == {"NB101", "NB102", "NB104", "NB201", "NB301", "NB303", "NB701"}
    assert report.counts()["error"] == 1 and report.failed


# ----------------------------------------------------------------------------- CLI


def test_cli_exit_codes_follow_fail_on():
    runner = CliRunner()
    path = str(CORPUS / "nb301_unused_import.ipynb")
    assert runner.invoke(cli, ["lint", path]).exit_code == 0
    assert runner.invoke(cli, ["lint", path, "--fail-on", "warning"]).exit_code == 1
    assert runner.invoke(cli, ["lint", str(CORPUS / "nb101_out_of_order.ipynb")]).exit_code == 1
    assert runner.invoke(cli, ["lint", str(CORPUS / "clean")]).exit_code == 0


def test_cli_json_prints_only_json_and_sarif_is_2_1_0(tmp_path):
    sarif = tmp_path / "lint.sarif"
    result = CliRunner().invoke(
        cli, ["lint", str(CORPUS / "nb201_commented_code.ipynb"), "--json", "--sarif", str(sarif)]
    )
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["schema_version"] == 2
    assert [f["rule"] for f in doc["findings"]] == ["NB201"]
    log = json.loads(sarif.read_text())
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    assert run["tool"]["driver"]["name"] == "mlrelease"
    (res,) = run["results"]
    assert res["ruleId"] == "NB201" and res["level"] == "warning"
    assert run["tool"]["driver"]["rules"][res["ruleIndex"]]["id"] == "NB201"
    loc = res["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "tests/fixtures/notebooks/nb201_commented_code.ipynb"
    # the region points at the commented-out line inside the .ipynb JSON
    line = (
        Path(CORPUS / "nb201_commented_code.ipynb").read_text().splitlines()[loc["region"]["startLine"] - 1]
    )
    assert "# frame = frame.dropna()" in line


def run(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    return subprocess.run(
        [sys.executable, "-m", "mlrelease", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**base, **(env or {})},
    )


def test_malformed_notebooks_get_one_line_each_and_the_others_are_still_checked():
    result = run(
        "lint", str(CORPUS / "malformed"), str(CORPUS / "nb301_unused_import.ipynb"), "--fail-on", "warning"
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 3
    assert any("bad_json.ipynb: not valid JSON (line 1" in e for e in errors)
    assert any("empty.ipynb: the file is empty" in e for e in errors)
    assert any("nbformat3.ipynb: nbformat 3 is not supported, expected 4" in e for e in errors)
    assert "NB301" in result.stdout  # the readable notebook was still checked


def test_no_notebooks_and_no_config_is_a_usage_error(tmp_path):
    result = run("lint", cwd=tmp_path)
    assert result.returncode == 2
    assert "no notebooks given and no mlrelease.yaml found" in result.stderr


def test_lint_uses_the_config_globs_and_writes_reports(tmp_path):
    out = tmp_path / "out"
    result = run(
        "lint", "-c", str(EXAMPLE), "--report", str(out / "lint.json"), "--sarif", str(out / "lint.sarif")
    )
    assert result.returncode == 1, result.stderr
    assert "NB101 out-of-order-execution" in result.stdout
    assert json.loads((out / "lint.json").read_text())["counts"]["error"] == 1
    uri = json.loads((out / "lint.sarif").read_text())["runs"][0]["results"][0]["locations"][0]
    assert uri["physicalLocation"]["artifactLocation"]["uri"] == "notebooks/house_prices.ipynb"


def test_annotations_and_summary_inside_github_actions(tmp_path):
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(outputs)}
    result = run("lint", str(CORPUS / "nb101_out_of_order.ipynb"), env=env)
    assert result.returncode == 1
    assert "::error file=tests/fixtures/notebooks/nb101_out_of_order.ipynb,line=" in result.stderr
    assert "title=NB101 out-of-order-execution::" in result.stderr
    assert "::" not in result.stdout
    assert "Notebook lint" in summary.read_text()
    assert "errors=1" in outputs.read_text() and "failed=true" in outputs.read_text()


def test_lint_reads_severities_from_mlrelease_yaml(tmp_path):
    shutil.copy(CORPUS / "nb301_unused_import.ipynb", tmp_path / "nb.ipynb")
    text = (EXAMPLE / "mlrelease.yaml").read_text()
    (tmp_path / "mlrelease.yaml").write_text(
        text.replace(
            "notebooks:\n  - notebooks/*.ipynb", "notebooks: ['*.ipynb']\nlint: {severity: {NB301: error}}"
        )
    )
    for sub in ("model", "baseline", "data"):
        shutil.copytree(EXAMPLE / sub, tmp_path / sub)
    for name in ("requirements.in",):
        shutil.copy(EXAMPLE / name, tmp_path / name)
    result = run("lint", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "error NB301 unused-import" in result.stdout


def test_numpy_2_scalar_reprs_reproduce_the_numpy_1_outputs():
    from mlrelease.notebooks.execute import same_text

    assert same_text("0.96", "np.float64(0.96)", 1e-9) == (True, "")
    assert same_text("(3, 'a', True)", "(np.int64(3), np.str_('a'), np.True_)", 1e-9)[0]
    assert not same_text("0.96", "np.float64(0.97)", 1e-9)[0]
