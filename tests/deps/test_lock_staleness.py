"""Lock staleness for each input of the lock's digest on its own: change one input, keep the
rest, and ``lock --check`` must call the lock stale and name that input in its diff.

The locks here are written with the same header renderer ``mlrelease lock`` uses, around a fixed
body, so no resolver runs and each test takes milliseconds.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mlrelease.deps import lock as lockmod
from mlrelease.deps.lock import Inputs, LockRequest, Variant
from mlrelease.errors import UsageError

BODY = "six==1.17.0 \\\n    --hash=sha256:4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274\n"


def base_request(folder: Path, **changes) -> LockRequest:
    requirements = changes.pop("requirements_text", "six\n")
    (folder / "requirements.in").write_text(requirements)
    request = LockRequest(folder / "requirements.in", folder / "requirements.txt", "3.11", server=False)
    return dataclasses.replace(request, **changes)


def write_lock(request: LockRequest) -> None:
    inputs = Inputs.of(request)
    request.output.write_text(lockmod.render_header(request, inputs, "uv 0.0.0", BODY) + BODY)


def test_an_unchanged_request_is_fresh(tmp_path: Path):
    write_lock(base_request(tmp_path))
    assert lockmod.check(base_request(tmp_path)).status == "fresh"


CHANGES = {
    "requirements": ({"requirements_text": "six\nidna\n"}, "+in: idna"),
    "python": ({"python": "3.12"}, "+python: 3.12"),
    "platform": ({"platform": "aarch64-manylinux_2_28"}, "+platform: aarch64-manylinux_2_28"),
    "index_url": (
        {"index_url": "https://mirror.example/simple"},
        "+index-url: https://mirror.example/simple",
    ),
    "extra_index_urls": (
        {"extra_index_urls": ("https://extra.example/simple",)},
        "+extra-index-url: https://extra.example/simple",
    ),
    "server": ({"server": True}, "-server: left out (--no-server)"),
}


@pytest.mark.parametrize("name", list(CHANGES))
def test_changing_one_input_alone_makes_the_lock_stale_and_names_it(tmp_path: Path, name: str):
    write_lock(base_request(tmp_path))
    changes, line = CHANGES[name]
    result = lockmod.check(base_request(tmp_path, **changes))
    assert result.status == "stale", result
    assert line in result.diff, result.diff
    # the diff names only what changed (the server's own lines come with the server)
    changed = [d for d in result.diff if d[:1] in "+-" and not d.startswith(("---", "+++"))]
    assert all(d.split(":")[0][1:] in {line.split(":")[0][1:], "server"} for d in changed), changed
    # and after re-locking with that change, the lock is fresh again
    write_lock(base_request(tmp_path, **changes))
    assert lockmod.check(base_request(tmp_path, **changes)).status == "fresh"


def test_a_variants_own_index_makes_its_lock_stale(tmp_path: Path):
    request = base_request(tmp_path, variant=Variant("accel", "https://a.example/simple"))
    write_lock(request)
    assert lockmod.check(request).status == "fresh"
    moved = base_request(tmp_path, variant=Variant("accel", "https://b.example/simple"))
    result = lockmod.check(moved)
    assert result.status == "stale" and "+extra-index-url: https://b.example/simple" in result.diff


def inputs() -> Inputs:
    return Inputs(
        requirements=("six",),
        server=None,
        python="3.11",
        platform="x86_64-manylinux_2_28",
        variant="default",
        index_url="https://pypi.org/simple",
        extra_index_urls=(),
    )


OTHER = {
    "requirements": ("six", "idna"),
    "server": ("fastapi",),
    "python": "3.12",
    "platform": "aarch64-manylinux_2_28",
    "variant": "gpu",
    "index_url": "https://mirror.example/simple",
    "extra_index_urls": ("https://extra.example/simple",),
    "sources": ("find-links: ./wheels (from requirements.in:2)",),
}


def test_every_field_of_the_inputs_is_covered_here():
    assert set(OTHER) == {f.name for f in dataclasses.fields(Inputs)}


@pytest.mark.parametrize("name", list(OTHER))
def test_each_input_on_its_own_changes_the_digest(name: str):
    assert inputs().digest() == inputs().digest()
    assert dataclasses.replace(inputs(), **{name: OTHER[name]}).digest() != inputs().digest()


def test_the_digest_tells_an_empty_server_list_from_no_server():
    assert dataclasses.replace(inputs(), server=()).digest() != inputs().digest()


def test_a_requirement_added_since_locking_that_does_not_parse_is_a_usage_error(tmp_path: Path):
    """A fresh lock's check leaves its lines unparsed (`lock` parsed them); any change parses them."""
    write_lock(base_request(tmp_path))
    with pytest.raises(UsageError) as info:
        lockmod.check(base_request(tmp_path, requirements_text="six\nsix >= = 1\n"))
    [problem] = info.value.problems
    assert problem.line == 2 and "cannot parse 'six >= = 1'" in problem.message


def test_a_refused_option_and_an_unparseable_line_are_reported_together(tmp_path: Path):
    write_lock(base_request(tmp_path))
    text = "six\n--trusted-host evil.example\n!!! not a requirement\n"
    with pytest.raises(UsageError) as info:
        lockmod.check(base_request(tmp_path, requirements_text=text))
    assert [p.line for p in info.value.problems] == [2, 3]
    assert "cannot parse" in info.value.problems[1].message
