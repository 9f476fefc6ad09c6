"""`deps check` on handoff folders made for each finding, and on the example (clean after locking)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlrelease import config
from mlrelease.deps import audit
from mlrelease.findings import fails

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


def findings(name: str) -> set[tuple[str, str, str | None]]:
    report = audit.check(config.load(FIXTURES / name))
    return {(f.rule, f.severity, f.data["package"]) for f in report.findings}


def test_example_is_clean_after_locking():
    report = audit.check(config.load(ROOT / "examples" / "brno-houses"))
    assert report.findings == ()
    assert report.locks_checked == ("requirements.txt",)
    assert "matplotlib" in report.dev_declared  # the notebook's plots: dev requirements, not the image


def test_clean_handoff_has_no_findings():
    assert findings("deps-clean") == set()


def test_declared_but_never_imported_is_unused():
    assert findings("deps-unused") == {("unused", "warning", "idna")}


def test_undeclared_import_is_missing_and_dependency_only_import_is_transitive():
    """attr is nowhere; idna arrives only through requests; orjson is imported under try/except."""
    assert findings("deps-missing") == {("missing", "error", "attrs"), ("transitive", "warning", "idna")}


def test_dev_tool_and_display_only_plots_in_runtime_requirements_are_misplaced():
    expected = {("dev-only", "error", "pytest"), ("display-only", "error", "matplotlib")}
    assert findings("deps-misplaced") == expected


def test_two_packages_providing_cv2_are_duplicates():
    assert findings("deps-duplicate") == {("duplicate", "error", "opencv-python-headless")}


def test_loose_and_hashless_pins_are_errors_with_lines():
    report = audit.check(config.load(FIXTURES / "deps-loose-pin"))
    assert {(f.rule, f.data["package"], f.location.line) for f in report.findings} == {
        ("loose-pin", "six", 2),
        ("loose-pin", "idna", 3),
    }


def test_lock_older_than_requirements_in_is_stale():
    report = audit.check(config.load(FIXTURES / "deps-stale-lock"))
    (finding,) = report.findings
    assert finding.rule == "stale-lock"
    assert "-in: six>=1.16" in finding.message and "+in: six>=1.17" in finding.message
    assert finding.hint and "--no-server" in finding.hint  # the recorded options, repeated


def test_hand_edited_lock_is_reported():
    assert findings("deps-edited-lock") == {("edited-lock", "error", None)}


def test_missing_lock_is_an_error(tmp_path: Path):
    (tmp_path / "mlrelease.yaml").write_text(
        "version: 1\nmodel: {name: t, task: regression, entrypoint: m.py:load}\n"
    )
    (tmp_path / "m.py").write_text("import six\n")
    (tmp_path / "requirements.in").write_text("six\n")
    rules = {f.rule for f in audit.check(config.load(tmp_path)).findings}
    assert rules == {"no-lock"}


def test_plot_library_used_by_model_code_belongs_to_runtime(tmp_path: Path):
    """matplotlib in a module (not a display cell) is run-time use: declared only as dev, it is missing."""
    (tmp_path / "mlrelease.yaml").write_text(
        "version: 1\nmodel: {name: t, task: regression, entrypoint: m.py:load}\n"
    )
    (tmp_path / "m.py").write_text("import matplotlib\n")
    (tmp_path / "requirements.in").write_text("")
    (tmp_path / "requirements-dev.in").write_text("matplotlib\n")
    report = audit.check(config.load(tmp_path))
    missing = [f for f in report.findings if f.rule == "missing"]
    assert len(missing) == 1 and "declared only in requirements-dev.in" in missing[0].message


@pytest.mark.parametrize(("fail_on", "failed"), [("error", False), ("warning", True), ("never", False)])
def test_fail_on_decides_which_severities_fail(fail_on: str, failed: bool):
    report = audit.check(config.load(FIXTURES / "deps-unused"))
    assert fails(report.findings, fail_on) is failed  # type: ignore[arg-type]


@pytest.mark.parametrize("dev_list", ["", "ipython\n"])
def test_a_dev_tool_imported_at_run_time_is_never_advised_into_the_runtime_list(
    tmp_path: Path, dev_list: str
):
    """The fix must not be one the dev-only rule then rejects: keep IPython out of served code."""
    (tmp_path / "mlrelease.yaml").write_text(
        "version: 1\nmodel: {name: t, task: regression, entrypoint: m.py:load}\n"
    )
    (tmp_path / "m.py").write_text("import six\nfrom IPython.display import display\n")
    (tmp_path / "requirements.in").write_text("six\n")
    (tmp_path / "requirements-dev.in").write_text(dev_list)
    report = audit.check(config.load(tmp_path))
    missing = [f for f in report.findings if f.rule == "missing"]
    assert len(missing) == 1, report.findings
    assert "ipython" in missing[0].hint and "requirements.in may not hold" in missing[0].hint
    assert "add ipython to requirements.in" not in missing[0].hint
    assert "move ipython to requirements.in" not in missing[0].hint
