"""GitHub Actions workflow commands: escaping, outputs, summaries, and silence outside Actions."""

from __future__ import annotations

import io

from mlrelease import github

ACTIONS = {"GITHUB_ACTIONS": "true"}


def test_annotation_escapes_data_and_properties():
    cmd = github.annotation_command(
        "error", "50% worse\nsee: a, b", file="nb/a,b:c.ipynb", line=3, title="gate: failed"
    )
    assert cmd == "::error file=nb/a%2Cb%3Ac.ipynb,line=3,title=gate%3A failed::50%25 worse%0Asee: a, b"


def test_annotation_without_properties():
    assert github.annotation_command("notice", "done") == "::notice::done"


def test_annotate_is_silent_outside_actions():
    out = io.StringIO()
    github.annotate("error", "x", stream=out, env={})
    assert out.getvalue() == ""
    github.annotate("warning", "x", stream=out, env=ACTIONS)
    assert out.getvalue() == "::warning::x\n"


def test_workflow_commands_go_to_stderr_so_stdout_stays_data(capsys):
    github.annotate("error", "x", env=ACTIONS)
    github.mask("s3cret", env=ACTIONS)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "::error::x\n::add-mask::s3cret\n"


def test_single_line_output(tmp_path):
    path = tmp_path / "out"
    github.set_output("verdict", "pass", env={**ACTIONS, "GITHUB_OUTPUT": str(path)})
    assert path.read_text() == "verdict=pass\n"


def test_multi_line_output_uses_a_delimiter_absent_from_the_value(tmp_path):
    path = tmp_path / "out"
    env = {**ACTIONS, "GITHUB_OUTPUT": str(path)}
    github.set_output("report", "line 1\nline 2", env=env)
    github.set_output("next", "x", env=env)
    lines = path.read_text().splitlines()
    head, delimiter = lines[0].split("<<")
    assert head == "report" and delimiter.startswith("ghadelimiter_")
    assert lines[1:4] == ["line 1", "line 2", delimiter]
    assert lines[4] == "next=x"


def test_outputs_and_summary_are_noops_outside_actions(tmp_path):
    path = tmp_path / "out"
    github.set_output("a", "b", env={"GITHUB_OUTPUT": str(path)})
    github.add_summary("# hi", env={"GITHUB_STEP_SUMMARY": str(path)})
    assert not path.exists()


def test_summary_appends_markdown(tmp_path):
    path = tmp_path / "summary.md"
    env = {**ACTIONS, "GITHUB_STEP_SUMMARY": str(path)}
    github.add_summary("# one", env=env)
    github.add_summary("two\n", env=env)
    assert path.read_text() == "# one\n\ntwo\n\n"


def test_mask_each_line_of_a_secret():
    out = io.StringIO()
    github.mask("abc\ndef", stream=out, env=ACTIONS)
    assert out.getvalue() == "::add-mask::abc\n::add-mask::def\n"
