"""The findings contract: the fail-on policy, the one exit path and every renderer."""

from __future__ import annotations

import io
import json

import click
import pytest

from mlrelease import findings
from mlrelease.cli import main
from mlrelease.errors import FindingsFailed
from mlrelease.findings import Finding, Location

ACTIONS = {"GITHUB_ACTIONS": "true"}

ERROR = Finding("NB101", "error", "out of order", Location("nb.ipynb", 2, 3, file_line=40), "rerun", "ooo")
WARNING = Finding("unused", "warning", "idna is unused", Location("requirements.in", 4), "remove it")
INFO = Finding("NB701", "info", "display only", Location("nb.ipynb", None, 5, file_line=60))


@pytest.mark.parametrize(
    ("fail_on", "found", "failed"),
    [
        ("error", [WARNING, INFO], False),
        ("error", [ERROR], True),
        ("warning", [WARNING], True),
        ("warning", [INFO], False),
        ("info", [INFO], True),
        ("never", [ERROR], False),
        ("error", [], False),
    ],
)
def test_fail_on_is_the_lowest_severity_that_fails(fail_on, found, failed):
    assert findings.fails(found, fail_on) is failed


def test_ranked_puts_the_worst_first_then_file_and_line():
    later = Finding("unused", "warning", "x", Location("a.in", 9))
    assert findings.ranked([INFO, later, WARNING, ERROR]) == [ERROR, later, WARNING, INFO]


def test_counts_name_only_the_severities_asked_for():
    assert findings.counts([ERROR, WARNING]) == {"error": 1, "warning": 1, "info": 0}
    assert findings.counts([WARNING], ("error", "warning")) == {"error": 0, "warning": 1}


def test_locations_read_as_people_say_them():
    assert ERROR.location.render() == "nb.ipynb:cell 3:2"
    assert WARNING.location.render() == "requirements.in:4"
    assert Location(key="gate.metrics.r2").render() == "gate.metrics.r2"
    # a line inside a cell is not a line of the file: annotations use the file's line or none
    assert ERROR.location.annotation_line == 40
    assert Location("nb.ipynb", 2, 3).annotation_line is None


def test_json_is_flat_and_carries_the_rule_data():
    doc = Finding("missing", "error", "m", Location("a.py", 1), "add it", data={"package": "attrs"}).to_json()
    assert doc == {
        "rule": "missing",
        "severity": "error",
        "message": "m",
        "file": "a.py",
        "line": 1,
        "hint": "add it",
        "package": "attrs",
    }
    assert ERROR.to_json()["cell"] == 3 and ERROR.to_json()["name"] == "ooo"


def test_table_in_a_pipe_is_one_line_each_then_each_fix_once():
    out = io.StringIO()
    twice = Finding("NB101", "error", "again", Location("nb.ipynb", 1, 4), "rerun", "ooo")
    findings.render_table([ERROR, twice, WARNING], stream=out)
    lines = out.getvalue().splitlines()
    assert lines[:3] == [
        "nb.ipynb:cell 3:2: error NB101 ooo: out of order",
        "nb.ipynb:cell 4:1: error NB101 ooo: again",
        "requirements.in:4: warning unused: idna is unused",
    ]
    assert lines[3:] == ["how to fix:", "  NB101 ooo: rerun", "  unused: remove it"]


def test_summary_markdown_escapes_pipes():
    text = findings.summary_markdown(
        [Finding("r", "error", "a | b", Location("f"))], title="Check", failed=True, line="1 error"
    )
    assert text.startswith("### ❌ Check\n\n1 error\n")
    assert "| error | r | f | a \\| b |" in text


def test_annotations_use_the_file_line_and_the_level_of_the_severity(monkeypatch, capsys):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    findings.annotate([ERROR, INFO], title_prefix="lint: ")
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (
        "::error file=nb.ipynb,line=40,title=lint%3A NB101 ooo::nb.ipynb:cell 3:2: out of order (fix: rerun)"
    )
    assert err[1].startswith("::notice file=nb.ipynb,line=60,")


def test_sarif_lists_results_with_regions_and_unreadable_files():
    rule = findings.SarifRule("NB101", "ooo", "Out of order: detail.", "rerun", "error")
    log = findings.sarif([ERROR], [rule], notifications=["bad.ipynb: not JSON"])
    run = log["runs"][0]
    (result,) = run["results"]
    assert result["level"] == "error" and run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == "NB101"
    assert result["locations"][0]["physicalLocation"]["region"] == {"startLine": 40}
    assert run["invocations"][0]["executionSuccessful"] is False
    json.dumps(log)  # serialisable


def test_failing_findings_leave_the_cli_with_exit_1_and_one_line(monkeypatch, capsys):
    from mlrelease import cli as climod

    @click.command()
    def check() -> None:
        findings.raise_if_failed([WARNING], "warning", "check failed: 1 warning")

    @click.command()
    def passes() -> None:
        findings.raise_if_failed([WARNING], "error", "never shown")

    monkeypatch.setattr(
        climod.LazyGroup, "get_command", lambda self, ctx, name: {"a": check, "b": passes}[name]
    )
    with pytest.raises(SystemExit) as exc:
        main(["a"])
    assert exc.value.code == 1
    assert capsys.readouterr().err == "error: check failed: 1 warning\n"
    with pytest.raises(SystemExit) as exc:
        main(["b"])
    assert exc.value.code == 0


def test_findings_failed_is_a_failed_check():
    assert FindingsFailed("x").exit_code == 1


def test_json_reads_back_into_the_same_finding():
    with_data = Finding("missing", "error", "m", Location("a.py", 1), "add it", data={"package": "attrs"})
    for finding in (ERROR, WARNING, INFO, with_data, Finding("r", "info", "m", Location(key="gate.x"))):
        assert Finding.from_json(finding.to_json()) == finding
    with pytest.raises(ValueError, match="unknown severity 'fatal'"):
        Finding.from_json({**ERROR.to_json(), "severity": "fatal"})
