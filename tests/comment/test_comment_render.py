"""The sticky comment's body, rendered from real step reports (tests/fixtures/pr-comment)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlrelease.cli import cli
from mlrelease.errors import ArtifactError
from mlrelease.image.verify import ImageTestResult, RowDiff
from mlrelease.prcomment import MARKER, load_reports, render

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pr-comment"
BLOCKED = FIXTURES / "blocked"
PASSED = FIXTURES / "passed"


def test_a_degraded_model_is_blocked_with_the_gate_table_per_metric_slice_and_interval():
    body = render(load_reports(gate=BLOCKED / "gate.json", lock=BLOCKED / "lock.json"))

    assert body.startswith(MARKER + "\n")
    assert "## ❌ mlrelease: BLOCKED" in body
    assert "Blocked by: gate (mean_absolute_percentage_error, r2_score, root_mean_squared_error)." in body
    assert "| metric | slice | baseline | candidate | change | interval of change | rule | verdict |" in body
    assert (
        "| root_mean_squared_error | overall | 601,977 | 994,411 | +392,434 (+65.2%) "
        "| [327,139, 461,430] at 95% | ≤ 2% worse | ❌ fail:"
    ) in body
    assert (
        "| r2_score | city-centre | 0.9277 | 0.7683 | -0.1595 (-17.2%) | [-0.1891, -0.1262] at 95% |" in body
    )
    assert "### ✅ Lock" in body


def test_a_passing_candidate_says_passed():
    body = render(load_reports(gate=PASSED, lock=PASSED / "lock.json"))

    assert "## ✅ mlrelease: PASSED" in body
    assert "BLOCKED" not in body
    assert "### ✅ Gate: PASS" in body


def test_lint_findings_are_grouped_by_severity_with_the_cell():
    body = render(load_reports(lint=BLOCKED / "lint.json"))

    assert "### ❌ Notebook lint: 1 error, 7 warning, 5 info (fails on error)" in body
    error_block = body.split("<details open><summary>error: 1</summary>")[1].split("</details>")[0]
    assert "| notebooks/house_prices.ipynb cell 18 | NB101 out-of-order-execution |" in error_block
    assert "<details><summary>warning: 7</summary>" in body
    assert "Blocked by: notebook lint (1 errors)." in body


def test_a_stale_lock_blocks_and_shows_the_package_that_changed():
    body = render(load_reports(lock=BLOCKED / "lock-stale.json"))

    assert "Blocked by: lock not fresh (requirements.txt)." in body
    assert "- `requirements.txt`: **stale**" in body
    assert "  +in: requests>=2.31" in body


def test_the_image_check_is_shown_when_given(tmp_path):
    image = tmp_path / "image-test.json"
    ImageTestResult(
        reference="brno:1", image_id="sha256:" + "a" * 64, rows=64, rtol=1e-7, atol=0.0,
        seconds_to_healthy=1.5, uid=10001, row_diffs=[RowDiff(7, 1.0, 2.0), RowDiff(9, 3.0, 4.0)],
    ).write(image)  # fmt: skip
    body = render(load_reports(image=image))

    assert "### ❌ Image `brno:1`" in body
    assert "2 of 64 golden predictions differ, 0 packages differ from the lock" in body
    assert "image does not reproduce the golden predictions" in body


def test_untrusted_text_cannot_break_out_of_the_table_or_inject_html(tmp_path):
    data = json.loads((BLOCKED / "lint.json").read_text())
    data["findings"][0]["message"] = "x | y\n<img src=x onerror=alert(1)> ``` -->"
    lint = tmp_path / "lint.json"
    lint.write_text(json.dumps(data))
    body = render(load_reports(lint=lint))

    assert "x \\| y &lt;img src=x onerror=alert(1)&gt; ``` --&gt;" in body
    assert "<img" not in body
    assert body.count(MARKER) == 1


def test_links_to_the_job_summary_close_the_body():
    body = render(load_reports(gate=PASSED, links={"job summary": "https://github.com/o/r/actions/runs/7"}))
    assert body.rstrip().endswith("Details: [job summary](https://github.com/o/r/actions/runs/7)")


GATE_CHECK = json.loads((BLOCKED / "gate.json").read_text())["checks"][0]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"verdict": "maybe"},
            "gate.json: not a valid gate.json: verdict: 'maybe' is not one of ['pass', 'fail']",
        ),
        (
            {"checks": [{**GATE_CHECK, "metric": 3}]},
            "gate.json: not a valid gate.json: checks[0].metric: 3 is not of type 'string'",
        ),
        (
            {"checks": [{"metric": "r2_score"}]},
            "gate.json: not a valid gate.json: checks[0]: 'scope' is a required property",
        ),
        ({"checks": "none"}, "gate.json: not a valid gate.json: checks: 'none' is not of type 'array'"),
    ],
)
def test_a_malformed_gate_json_names_the_file_and_the_field(tmp_path, change, expected):
    data = json.loads((BLOCKED / "gate.json").read_text()) | change
    (tmp_path / "gate.json").write_text(json.dumps(data))
    with pytest.raises(ArtifactError) as exc:
        load_reports(gate=tmp_path)
    assert exc.value.message == f"{tmp_path}/{expected}" and exc.value.exit_code == 2


def test_the_cli_writes_the_body_and_refuses_bad_input(tmp_path):
    ok = CliRunner().invoke(cli, ["comment", "--gate", str(BLOCKED), "-o", str(tmp_path / "c")])
    assert ok.exit_code == 0, ok.output
    assert "mlrelease: BLOCKED" in (tmp_path / "c" / "comment.md").read_text()

    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlrelease",
            "comment",
            "--lint",
            str(tmp_path / "nope.json"),
            "-o",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert missing.returncode == 2
    assert "nope.json: no such file" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert not (tmp_path / "d").exists()

    nothing = subprocess.run(
        [sys.executable, "-m", "mlrelease", "comment", "-o", str(tmp_path / "e")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert nothing.returncode == 2
    assert "nothing to report" in nothing.stderr
