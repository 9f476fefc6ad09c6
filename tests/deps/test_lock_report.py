"""``lock-check.json``, what ``mlrelease lock --check --json`` writes and the PR comment reads: its
exact JSON form, the published schema the reader checks, and a wrong field refused by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlrelease.artifacts.catalogue import BY_NAME
from mlrelease.deps.lock import CheckResult, LockCheckReport
from mlrelease.errors import ArtifactError, Problem

ROOT = Path(__file__).resolve().parents[2]
STALE = CheckResult(
    Path("gpu/requirements-gpu.txt"),
    "stale",
    "requirements-gpu.txt is stale: its inputs changed since it was locked",
    ("--- recorded in the lock", "+++ current inputs", "-in: a", "+in: b"),
)
FRESH = CheckResult(Path("requirements.txt"), "fresh", "requirements.txt is up to date with its inputs")
REPORT = LockCheckReport([FRESH, STALE])
DOCUMENT = {
    "schema_version": 1,
    "locks": [
        {
            "path": "requirements.txt",
            "status": "fresh",
            "message": "requirements.txt is up to date with its inputs",
            "diff": [],
        },
        {
            "path": "gpu/requirements-gpu.txt",
            "status": "stale",
            "message": "requirements-gpu.txt is stale: its inputs changed since it was locked",
            "diff": ["--- recorded in the lock", "+++ current inputs", "-in: a", "+in: b"],
        },
    ],
}


def test_the_report_is_written_in_its_documented_form_and_reads_back_equal(tmp_path: Path):
    assert REPORT.to_json() == DOCUMENT
    REPORT.write(tmp_path / "lock.json")
    assert json.loads((tmp_path / "lock.json").read_text()) == DOCUMENT
    assert LockCheckReport.read(tmp_path / "lock.json") == REPORT


def test_a_result_is_ok_only_when_fresh_and_its_problem_names_the_file():
    assert FRESH.ok and not STALE.ok
    assert STALE.problem() == Problem(STALE.message, file="gpu/requirements-gpu.txt")


def test_the_reader_checks_the_published_schema():
    published = json.loads((ROOT / "schemas" / "lock-check.schema.json").read_text())
    assert BY_NAME["lock-check.json"].json_schema() == published
    packaged = ROOT / "src" / "mlrelease" / "schema" / "lock-check.schema.json"
    assert json.loads(packaged.read_text()) == published


def test_an_entry_without_a_diff_reads_as_an_empty_diff(tmp_path: Path):
    entry = {"path": "requirements.txt", "status": "missing", "message": "requirements.txt does not exist"}
    (tmp_path / "lock.json").write_text(json.dumps({"schema_version": 1, "locks": [entry]}))
    report = LockCheckReport.read(tmp_path / "lock.json")
    assert report == LockCheckReport([CheckResult(Path("requirements.txt"), "missing", entry["message"])])


def _without(key: str) -> dict:
    entry = dict(DOCUMENT["locks"][1])
    del entry[key]
    return entry


def _with(key: str, value: object) -> dict:
    return {**DOCUMENT["locks"][1], key: value}


WRONG = {
    "no locks": ({"schema_version": 1}, "(top level): 'locks' is a required property"),
    "locks not a list": ({"schema_version": 1, "locks": {}}, "locks: {} is not of type 'array'"),
    "entry not an object": ({"schema_version": 1, "locks": [3]}, "locks[0]: 3 is not of type 'object'"),
    "no path": (
        {"schema_version": 1, "locks": [_without("path")]},
        "locks[0]: 'path' is a required property",
    ),
    "no status": (
        {"schema_version": 1, "locks": [_without("status")]},
        "locks[0]: 'status' is a required property",
    ),
    "no message": (
        {"schema_version": 1, "locks": [_without("message")]},
        "locks[0]: 'message' is a required property",
    ),
    "path a number": (
        {"schema_version": 1, "locks": [_with("path", 3)]},
        "locks[0].path: 3 is not of type 'string'",
    ),
    "unknown status": (
        {"schema_version": 1, "locks": [_with("status", "old")]},
        "locks[0].status: 'old' is not one of ['fresh', 'stale', 'edited', 'missing', 'foreign']",
    ),
    "message a list": (
        {"schema_version": 1, "locks": [_with("message", ["x"])]},
        "locks[0].message: ['x'] is not of type 'string'",
    ),
    "diff a string": (
        {"schema_version": 1, "locks": [_with("diff", "-in: a")]},
        "locks[0].diff: '-in: a' is not of type 'array'",
    ),
    "diff of numbers": (
        {"schema_version": 1, "locks": [FRESH.to_json(), _with("diff", ["-in: a", 2])]},
        "locks[1].diff[1]: 2 is not of type 'string'",
    ),
}


@pytest.mark.parametrize("case", list(WRONG))
def test_a_wrong_field_is_refused_naming_it(tmp_path: Path, case: str):
    document, where = WRONG[case]
    path = tmp_path / "lock.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ArtifactError) as info:
        LockCheckReport.read(path)
    assert info.value.message == f"{path}: not a valid lock-check.json: {where}"
    assert info.value.hint == "write it again with `mlrelease lock --check --json`"
