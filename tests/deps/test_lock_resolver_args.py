"""What `mlrelease lock` asks of its resolver, seen in the lock it writes: the indexes it is given
(and only those, whatever this machine's pip or uv settings say), the time it is allowed, and the
names it records. Resolves for real with uv and pip-compile against package indexes on the local
disk or on a local HTTP server (no network)."""

from __future__ import annotations

import hashlib
import http.server
import locale
import platform
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from localindex import make_index

from mlrelease.deps import lock as lockmod
from mlrelease.deps.requirements import read_lock
from mlrelease.errors import EnvironmentUnavailable

HOST = f"{sys.version_info.major}.{sys.version_info.minor}"
# pip-compile locks for the host it runs on, so it is tried only where that is the image's platform
PIP_TOOLS = pytest.param(
    "pip-tools",
    marks=pytest.mark.skipif(
        not (sys.platform == "linux" and platform.machine() == "x86_64"),
        reason="pip-compile locks for linux x86_64 only on such a host",
    ),
)


def wheel_sha256(index: str, name: str) -> str:
    """The sha256 of the one wheel a local index holds for ``name``."""
    (wheel,) = (Path(urlparse(index).path) / name).glob("*.whl")
    return hashlib.sha256(wheel.read_bytes()).hexdigest()


def handoff(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "handoff"
    folder.mkdir()
    (folder / "requirements.in").write_text(text)
    return folder


@pytest.mark.parametrize("resolver", ["uv", PIP_TOOLS])
def test_machine_wide_pip_and_uv_settings_do_not_reach_the_resolver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, resolver: str
):
    """An index this machine's environment adds (with a newer build) is not used: the lock holds
    the given index's build, with that file's hash, so it installs the same on every machine."""
    main = make_index(tmp_path / "main", {"mlr-accel": ["1.0"]})
    local = make_index(tmp_path / "local", {"mlr-accel": ["2.0"]})
    for name in ("UV_EXTRA_INDEX_URL", "PIP_EXTRA_INDEX_URL"):
        monkeypatch.setenv(name, local)
    monkeypatch.setenv("UV_INDEX_STRATEGY", "unsafe-best-match")
    folder = handoff(tmp_path, "mlr-accel\n")
    request = lockmod.LockRequest(
        folder / "requirements.in",
        folder / "requirements.txt",
        HOST,
        index_url=main,
        server=False,
        resolver=resolver,  # type: ignore[arg-type]
    )
    result = lockmod.lock(request)
    pin = read_lock(result.path).by_name()["mlr-accel"]
    assert (pin.version, pin.hashes) == ("1.0", (f"sha256:{wheel_sha256(main, 'mlr-accel')}",))
    assert local not in result.path.read_text()


@pytest.mark.parametrize("resolver", ["uv", PIP_TOOLS])
def test_a_variants_index_is_searched_and_recorded_by_either_resolver(tmp_path: Path, resolver: str):
    """A package only the variant's index has is found there, and the lock says where to get it."""
    main = make_index(tmp_path / "main", {"six": ["1.0"]})
    gpu = make_index(tmp_path / "gpu", {"mlr-accel": ["1.0+cu126"]})
    folder = handoff(tmp_path, "mlr-accel\nsix\n")
    request = lockmod.LockRequest(
        folder / "requirements.in",
        folder / "requirements.txt",
        HOST,
        variant=lockmod.Variant.parse(f"gpu={gpu}"),
        index_url=main,
        server=False,
        resolver=resolver,  # type: ignore[arg-type]
    )
    result = lockmod.lock(request)
    assert result.path == folder / "requirements-gpu.txt"
    assert result.resolver.startswith(f"{resolver} ")
    pins = read_lock(result.path).by_name()
    assert {n: p.version for n, p in pins.items()} == {"mlr-accel": "1.0+cu126", "six": "1.0"}
    assert pins["mlr-accel"].hashes == (f"sha256:{wheel_sha256(gpu, 'mlr-accel')}",)
    text = result.path.read_text()
    assert f"\n--index-url {main}\n--extra-index-url {gpu}\nmlr-accel==" in text
    assert f"# resolver: {result.resolver}\n" in text
    assert lockmod.check(request).ok


class SlowIndex(http.server.BaseHTTPRequestHandler):
    """An index that answers every request after ``delay`` seconds, with nothing found."""

    delay = 3.0

    def do_GET(self) -> None:
        time.sleep(self.delay)
        self.send_error(404)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def slow_index() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowIndex)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    finally:
        server.shutdown()
        server.server_close()


def test_a_resolver_that_outlives_the_timeout_is_stopped_and_named(tmp_path: Path, slow_index: str):
    folder = handoff(tmp_path, "mlr-accel\n")
    request = lockmod.LockRequest(
        folder / "requirements.in", folder / "requirements.txt", "3.11", index_url=slow_index, server=False
    )
    t0 = time.perf_counter()
    with pytest.raises(EnvironmentUnavailable) as info:
        lockmod.lock(request, timeout=1)
    assert time.perf_counter() - t0 < SlowIndex.delay
    assert info.value.message == "uv did not finish within 1 s"
    assert info.value.exit_code == 3
    assert not request.output.exists()


def test_the_lock_reports_the_seconds_the_resolver_took(tmp_path: Path):
    index = make_index(tmp_path / "index", {"mlr-accel": ["1.0"]})
    folder = handoff(tmp_path, "mlr-accel\n")
    request = lockmod.LockRequest(
        folder / "requirements.in", folder / "requirements.txt", "3.11", index_url=index, server=False
    )
    t0 = time.perf_counter()
    result = lockmod.lock(request)
    assert 0 < result.seconds <= time.perf_counter() - t0


@pytest.fixture
def ascii_locale() -> Iterator[None]:
    """A machine whose locale is plain C: a file opened without an encoding is read as ASCII."""
    if sys.flags.utf8_mode:
        pytest.skip("in Python's UTF-8 mode every file is read as UTF-8, whatever the locale")
    old = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")
    try:
        yield
    finally:
        locale.setlocale(locale.LC_CTYPE, old)


def test_a_lock_naming_a_non_ascii_file_is_written_and_read_as_utf8_under_any_locale(
    tmp_path: Path, ascii_locale: None
):
    index = make_index(tmp_path / "index", {"mlr-accel": ["1.0", "2.0"]})
    folder = tmp_path / "handoff"
    folder.mkdir()
    (folder / "requirements.in").write_text("-r zusätze.txt\n", encoding="utf-8")
    (folder / "zusätze.txt").write_text("mlr-accel==1.0\n", encoding="utf-8")
    request = lockmod.LockRequest(
        folder / "requirements.in", folder / "requirements.txt", "3.11", index_url=index, server=False
    )
    text = lockmod.lock(request).path.read_text("utf-8")
    assert "\n# in: [zusätze.txt] mlr-accel==1.0\n" in text and "\n    # via -r zusätze.txt\n" in text
    assert lockmod.recorded_request(request, set()) == request
    assert lockmod.check(request).ok
    (folder / "zusätze.txt").write_text("mlr-accel==2.0\n", encoding="utf-8")
    relocked = lockmod.lock(request)
    assert [(c.name, c.old, c.new) for c in relocked.changes] == [("mlr-accel", "1.0", "2.0")]
