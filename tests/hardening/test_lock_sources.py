"""Where the lock's packages come from is the handoff's to ask for and the lock's to record:
source options in requirements.in work only when mlrelease.yaml allows them by name, every index
and link they add is written into the lock's header, and ``lock --check`` sees when one changes.

Resolves for real with uv against a package index built on the local disk (no network).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml

# The deps tests' local index builder, beside them; and one way to run the CLI in-process.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "deps"))
from localindex import make_index
from test_handoff_confinement import invoke

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def handoff(tmp_path: Path) -> Path:
    """A handoff whose only requirement, mlr-accel, exists in ./wheels and nowhere else."""
    folder = tmp_path / "handoff"
    shutil.copytree(ROOT / "tests" / "fixtures" / "deps-clean", folder)
    index = make_index(tmp_path / "index", {"mlr-accel": ["1.0"]})
    (folder / "wheels").mkdir()
    for wheel in (tmp_path / "index" / "simple" / "mlr-accel").glob("*.whl"):
        shutil.copy(wheel, folder / "wheels")
    (folder / "requirements.in").write_text("mlr-accel\n--find-links ./wheels\n")
    (folder / "index-url").write_text(index)
    return folder


def allow(folder: Path, *options: str) -> None:
    path = folder / "mlrelease.yaml"
    data = yaml.safe_load(path.read_text())
    data["trust"] = {"requirements_options": list(options)}
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def lock(folder: Path, *extra: str) -> tuple[int, str]:
    # The main index is the empty local one: only ./wheels can provide mlr-accel.
    empty = make_index(folder.parent / "empty", {"unrelated": ["1.0"]})
    return invoke(["lock", "-c", ".", "--no-server", "--index-url", empty, *extra], cwd=folder)


def test_find_links_is_refused_until_allowed_then_recorded_in_the_header(handoff: Path):
    code, output = lock(handoff)
    assert code == 2 and "requirements.in:2" in output and "--find-links" in output
    assert not (handoff / "requirements.txt").read_text().count("mlr-accel")
    allow(handoff, "--find-links")
    code, output = lock(handoff)
    assert code == 0, output
    text = (handoff / "requirements.txt").read_text()
    assert "# find-links: ./wheels (from requirements.in:2)" in text
    assert "mlr-accel==1.0" in text
    code, output = invoke(["lock", "-c", ".", "--check"], cwd=handoff)
    assert code == 0, output


def test_an_added_or_changed_index_makes_the_lock_stale_with_the_reason(handoff: Path):
    allow(handoff, "--find-links", "--extra-index-url")
    assert lock(handoff)[0] == 0
    (handoff / "requirements.in").write_text(
        "mlr-accel\n--find-links ./wheels\n--extra-index-url https://mirror.example/simple\n"
    )
    code, output = invoke(["lock", "-c", ".", "--check"], cwd=handoff)
    assert code == 1
    assert "the package indexes it was resolved from changed" in output
    assert "extra-index-url: https://mirror.example/simple" in output
    code, output = invoke(["deps", "check", "-c", ".", "--json"], cwd=handoff)
    assert code == 1 and "the package indexes it was resolved from changed" in output


def test_an_index_url_in_the_file_is_the_one_used_and_recorded(handoff: Path):
    index = (handoff / "index-url").read_text()
    (handoff / "requirements.in").write_text(f"mlr-accel\n--index-url {index}\n")
    allow(handoff, "--index-url")
    code, output = invoke(["lock", "-c", ".", "--no-server"], cwd=handoff)
    assert code == 0, output
    text = (handoff / "requirements.txt").read_text()
    assert f"# index-url: {index} (from requirements.in:2)" in text
    assert "index-url: https://pypi.org/simple" not in text
    assert invoke(["lock", "-c", ".", "--check"], cwd=handoff)[0] == 0
    code, output = invoke(
        ["lock", "-c", ".", "--no-server", "--index-url", "https://other.example/simple"], cwd=handoff
    )
    assert code == 2 and "give the main index in one place" in output


def test_an_unreachable_extra_index_is_named_by_its_host(handoff: Path):
    (handoff / "requirements.in").write_text("mlr-accel\n--extra-index-url http://127.0.0.1:9/simple\n")
    allow(handoff, "--extra-index-url")
    code, output = lock(handoff)
    assert code == 3, output
    assert "could not reach 127.0.0.1:9" in output
    assert "Traceback" not in output


def test_a_url_requirement_is_reported_by_its_name_not_as_https(handoff: Path):
    wheel = next((handoff / "wheels").glob("*.whl"))
    (handoff / "requirements.in").write_text(f"{wheel.resolve().as_uri()}\n")
    allow(handoff, "url")
    code, output = invoke(["deps", "check", "-c", ".", "--json"], cwd=handoff)
    assert code in (0, 1), output  # findings (a stale lock) are fine; bad input is not
    report, _ = json.JSONDecoder().raw_decode(output[output.index("{") :])
    assert (
        "mlr-accel" in report["declared"]
        and "https" not in report["declared"]
        and "file" not in report["declared"]
    )
