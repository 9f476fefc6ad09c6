#!/usr/bin/env python3
"""Write each action's and reusable workflow's inputs/outputs tables into its README.

Every ``actions/<name>/action.yml`` has a ``README.md`` beside it, the root ``action.yml`` has the
root ``README.md``, and each reusable workflow ``.github/workflows/<name>.yml`` (``on:
workflow_call``) has ``docs/<name>.md``; each README holds these marker pairs::

    <!-- BEGIN AUTOGEN INPUTS -->  ...  <!-- END AUTOGEN INPUTS -->
    <!-- BEGIN AUTOGEN OUTPUTS --> ...  <!-- END AUTOGEN OUTPUTS -->

The text between each pair is generated; everything else in the README is written by hand.
Usage: ``python scripts/gen_action_docs.py [--check]``. ``--check`` changes nothing and exits 1
when a README differs from what its action.yml generates (tests/test_action_docs.py runs it).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("inputs", "outputs")


class DocsError(Exception):
    """A README cannot be generated: the message names the file and the fix."""


def action_files(root: Path = ROOT) -> list[Path]:
    """Every actions/*/action.yml (or action.yaml), the root action.yml and the reusable workflows."""
    actions = sorted([*root.glob("actions/*/action.yml"), *root.glob("actions/*/action.yaml")])
    root_action = [p for p in (root / "action.yml",) if p.is_file()]
    return actions + root_action + reusable_workflows(root)


def reusable_workflows(root: Path = ROOT) -> list[Path]:
    """Every .github/workflows/*.yml triggered by ``workflow_call``."""
    found = []
    for path in sorted((root / ".github" / "workflows").glob("*.yml")):
        triggers = (yaml.safe_load(path.read_text("utf-8")) or {}).get(True)  # YAML reads `on` as True
        if isinstance(triggers, dict) and "workflow_call" in triggers:
            found.append(path)
    return found


def _is_workflow(path: Path) -> bool:
    return path.parent.name == "workflows" and path.parent.parent.name == ".github"


def readme_for(path: Path) -> Path:
    """The README that documents ``path``: beside an action, docs/<name>.md for a workflow."""
    if _is_workflow(path):
        return path.parent.parent.parent / "docs" / f"{path.stem}.md"
    return path.with_name("README.md")


def interface(path: Path) -> dict[str, object]:
    """The inputs and outputs of an action.yml, or of a workflow's ``on.workflow_call``."""
    data = yaml.safe_load(path.read_text("utf-8")) or {}
    if _is_workflow(path):
        return (data.get(True) or {}).get("workflow_call") or {}
    return data


def _cell(text: object) -> str:
    """One Markdown table cell: whitespace folded, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _code(value: object) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return f"`{text}`" if text else '`""`'


def render_inputs(action: dict[str, object]) -> str:
    inputs = action.get("inputs") or {}
    assert isinstance(inputs, dict)
    if not inputs:
        return "This action has no inputs.\n"
    typed = any("type" in (spec or {}) for spec in inputs.values())  # a workflow's inputs have types
    head = "| name | type | description | required | default |" if typed else None
    rows = [head or "| name | description | required | default |"]
    rows.append("| --- | --- | --- | --- | --- |" if typed else "| --- | --- | --- | --- |")
    for name, spec in inputs.items():
        spec = spec or {}
        default = _code(spec["default"]) if "default" in spec else ""
        required = "yes" if spec.get("required") else "no"
        kind = f" {spec.get('type', '')} |" if typed else ""
        rows.append(
            f"| `{name}` |{kind} {_cell(spec.get('description', ''))} | {required} | {_cell(default)} |"
        )
    return "\n".join(rows) + "\n"


def render_outputs(action: dict[str, object]) -> str:
    outputs = action.get("outputs") or {}
    assert isinstance(outputs, dict)
    if not outputs:
        return "This action has no outputs.\n"
    rows = ["| name | description |", "| --- | --- |"]
    for name, spec in outputs.items():
        rows.append(f"| `{name}` | {_cell((spec or {}).get('description', ''))} |")
    return "\n".join(rows) + "\n"


def render_readme(readme: str, action: dict[str, object], readme_path: Path) -> str:
    """``readme`` with the text between each marker pair replaced by the generated table."""
    renderers = {"inputs": render_inputs, "outputs": render_outputs}
    for section in SECTIONS:
        begin = f"<!-- BEGIN AUTOGEN {section.upper()} -->"
        end = f"<!-- END AUTOGEN {section.upper()} -->"
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), flags=re.DOTALL)
        if len(pattern.findall(readme)) != 1:
            raise DocsError(
                f"{readme_path}: expected one '{begin}' ... '{end}' pair. "
                "Fix: add the pair where the table belongs, then run python scripts/gen_action_docs.py"
            )
        table = renderers[section](action)
        readme = pattern.sub(lambda _match, t=table, b=begin, e=end: f"{b}\n{t}{e}", readme)
    return readme


def expected_readme(action_file: Path) -> tuple[Path, str, str]:
    """(README path, its current text, the text it should have)."""
    readme_path = readme_for(action_file)
    if not readme_path.is_file():
        raise DocsError(
            f"{readme_path} is missing. Fix: write it with the AUTOGEN INPUTS/OUTPUTS marker pairs "
            "(see actions/setup/README.md), then run python scripts/gen_action_docs.py"
        )
    action = interface(action_file)
    current = readme_path.read_text("utf-8")
    return readme_path, current, render_readme(current, action, readme_path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a README is out of date")
    args = parser.parse_args(argv)
    failed = False
    for action_file in action_files():
        try:
            readme_path, current, expected = expected_readme(action_file)
        except DocsError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed = True
            continue
        if current == expected:
            continue
        if args.check:
            print(
                f"error: {readme_path.relative_to(ROOT)} is out of date with "
                f"{action_file.relative_to(ROOT)}. Fix: python scripts/gen_action_docs.py",
                file=sys.stderr,
            )
            failed = True
        else:
            readme_path.write_text(expected, "utf-8")
            print(f"wrote {readme_path.relative_to(ROOT)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
