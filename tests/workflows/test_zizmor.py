"""Our workflows and actions pass zizmor's security audit (offline, default persona)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
PLACES = (".github/workflows", "actions", "action.yml")


def _zizmor() -> str:
    beside_python = Path(sys.executable).with_name("zizmor")
    found = str(beside_python) if beside_python.exists() else shutil.which("zizmor")
    if found is None:
        pytest.fail("zizmor is not installed. Fix: make setup (zizmor is in requirements-dev.txt)")
    return found


def test_workflows_and_actions_have_no_zizmor_findings():
    places = (
        ".github/workflows",
        "actions",
        "action.yml",
        *sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("examples/*/.github/workflows")),
    )
    targets = [p for p in places if (ROOT / p).exists()]
    result = subprocess.run(
        [_zizmor(), "--offline", "--no-progress", "--strict-collection", *targets],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, (
        f"zizmor found problems (exit {result.returncode}):\n{result.stdout}{result.stderr}"
    )
    assert "No findings" in result.stdout


def test_every_container_image_is_pinned_by_digest():
    """A tag such as debian:bookworm moves under us; CI's container must name the exact image."""
    result = subprocess.run(
        [_zizmor(), "--offline", "--no-progress", "--persona=pedantic", "--format=json", *PLACES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    findings = json.loads(result.stdout)
    unpinned = [f["desc"] for f in findings if f["ident"] == "unpinned-images"]
    assert unpinned == [], unpinned
