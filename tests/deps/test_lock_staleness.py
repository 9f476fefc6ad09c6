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
from mlrelease.deps.requirements import Policy
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


def test_lines_the_lock_vouches_for_are_not_parsed_again(tmp_path: Path):
    """The inputs digest stands for lines `lock` parsed when it locked them: `--check` trusts it and
    does not parse them again (even a line this packaging would refuse, as a lock made where an
    earlier one accepted it holds). Options are still screened on every check."""
    request = base_request(tmp_path, requirements_text="six\nsix >= = 1\n")
    vouched = Inputs.of(request, parse=False)
    request.output.write_text(lockmod.render_header(request, vouched, "uv 0.0.0", BODY) + BODY)
    assert lockmod.check(request).status == "fresh"
    (tmp_path / "requirements.in").write_text("six\nsix >= = 1\n--trusted-host evil.example\n")
    with pytest.raises(UsageError) as info:
        lockmod.check(request)
    parsed, screened = info.value.problems
    assert parsed.line == 2 and parsed.message.startswith("cannot parse 'six >= = 1': ")
    assert (screened.line, screened.message) == (
        3,
        "'--trusted-host evil.example': --trusted-host changes where packages come from",
    )


def test_a_refused_option_and_an_unparseable_line_are_reported_together(tmp_path: Path):
    write_lock(base_request(tmp_path))
    text = "six\n--trusted-host evil.example\n!!! not a requirement\n"
    with pytest.raises(UsageError) as info:
        lockmod.check(base_request(tmp_path, requirements_text=text))
    assert [p.line for p in info.value.problems] == [2, 3]
    assert "cannot parse" in info.value.problems[1].message


# ----------------------------------------------------------------------------- what check says, exactly

CheckResult = lockmod.CheckResult
DIFF_HEAD = ("--- recorded in the lock", "+++ current inputs")


def test_a_missing_lock_says_how_to_make_it(tmp_path: Path):
    request = base_request(tmp_path)
    assert lockmod.check(request) == CheckResult(
        request.output, "missing", "requirements.txt does not exist; run `mlrelease lock --no-server`"
    )


def test_a_file_without_the_header_cannot_be_checked(tmp_path: Path):
    request = base_request(tmp_path)
    request.output.write_text(BODY)
    assert lockmod.check(request) == CheckResult(
        request.output,
        "foreign",
        "requirements.txt was not written by `mlrelease lock` (no header), so it cannot be checked",
    )


def test_a_fresh_lock_says_so(tmp_path: Path):
    write_lock(base_request(tmp_path))
    request = base_request(tmp_path)
    assert lockmod.check(request) == CheckResult(
        request.output, "fresh", "requirements.txt is up to date with its inputs"
    )


def test_changed_inputs_give_only_the_changed_lines(tmp_path: Path):
    write_lock(base_request(tmp_path, requirements_text="idna\nsix\nurllib3\n"))
    request = base_request(tmp_path, requirements_text="idna\nsix>=1.16\nurllib3\n", python="3.12")
    assert lockmod.check(request) == CheckResult(
        request.output,
        "stale",
        "requirements.txt is stale: its inputs changed since it was locked",
        (*DIFF_HEAD, "-python: 3.11", "+python: 3.12", "-in: six", "+in: six>=1.16"),
    )


def test_a_moved_index_is_named_in_the_message(tmp_path: Path):
    write_lock(base_request(tmp_path))
    request = base_request(tmp_path, index_url="https://mirror.example/simple")
    assert lockmod.check(request) == CheckResult(
        request.output,
        "stale",
        "requirements.txt is stale: the package indexes it was resolved from changed "
        "(index-url: https://mirror.example/simple; index-url: https://pypi.org/simple)",
        (*DIFF_HEAD, "-index-url: https://pypi.org/simple", "+index-url: https://mirror.example/simple"),
    )


def test_an_index_requirements_in_gives_is_named_without_its_line(tmp_path: Path):
    policy = Policy(tmp_path, frozenset({"--extra-index-url"}))
    write_lock(
        base_request(
            tmp_path, requirements_text="--extra-index-url https://a.example/simple\nsix\n", policy=policy
        )
    )
    request = base_request(
        tmp_path, requirements_text="six\n--extra-index-url https://b.example/simple\n", policy=policy
    )
    result = lockmod.check(request)
    assert result.message == (
        "requirements.txt is stale: the package indexes it was resolved from changed "
        "(extra-index-url: https://a.example/simple; extra-index-url: https://b.example/simple)"
    )
    assert result.diff == (
        *DIFF_HEAD,
        "-extra-index-url: https://a.example/simple (from requirements.in:1)",
        "-in: --extra-index-url https://a.example/simple",
        "+extra-index-url: https://b.example/simple (from requirements.in:2)",
        "+in: --extra-index-url https://b.example/simple",
    )


def test_a_changed_hash_is_an_edit_even_when_every_pin_is_still_exact(tmp_path: Path):
    request = base_request(tmp_path)
    write_lock(request)
    request.output.write_text(request.output.read_text().replace("sha256:4721", "sha256:0000"))
    assert lockmod.check(request) == CheckResult(
        request.output,
        "edited",
        "requirements.txt was edited by hand after it was locked",
        ("pins or hashes differ from what the resolver wrote; re-run `mlrelease lock`",),
    )


def test_an_edit_that_loosens_a_pin_names_it(tmp_path: Path):
    request = base_request(tmp_path)
    write_lock(request)
    text = request.output.read_text().replace(BODY, "six>=1.16\nidna==3.10\n")
    request.output.write_text(text)
    result = lockmod.check(request)
    assert (result.status, result.diff) == (
        "edited",
        ("six>=1.16: no longer pinned with == and hashes", "idna==3.10: no longer pinned with == and hashes"),
    )


def test_files_included_from_inside_and_outside_the_folder_are_named_in_the_inputs(tmp_path: Path):
    handoff, shared = tmp_path / "handoff", tmp_path / "shared"
    (handoff / "sub").mkdir(parents=True)
    shared.mkdir()
    (handoff / "sub" / "base.in").write_text("idna\n")
    (handoff / "sub" / "constraints.txt").write_text("idna<4\n")
    (shared / "base.in").write_text("numpy\n")
    anywhere = Policy(None)  # trust.outside_paths: [requirements]
    request = base_request(
        handoff,
        requirements_text="-r sub/base.in\n-c sub/constraints.txt\n-r ../shared/base.in\nsix\n",
        policy=anywhere,
    )
    assert Inputs.of(request).requirements == (
        "[sub/base.in] idna",
        "constraint [sub/constraints.txt] idna<4",
        f"[{shared.resolve() / 'base.in'}] numpy",
        "six",
    )


def test_an_index_from_a_file_whose_name_holds_parentheses_is_read_whole(tmp_path: Path):
    """The origin '(from FILE:LINE)' is cut at its first ' (from ': a URL has no spaces, a file name may."""
    named = tmp_path / "requirements (from upstream).in"
    policy = Policy(tmp_path, frozenset({"--extra-index-url"}))
    made = LockRequest(named, tmp_path / "requirements.txt", "3.11", server=False, policy=policy)
    named.write_text("--extra-index-url https://a.example/simple\nsix\n")
    write_lock(made)
    text = made.output.read_text()
    assert "# extra-index-url: https://a.example/simple (from requirements (from upstream).in:1)\n" in text
    assert text.endswith("#\n--extra-index-url https://a.example/simple\n" + BODY)
    named.write_text("--extra-index-url https://b.example/simple\nsix\n")
    assert lockmod.check(made).message == (
        "requirements.txt is stale: the package indexes it was resolved from changed "
        "(extra-index-url: https://a.example/simple; extra-index-url: https://b.example/simple)"
    )


# ----------------------------------------------------------------------------- the digest is a stored format

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "brno-houses"


def test_a_lock_committed_by_an_earlier_mlrelease_is_still_fresh():
    """The example's lock was written by an earlier release: the digest's form may not drift."""
    request = LockRequest(EXAMPLE / "requirements.in", EXAMPLE / "requirements.txt", "3.11")
    assert lockmod.check(request).status == "fresh"


def test_the_digest_of_inputs_with_sources_is_the_recorded_one():
    """Locks made with an index from requirements.in carry this digest; a change of form would
    call every one of them stale."""
    recorded = Inputs(
        requirements=("--extra-index-url https://a.example/simple", "six"),
        server=("uvicorn>=0.29",),
        python="3.11",
        platform="x86_64-manylinux_2_28",
        variant="default",
        index_url="https://pypi.org/simple",
        extra_index_urls=(),
        sources=("extra-index-url: https://a.example/simple (from requirements.in:1)",),
    )
    assert recorded.digest() == "8f4d09e8d75e2319b3ea541582a9fc4d851503b67ce7ece27eff052e963f58c7"
