"""actions/setup, as a caller's workflow uses it: mlrelease/mlrelease/actions/setup@main."""

from __future__ import annotations

import pytest

from mlrelease import __version__

pytestmark = [pytest.mark.act, pytest.mark.slow]

WORKFLOW = "tests/fixtures/workflows/setup-action.yml"


def test_setup_installs_mlrelease_on_path_and_sets_outputs(act):
    result = act(WORKFLOW, event="workflow_dispatch")

    assert result.returncode == 0, "the workflow failed; act's output is printed above"
    assert f"mlrelease, version {__version__}" in result.stdout
    assert "mlrelease resolved to " in result.stdout
    assert "/mlrelease-venv/bin/mlrelease" in result.stdout
    assert "repository=mlrelease/mlrelease" in result.stdout
    assert f"output version={__version__}" in result.stdout
    assert "output python-path imports mlrelease (3, 11)" in result.stdout


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("cache", "maybe", "cache must be 'true' or 'false', got 'maybe'"),
        ("python", "python-that-does-not-exist", "'python-that-does-not-exist' not found"),
    ],
)
def test_setup_rejects_nonsense_input_with_a_clear_message(act, name, value, message):
    result = act(WORKFLOW, event="workflow_dispatch", inputs={name: value})

    assert result.returncode != 0
    assert f"invalid input '{name}'" in result.stdout
    assert message in result.stdout
    assert "Fix: " in result.stdout
