"""The rules every workflow and action of ours keeps, beyond what zizmor and GitHub's schemas check.

Caller values reach a shell only through ``env:`` (no ``${{ }}`` inside ``run:``), third-party
actions are pinned by commit SHA with a version comment, every job has ``timeout-minutes``, and
every workflow starts from ``permissions: {}``. Each rule is also shown to catch a bad file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted([*ROOT.glob(".github/workflows/*.yml"), *ROOT.glob("examples/*/.github/workflows/*.yml")])
ACTIONS = sorted([*ROOT.glob("actions/*/action.yml"), ROOT / "action.yml"])
OURS = re.compile(r"^(\./|mlrelease/mlrelease(/|@))")
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def _steps(document: dict) -> list[dict]:
    if "runs" in document:  # an action
        return list(document["runs"].get("steps") or [])
    return [step for job in document.get("jobs", {}).values() for step in job.get("steps") or []]


def expressions_in_run(text: str) -> list[str]:
    return [str(step.get("name") or step["run"][:40]) for step in _steps(yaml.safe_load(text))
            if "run" in step and "${{" in str(step["run"])]  # fmt: skip


def unpinned_uses(text: str) -> list[str]:
    found = []
    lines = text.splitlines()
    for step in _steps(yaml.safe_load(text)):
        uses = str(step.get("uses") or "")
        if not uses or OURS.match(uses) or uses.startswith("docker://"):
            continue
        comment = next((line for line in lines if f"uses: {uses}" in line), "")
        if not PINNED.match(uses) or not re.search(r"#\s*v\d", comment):
            found.append(uses)
    return found


def jobs_without_timeout(text: str) -> list[str]:
    jobs = yaml.safe_load(text).get("jobs", {})
    return [name for name, job in jobs.items() if "uses" not in job and "timeout-minutes" not in job]


@pytest.mark.parametrize("path", [*WORKFLOWS, *ACTIONS], ids=lambda p: str(p.relative_to(ROOT)))
def test_no_expression_inside_run_and_third_party_actions_pinned_by_sha(path: Path):
    text = path.read_text()
    assert expressions_in_run(text) == []
    assert unpinned_uses(text) == []


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_job_has_a_timeout_and_the_workflow_starts_with_no_permissions(path: Path):
    text = path.read_text()
    assert jobs_without_timeout(text) == []
    assert yaml.safe_load(text).get("permissions") == {}


def test_the_rules_catch_a_bad_workflow():
    bad = """
on: push
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v5
      - uses: actions/cache@0c45773b623bea8c8e75f6c82b208c3cf94ea4f9
      - uses: mlrelease/mlrelease/actions/setup@main
      - name: greet
        run: echo "${{ github.event.pull_request.title }}"
"""
    assert expressions_in_run(bad) == ["greet"]
    assert unpinned_uses(bad) == [
        "actions/checkout@v5",
        "actions/cache@0c45773b623bea8c8e75f6c82b208c3cf94ea4f9",
    ]
    assert jobs_without_timeout(bad) == ["a"]
