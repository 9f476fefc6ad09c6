"""`mlrelease lock` against the real resolvers and PyPI (uv's cache keeps repeats fast)."""

from __future__ import annotations

import platform
import shutil
import sys
import time
from pathlib import Path

import pytest
from localindex import make_index

from mlrelease.deps import lock as lockmod
from mlrelease.deps.conflicts import ResolutionConflict
from mlrelease.deps.requirements import Policy, read_lock
from mlrelease.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "brno-houses"
CLEAN_LOCK = ROOT / "tests" / "fixtures" / "deps-clean" / "requirements.txt"
PYPI_SIX = set(read_lock(CLEAN_LOCK).by_name()["six"].hashes)


def request(folder: Path, text: str, **kw) -> lockmod.LockRequest:
    (folder / "requirements.in").write_text(text)
    kw.setdefault("server", False)
    python = kw.pop("python", "3.11")
    return lockmod.LockRequest(folder / "requirements.in", folder / "requirements.txt", python, **kw)


def test_lock_resolves_for_the_images_python_not_the_hosts(tmp_path: Path):
    """tomli is needed below Python 3.11 only: locked for a 3.10 image it is pinned, on this 3.11 host not."""
    result = lockmod.lock(request(tmp_path, "six\ntomli; python_version < '3.11'\n", python="3.10"))
    pins = read_lock(result.path).by_name()
    assert set(pins) == {"six", "tomli"}
    assert all(p.exact and p.hashes for p in pins.values())
    text = result.path.read_text()
    assert "# python: 3.10" in text and "# platform: x86_64-manylinux_2_28" in text
    assert lockmod.check(request(tmp_path, "six\ntomli; python_version < '3.11'\n", python="3.10")).ok


def test_check_answers_in_milliseconds_and_sees_stale_and_edited_locks(tmp_path: Path):
    req = request(tmp_path, "six\n")
    lockmod.lock(req)
    t0 = time.perf_counter()
    assert lockmod.check(req).status == "fresh"
    assert time.perf_counter() - t0 < 0.05
    assert lockmod.check(request(tmp_path, "six  # a comment does not make it stale\n")).ok
    stale = lockmod.check(request(tmp_path, "six\nidna\n"))
    assert stale.status == "stale" and "+in: idna" in stale.diff
    req = request(tmp_path, "six\n")  # the inputs as locked again: only the Python differs below
    assert lockmod.check(req).status == "fresh"
    other_python = lockmod.check(lockmod.LockRequest(req.requirements, req.lock, "3.12", server=False))
    assert other_python.status == "stale"
    assert [d for d in other_python.diff if d[:1] in "+-"] == [
        "--- recorded in the lock",
        "+++ current inputs",
        "-python: 3.11",
        "+python: 3.12",
    ]
    text = req.output.read_text()
    req.output.write_text(text.replace("six==1.17.0 \\", "six>=1.16 \\"))
    edited = lockmod.check(req)
    assert edited.status == "edited" and any("six>=1.16" in line for line in edited.diff)


def test_relock_reports_changes_and_leaves_an_unchanged_file_alone(tmp_path: Path):
    first = lockmod.lock(request(tmp_path, "six==1.16.0\n"))
    assert first.written and [(c.name, c.old, c.new) for c in first.changes] == [("six", None, "1.16.0")]
    assert first.pins == 1  # what the command reports as "N pins with hashes"
    second = lockmod.lock(request(tmp_path, "six==1.17.0\n"))
    assert [(c.name, c.old, c.new) for c in second.changes] == [("six", "1.16.0", "1.17.0")]
    third = lockmod.lock(request(tmp_path, "six==1.17.0\n"))
    assert not third.written and third.changes == ()


def test_server_requirements_are_locked_with_the_handoffs(tmp_path: Path):
    result = lockmod.lock(request(tmp_path, "six\n", server=True))
    pins = read_lock(result.path).by_name()
    assert {"six", "uvicorn", "orjson", "prometheus-client", "skops"} <= set(pins)
    assert "# server: uvicorn>=0.29" in result.path.read_text()
    # the resolver's notes name the server's requirements by a stable label, not a temporary path
    notes = {line.strip() for line in result.path.read_text().splitlines() if "mlrelease-server.in" in line}
    assert notes == {"# via -r mlrelease-server.in", "#   -r mlrelease-server.in"}
    assert "/tmp/" not in result.path.read_text()


def test_cpu_and_gpu_variants_from_one_requirements_in_with_their_indexes(tmp_path: Path):
    """Like torch's CPU and CUDA builds: the same name, a different local version per index."""
    cpu = make_index(tmp_path / "cpu-index", {"mlr-accel": ["1.0+cpu"]})
    gpu = make_index(tmp_path / "gpu-index", {"mlr-accel": ["1.0+cu126"]})
    handoff = tmp_path / "handoff"
    handoff.mkdir()
    base = request(handoff, "mlr-accel\nsix\n")
    results = {}
    for spec in (f"cpu={cpu}", f"gpu={gpu}"):
        variant = lockmod.Variant.parse(spec)
        results[variant.name] = lockmod.lock(lockmod.LockRequest(**{**base.__dict__, "variant": variant}))
    assert results["cpu"].path.name == "requirements-cpu.txt"
    assert results["gpu"].path.name == "requirements-gpu.txt"
    for name, url, version in (("cpu", cpu, "1.0+cpu"), ("gpu", gpu, "1.0+cu126")):
        text = results[name].path.read_text()
        assert f"# variant: {name}" in text and f"\n--extra-index-url {url}\n" in text
        pins = read_lock(results[name].path).by_name()
        assert pins["mlr-accel"].version == version
        assert set(pins["six"].hashes) == PYPI_SIX  # PyPI's files only, not this machine's wheel folders
        assert "/opt/" not in text


def test_conflict_is_explained_with_who_wants_what(tmp_path: Path):
    with pytest.raises(ResolutionConflict) as info:
        lockmod.lock(request(tmp_path, "# old pin\nnumpy<1.20\n", server=True))
    err = info.value
    rendered = err.render()
    assert any(p.file and p.file.endswith("requirements.in") and p.line == 2 for p in err.problems)
    assert "numpy: wanted as numpy<1.20" in rendered
    assert "numpy: wanted as numpy>=1.26 (by the mlrelease model server)" in rendered
    assert "resolver output:" in rendered and "--no-server" in rendered
    assert err.exit_code == 2


def test_unknown_package_names_the_line(tmp_path: Path):
    with pytest.raises(ResolutionConflict, match="not found") as info:
        lockmod.lock(request(tmp_path, "six\nmlrelease-no-such-package-xyz\n"))
    assert [p.line for p in info.value.problems] == [2]


def test_pip_tools_refuses_to_lock_for_another_python(tmp_path: Path):
    with pytest.raises(UsageError, match="pip-compile resolves for the interpreter"):
        lockmod.lock(request(tmp_path, "six\n", python="3.9", resolver="pip-tools"))


@pytest.mark.slow
def test_pip_tools_and_uv_agree_on_the_example(tmp_path: Path):
    """Same pins and the same hashes for the example and the server, from either resolver."""
    locks = {}
    for resolver in ("uv", "pip-tools"):
        folder = tmp_path / resolver
        skip = shutil.ignore_patterns("data", "model", "baseline", "notebooks")
        shutil.copytree(EXAMPLE, folder, ignore=skip)
        req = lockmod.LockRequest(
            folder / "requirements.in",
            folder / "requirements.txt",
            "3.11",
            resolver=resolver,  # type: ignore[arg-type]
        )
        result = lockmod.lock(req)
        assert result.resolver.startswith(resolver)
        locks[resolver] = {n: (p.version, set(p.hashes)) for n, p in read_lock(result.path).by_name().items()}
        assert lockmod.check(req).ok
    assert locks["uv"] == locks["pip-tools"]


HOST = f"{sys.version_info.major}.{sys.version_info.minor}"
ON_THE_IMAGES_PLATFORM = sys.platform == "linux" and platform.machine() == "x86_64"


@pytest.mark.skipif(
    not ON_THE_IMAGES_PLATFORM, reason="pip-compile locks for linux x86_64 only on such a host"
)
def test_pip_tools_locks_for_exactly_the_hosts_python(tmp_path: Path):
    index = make_index(tmp_path / "index", {"mlr-accel": ["1.0"]})
    handoff = tmp_path / "handoff"
    handoff.mkdir()
    result = lockmod.lock(request(handoff, "mlr-accel\n", python=HOST, resolver="pip-tools", index_url=index))
    assert result.resolver.startswith("pip-tools")
    assert read_lock(result.path).by_name()["mlr-accel"].version == "1.0"


@pytest.mark.parametrize("minor", [-1, 1])
def test_pip_tools_refuses_one_minor_version_either_side_of_the_hosts(tmp_path: Path, minor: int):
    python = f"{sys.version_info.major}.{sys.version_info.minor + minor}"
    with pytest.raises(UsageError) as info:
        lockmod.lock(request(tmp_path, "six\n", python=python, resolver="pip-tools"))
    host = f"Python {HOST} on {sys.platform} {platform.machine().lower()}"
    assert info.value.message == (
        f"pip-compile resolves for the interpreter it runs in ({host}), "
        f"not for the image's Python {python} on linux x86_64"
    )
    assert info.value.hint == (
        "use the default resolver (uv), which targets the image's platform, "
        f"or run mlrelease under Python {python} on linux x86_64"
    )


def test_a_failed_resolution_reads_requirements_in_under_its_policy(tmp_path: Path):
    """The index requirements.in names (allowed by the trust policy) is read again to explain a failure."""
    index = make_index(tmp_path / "index", {"mlr-accel": ["1.0"]})
    handoff = tmp_path / "handoff"
    handoff.mkdir()
    policy = Policy(handoff, frozenset({"--index-url"}))
    with pytest.raises(ResolutionConflict, match="not found") as info:
        lockmod.lock(request(handoff, f"--index-url {index}\nmlr-accel\nmlr-missing\n", policy=policy))
    assert [p.line for p in info.value.problems] == [3]
