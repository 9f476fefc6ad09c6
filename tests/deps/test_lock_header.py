"""What a lock's header records and how ``lock --check`` reads it back: the command that re-creates
the lock, the options ``--check`` takes from the header when they are not given again, and the
``--variant`` forms the command line accepts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mlrelease.deps import lock as lockmod
from mlrelease.deps.lock import HEADER_LEAD, Inputs, LockRequest, Variant
from mlrelease.deps.requirements import Policy
from mlrelease.errors import UsageError

BODY = "six==1.17.0 \\\n    --hash=sha256:4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274\n"
CU126 = "https://download.pytorch.org/whl/cu126"


def handoff(folder: Path, text: str = "six\n", **changes: object) -> LockRequest:
    (folder / "requirements.in").write_text(text)
    request = LockRequest(folder / "requirements.in", folder / "requirements.txt", "3.11")
    return dataclasses.replace(request, **changes)


def write_lock(request: LockRequest) -> None:
    inputs = Inputs.of(request)
    request.output.write_text(lockmod.render_header(request, inputs, "uv 0.0.0", BODY) + BODY)


# ----------------------------------------------------------------------------- the re-create command


@pytest.mark.parametrize(
    ("changes", "command"),
    [
        ({}, "mlrelease lock"),
        ({"variant": Variant.parse("gpu")}, "mlrelease lock --variant gpu"),
        ({"variant": Variant.parse("cpu")}, "mlrelease lock --variant cpu"),
        (
            {"variant": Variant.parse("gpu", cuda="12.4")},
            "mlrelease lock --variant gpu=https://download.pytorch.org/whl/cu124",
        ),
        (
            {"variant": Variant.parse("rocm=https://r.example/simple")},
            "mlrelease lock --variant rocm=https://r.example/simple",
        ),
        ({"variant": Variant("accel")}, "mlrelease lock --variant accel"),
        (
            {"variant": Variant.parse("default=https://d.example/simple")},
            "mlrelease lock --variant default=https://d.example/simple",
        ),
        ({"platform": "aarch64-manylinux_2_28"}, "mlrelease lock --platform aarch64-manylinux_2_28"),
        (
            {"index_url": "https://mirror.example/simple"},
            "mlrelease lock --index-url https://mirror.example/simple",
        ),
        (
            {"extra_index_urls": ("https://a.example/simple", "https://b.example/simple")},
            "mlrelease lock --extra-index-url https://a.example/simple --extra-index-url https://b.example/simple",
        ),
        ({"server": False}, "mlrelease lock --no-server"),
        ({"resolver": "pip-tools"}, "mlrelease lock --resolver pip-tools"),
        (
            {
                "variant": Variant.parse("cpu"),
                "platform": "aarch64-manylinux_2_28",
                "index_url": "https://mirror.example/simple",
                "extra_index_urls": ("https://a.example/simple",),
                "server": False,
                "resolver": "pip-tools",
            },
            "mlrelease lock --variant cpu --platform aarch64-manylinux_2_28 --index-url https://mirror.example/simple"
            " --extra-index-url https://a.example/simple --no-server --resolver pip-tools",
        ),
    ],
)
def test_the_recorded_command_names_only_what_differs_from_the_defaults(tmp_path: Path, changes, command):
    request = handoff(tmp_path, **changes)
    assert request.command() == command
    write_lock(request)
    assert f"# Re-create it in the handoff's folder with: {command}\n" in request.output.read_text()


# ----------------------------------------------------------------------------- --check reads the header


def test_check_takes_the_options_the_lock_was_made_with_from_its_header(tmp_path: Path):
    made = handoff(
        tmp_path,
        platform="aarch64-manylinux_2_28",
        index_url="https://mirror.example/simple",
        extra_index_urls=("https://a.example/simple", "https://b.example/simple"),
        server=False,
    )
    write_lock(made)
    plain = handoff(tmp_path)  # `mlrelease lock --check` with no flags
    assert lockmod.recorded_request(plain, set()) == made
    assert lockmod.check(lockmod.recorded_request(plain, set())).status == "fresh"


@pytest.mark.parametrize(
    ("given", "value"),
    [
        ("platform", "x86_64-manylinux_2_28"),
        ("index_url", "https://pypi.org/simple"),
        ("extra_index_urls", ()),
        ("server", True),
    ],
)
def test_an_option_given_again_on_the_command_line_wins_over_the_header(tmp_path: Path, given: str, value):
    changes = {
        "platform": "aarch64-manylinux_2_28",
        "index_url": "https://mirror.example/simple",
        "extra_index_urls": ("https://a.example/simple",),
        "server": False,
    }
    made = handoff(tmp_path, **changes)
    write_lock(made)
    recorded = lockmod.recorded_request(handoff(tmp_path), {given})
    assert recorded == dataclasses.replace(made, **{given: value})


def test_a_locked_server_is_kept_when_the_request_leaves_it_out(tmp_path: Path):
    write_lock(handoff(tmp_path))
    assert lockmod.recorded_request(handoff(tmp_path, server=False), set()).server is True


def test_without_a_lock_or_its_header_the_request_is_used_as_given(tmp_path: Path):
    request = handoff(tmp_path, platform="aarch64-manylinux_2_28", server=False)
    assert lockmod.recorded_request(request, set()) == request
    request.output.write_text("six==1.17.0\n")  # another tool's lock
    assert lockmod.recorded_request(request, set()) == request


def test_indexes_from_requirements_in_come_from_the_file_again_not_from_the_header(tmp_path: Path):
    text = "--index-url https://mirror.example/simple\n--extra-index-url https://a.example/simple\nsix\n"
    policy = Policy(tmp_path, frozenset({"--index-url", "--extra-index-url"}))
    made = handoff(tmp_path, text, policy=policy)
    write_lock(made)
    header = made.output.read_text()
    assert "# index-url: https://mirror.example/simple (from requirements.in:1)\n" in header
    assert "# extra-index-url: https://a.example/simple (from requirements.in:2)\n" in header
    assert header.count("# index-url: ") == 1  # the file's index replaces the default, once
    recorded = lockmod.recorded_request(made, set())
    assert (recorded.index_url, recorded.extra_index_urls) == ("https://pypi.org/simple", ())
    assert lockmod.check(recorded).status == "fresh"


def test_a_variants_own_index_is_not_taken_as_an_extra_index(tmp_path: Path):
    made = handoff(tmp_path, variant=Variant.parse("gpu"), extra_index_urls=("https://a.example/simple",))
    write_lock(made)
    assert f"# extra-index-url: {CU126}\n" in made.output.read_text()
    plain = handoff(tmp_path, variant=Variant.parse("gpu"))
    assert lockmod.recorded_request(plain, set()).extra_index_urls == ("https://a.example/simple",)


def test_a_header_missing_its_option_lines_leaves_the_request_alone(tmp_path: Path):
    """A header cut by hand to its lead and Python: nothing recorded, nothing taken."""
    request = handoff(tmp_path, platform="aarch64-manylinux_2_28", index_url="https://mirror.example/simple")
    request.output.write_text(
        f"{HEADER_LEAD}\n# python: 3.11\n# in: six; platform_version == 'a: b'\n#\n{BODY}"
    )
    assert lockmod.recorded_request(request, set()) == request


def test_the_header_is_read_up_to_its_closing_hash_line():
    text = (
        f"{HEADER_LEAD}\n# python: 3.11\n# inputs-sha256: abc\n#\n--extra-index-url https://a/simple\n{BODY}"
    )
    header = lockmod.parse_header(text)
    assert header == lockmod.Header({"inputs-sha256": "abc"}, ("python: 3.11",), BODY)
    unclosed = f"{HEADER_LEAD}\n# python: 3.11\n{BODY}"  # no "#" line: nothing is header-only
    assert lockmod.parse_header(unclosed) == lockmod.Header({}, ("python: 3.11",), unclosed)
    assert lockmod.parse_header(BODY) is None


# ----------------------------------------------------------------------------- --variant


@pytest.mark.parametrize(
    ("spec", "cuda", "variant"),
    [
        ("default", None, Variant("default")),
        ("cpu", None, Variant("cpu", "https://download.pytorch.org/whl/cpu")),
        ("gpu", None, Variant("gpu", CU126)),
        ("gpu", "12.4", Variant("gpu", "https://download.pytorch.org/whl/cu124")),
        (" GPU ", None, Variant("gpu", CU126)),
        ("gpu=https://mine.example/simple", None, Variant("gpu", "https://mine.example/simple")),
        ("rocm-6= https://r.example/simple ", None, Variant("rocm-6", "https://r.example/simple")),
        ("cpu=", None, Variant("cpu", "https://download.pytorch.org/whl/cpu")),
        ("a9=https://i/simple", None, Variant("a9", "https://i/simple")),
    ],
)
def test_variant_forms_that_are_accepted(spec: str, cuda: str | None, variant: Variant):
    assert Variant.parse(spec, cuda=cuda) == variant


@pytest.mark.parametrize("spec", ["GPU!", "", "-gpu", "g_pu=https://i/simple", "=https://i/simple", "gpu x"])
def test_a_variant_name_outside_the_allowed_letters_is_refused(spec: str):
    with pytest.raises(UsageError) as info:
        Variant.parse(spec)
    assert info.value.message == (
        f"--variant {spec!r}: expected NAME or NAME=INDEX_URL, NAME in lowercase letters, digits and '-'"
    )


@pytest.mark.parametrize("spec", ["rocm", "ROCm", "rocm="])
def test_a_variant_without_a_known_index_must_give_one(spec: str):
    with pytest.raises(UsageError) as info:
        Variant.parse(spec)
    assert info.value.message == "--variant rocm: no index known for this variant"
    assert info.value.hint == "give one: --variant rocm=https://my-index/simple (or use default, cpu, gpu)"


# ----------------------------------------------------------------------------- where a lock may be written

FIX = (
    "set 'lock:' in mlrelease.yaml (or pass -o) to a file only `mlrelease lock` writes, "
    "e.g. requirements-lock.txt"
)


def refusal(request: LockRequest) -> UsageError:
    with pytest.raises(UsageError) as info:
        lockmod.lock(request)  # refused before any resolver runs
    return info.value


def test_a_lock_never_overwrites_its_input_or_a_file_it_includes(tmp_path: Path):
    (tmp_path / "constraints.txt").write_text("six<2\n")
    request = handoff(tmp_path, "-c constraints.txt\nsix\n")
    for target in (request.requirements, tmp_path / "constraints.txt"):
        error = refusal(dataclasses.replace(request, lock=target))
        assert (error.message, error.hint) == (
            f"{target}: this is the requirements input, and the lock would overwrite it",
            FIX,
        )
    assert (tmp_path / "constraints.txt").read_text() == "six<2\n"


def test_a_lock_is_not_written_over_a_folder(tmp_path: Path):
    request = handoff(tmp_path)
    request.output.mkdir()
    error = refusal(request)
    assert (error.message, error.hint) == (f"{request.output}: is a folder, not a lock file", FIX)


@pytest.mark.parametrize("content", [b"six==1.17.0\n", b"\xff\xfe not text"])
def test_a_lock_is_not_written_over_a_file_without_its_header(tmp_path: Path, content: bytes):
    request = handoff(tmp_path)
    request.output.write_bytes(content)
    error = refusal(request)
    assert error.message == (
        f"{request.output}: exists and was not written by `mlrelease lock` (no header): "
        "refusing to overwrite a file it did not write"
    )
    assert error.hint == f"move it away if it is an old lock, or {FIX}"
    assert request.output.read_bytes() == content


# ----------------------------------------------------------------------------- sources requirements.in gives

ALLOWED = frozenset(
    {
        "--pre",
        "--editable",
        "--no-index",
        "--find-links",
        "--trusted-host",
        "--extra-index-url",
        "--index-url",
    }
)


def test_each_source_option_of_requirements_in_is_recorded_with_its_line(tmp_path: Path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "pyproject.toml").write_text("[project]\nname = 'pkg'\nversion = '1'\n")
    text = (
        "--pre\n-e ./pkg\n--no-index\n--find-links ./wheels\n--trusted-host h.example\n"
        "--extra-index-url https://a.example/simple\n--index-url https://mirror.example/simple\nsix\n"
    )
    inputs = Inputs.of(handoff(tmp_path, text, policy=Policy(tmp_path, ALLOWED)))
    assert inputs.sources == (
        "no-index: yes (from requirements.in:3)",
        "find-links: ./wheels (from requirements.in:4)",
        "trusted-host: h.example (from requirements.in:5)",
        "extra-index-url: https://a.example/simple (from requirements.in:6)",
        "index-url: https://mirror.example/simple (from requirements.in:7)",
    )
    assert inputs.index_url == "https://mirror.example/simple"


def test_an_index_url_in_requirements_in_may_not_differ_from_the_one_given(tmp_path: Path):
    policy = Policy(tmp_path, ALLOWED)
    text = "--index-url https://mirror.example/simple\nsix\n"
    same = Inputs.of(handoff(tmp_path, text, policy=policy, index_url="https://mirror.example/simple"))
    assert same.index_url == "https://mirror.example/simple"
    with pytest.raises(UsageError) as info:
        Inputs.of(handoff(tmp_path, text, policy=policy, index_url="https://other.example/simple"))
    assert info.value.message == (
        f"{tmp_path / 'requirements.in'}:1: --index-url https://mirror.example/simple differs from "
        "--index-url https://other.example/simple given to mlrelease lock"
    )
    assert info.value.hint == "give the main index in one place"
