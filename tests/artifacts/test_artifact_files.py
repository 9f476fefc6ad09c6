"""Every file between steps: its schema is published and current, what is written validates and
reads back equal, and a corrupted, foreign or too-new file is refused with one error (exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from mlrelease.artifacts.catalogue import BY_NAME
from mlrelease.artifacts.metrics import MetricsReport
from mlrelease.deps.audit import Report
from mlrelease.deps.lock import CheckResult, LockCheckReport
from mlrelease.errors import ArtifactError, UsageError
from mlrelease.gate import GateResult, decide, load_side
from mlrelease.image.record import ImageRecord
from mlrelease.image.verify import GpuReport, ImageTestResult, PackageDiff, RowDiff
from mlrelease.notebooks.lint import LintReport
from mlrelease.signature import Signature

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "examples" / "brno-houses" / "baseline"
FIXTURES = ROOT / "tests" / "fixtures"


def valid(name: str, document: object) -> None:
    schema = BY_NAME[name].json_schema()
    Draft202012Validator.check_schema(schema)
    errors = sorted(Draft202012Validator(schema).iter_errors(document), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]


def test_schemas_and_docs_are_up_to_date():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_artifact_docs.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def image_record() -> ImageRecord:
    return ImageRecord(
        reference="brno:1", image_id="sha256:" + "a" * 64, size_bytes=123, gpu=False,
        base_image="python:3.11-slim", labels={"org.opencontainers.image.title": "brno"}, port=8080,
        content_sha256="b" * 64,
    ).with_push("127.0.0.1:5000/brno:1", "sha256:" + "c" * 64)  # fmt: skip


def gate_result() -> GateResult:
    from mlrelease import config

    cfg = config.load(ROOT / "examples" / "brno-houses")
    side = load_side(BASELINE, "candidate")
    return decide(cfg.gate, cfg.validation.slices if cfg.validation else (), side, side)


def lint_report():
    from mlrelease.notebooks.lint import lint_paths

    corpus = FIXTURES / "notebooks"
    return lint_paths([corpus / "nb101_out_of_order.ipynb", *sorted((corpus / "malformed").glob("*.ipynb"))])


def deps_report():
    from mlrelease import config
    from mlrelease.deps import audit

    return audit.check(config.load(FIXTURES / "deps-missing"))


def lock_check() -> LockCheckReport:
    return LockCheckReport(
        [
            CheckResult(Path("requirements.txt"), "fresh", "requirements.txt is up to date with its inputs"),
            CheckResult(Path("requirements-gpu.txt"), "stale", "its inputs changed", ("-in: a", "+in: b")),
        ]
    )


def image_test() -> ImageTestResult:
    return ImageTestResult(
        reference="brno:1", image_id="sha256:" + "a" * 64, rows=64, rtol=1e-7, atol=0.0,
        seconds_to_healthy=1.5, uid=10001,
        row_diffs=[RowDiff(7, 1.0, 2.0), RowDiff("x", 0.2, 0.3, "proba:1")],
        max_abs_diff=1.0, packages=40, package_diffs=[PackageDiff("numpy", "2.1.0", None)],
        gpu=GpuReport("GPU 0: H100", None, "2.5.0", True, 1),
    )  # fmt: skip


# name -> (write the artifact at a path, read it back)
ROUND_TRIPS = {
    "lint.json": (lambda p: lint_report().write(p), LintReport.read),
    "deps.json": (lambda p: deps_report().write(p), Report.read),
    "metrics.json": (lambda p: MetricsReport.read(BASELINE / "metrics.json").write(p), MetricsReport.read),
    "signature.json": (lambda p: Signature.read(BASELINE / "signature.json").write(p), Signature.read),
    "image.json": (lambda p: image_record().write(p), ImageRecord.read),
    "gate.json": (lambda p: gate_result().write(p), GateResult.read),
    "lock-check.json": (lambda p: lock_check().write(p), LockCheckReport.read),
    "image-test.json": (lambda p: image_test().write(p), ImageTestResult.read),
}


@pytest.mark.parametrize("name", sorted(ROUND_TRIPS))
def test_written_files_validate_and_read_back_equal(tmp_path, name):
    write, read = ROUND_TRIPS[name]
    first, second = tmp_path / "a" / name, tmp_path / "b" / name
    write(first)
    valid(name, json.loads(first.read_text()))
    again = read(first)
    again.write(second)
    assert read(second) == again
    assert second.read_bytes() == first.read_bytes()


def test_unreadable_notebooks_and_findings_survive_the_round_trip(tmp_path):
    report = lint_report()
    assert report.unreadable and report.findings
    report.write(tmp_path / "lint.json")
    again = LintReport.read(tmp_path / "lint.json")
    assert again.findings == report.findings and again.unreadable == report.unreadable


CORRUPTIONS = {
    "not JSON": ("{schema_version: 1", "not valid JSON"),
    "a list": ("[1, 2]", "expected a JSON object"),
    "too new": ('{"schema_version": 99}', "written by a newer mlrelease"),
    "no version": ("{}", "schema_version None is not"),
    "fields missing": ('{"schema_version": VERSION}', "not a valid"),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
@pytest.mark.parametrize("name", sorted(ROUND_TRIPS))
def test_corrupted_files_are_refused_with_one_error_naming_the_file(tmp_path, name, case):
    text, expected = CORRUPTIONS[case]
    path = tmp_path / name
    path.write_text(text.replace("VERSION", str(BY_NAME[name].version)))
    _, read = ROUND_TRIPS[name]
    with pytest.raises(ArtifactError) as exc:
        read(path)
    assert isinstance(exc.value, UsageError) and exc.value.exit_code == 2
    assert str(path) in exc.value.message and expected in exc.value.message
    assert exc.value.hint


@pytest.mark.parametrize("name", sorted(ROUND_TRIPS))
def test_a_missing_file_is_the_same_error(tmp_path, name):
    with pytest.raises(ArtifactError, match="no such file"):
        ROUND_TRIPS[name][1](tmp_path / name)
