"""Each action's README tables match its action.yml, and every input follows the conventions."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("gen_action_docs", ROOT / "scripts" / "gen_action_docs.py")
assert _spec is not None and _spec.loader is not None
gen_action_docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen_action_docs)

ACTIONS = gen_action_docs.action_files(ROOT)
KEBAB_CASE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def _id(path: Path) -> str:
    return (
        path.stem if path.parent.name == "workflows" else path.parent.name if path.parent != ROOT else "root"
    )


def test_actions_exist():
    assert ACTIONS, "no actions/*/action.yml found"


@pytest.mark.parametrize("action_file", ACTIONS, ids=_id)
def test_readme_tables_match_action_yml(action_file: Path):
    readme, current, expected = gen_action_docs.expected_readme(action_file)
    assert current == expected, f"{readme} drifted from {action_file}. Fix: python scripts/gen_action_docs.py"


@pytest.mark.parametrize("action_file", ACTIONS, ids=_id)
def test_every_input_is_kebab_case_described_and_defaulted(action_file: Path):
    action = gen_action_docs.interface(action_file)
    for name, spec in (action.get("inputs") or {}).items():
        assert KEBAB_CASE.match(name), f"{action_file}: input {name!r} is not kebab-case"
        assert (spec or {}).get("description", "").strip(), (
            f"{action_file}: input {name!r} has no description"
        )
        assert "default" in (spec or {}), f"{action_file}: input {name!r} has no default"
    for name, spec in (action.get("outputs") or {}).items():
        assert KEBAB_CASE.match(name), f"{action_file}: output {name!r} is not kebab-case"
        assert (spec or {}).get("description", "").strip(), (
            f"{action_file}: output {name!r} has no description"
        )


def test_drift_is_detected_and_the_generator_repairs_it(tmp_path: Path):
    action = {
        "inputs": {"model-dir": {"description": "Where | the model is.", "default": ""}},
        "outputs": {"digest": {"description": "Image digest."}},
    }
    stale = (
        "# x\n<!-- BEGIN AUTOGEN INPUTS -->\nold\n<!-- END AUTOGEN INPUTS -->\n"
        "<!-- BEGIN AUTOGEN OUTPUTS -->\n<!-- END AUTOGEN OUTPUTS -->\nhand-written\n"
    )
    fresh = gen_action_docs.render_readme(stale, action, tmp_path / "README.md")

    assert fresh != stale
    assert '| `model-dir` | Where \\| the model is. | no | `""` |' in fresh
    assert "| `digest` | Image digest. |" in fresh
    assert fresh.endswith("hand-written\n")
    assert gen_action_docs.render_readme(fresh, action, tmp_path / "README.md") == fresh


def test_readme_without_markers_is_an_error_that_names_the_fix(tmp_path: Path):
    with pytest.raises(gen_action_docs.DocsError, match=r"gen_action_docs\.py"):
        gen_action_docs.render_readme("# no markers\n", {}, tmp_path / "README.md")
