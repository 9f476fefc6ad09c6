"""The local target: instances of releases behind the proxy on the public port.

State lives in one folder per model (``STATE/<model>/``): ``state.json`` (the proxy, the active
instance and the previous ones), ``backend`` (the port the proxy forwards to) and the bundles
fetched from the registry. An instance is the release's image run by digest on the Docker engine
(``docker``) or ``mlrelease serve`` as a process (``process``); either listens on 127.0.0.1 on a
port of its own. The previous instance is stopped, not removed, so it can run again.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from mlrelease.artifacts import write_json, write_text
from mlrelease.deploy.bundle import Bundle
from mlrelease.errors import CheckFailed, EnvironmentUnavailable, UsageError
from mlrelease.serve.runner import free_port, request

Runtime = Literal["process", "docker"]
VERSION_ENV = "MLRELEASE_MODEL_VERSION"
KEEP_PREVIOUS = 3


@dataclass
class Instance:
    version: int
    runtime: Runtime
    port: int
    pid: int | None = None
    container: str | None = None


@dataclass
class State:
    public_port: int | None = None
    proxy_pid: int | None = None
    active: Instance | None = None
    previous: list[Instance] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> State:
        if not path.is_file():
            return cls()
        try:
            d = json.loads(path.read_text("utf-8"))
            return cls(
                public_port=d.get("public_port"),
                proxy_pid=d.get("proxy_pid"),
                active=Instance(**d["active"]) if d.get("active") else None,
                previous=[Instance(**i) for i in d.get("previous", [])],
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise UsageError(
                f"{path}: damaged deploy state ({exc})", hint="stop the instances and delete it"
            ) from None

    def write(self, path: Path) -> None:
        write_json(path, asdict(self))


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    with contextlib.suppress(ChildProcessError):  # reap our own exited child: a zombie is not running
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_pid(pid: int | None, grace: float = 10) -> None:
    if not alive(pid):
        return
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.05)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)


def _start(argv: list[str], log: Path, env: dict[str, str]) -> int:
    """A long-running child in its own session, output to ``log``; it outlives this command."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as fh:
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    return proc.pid


class LocalTarget:
    name = "local"

    def __init__(self, state_dir: Path, model: str, *, docker_client: Any = None):
        self.folder = Path(state_dir) / model
        self.model = model
        self.docker = docker_client
        self.state_path = self.folder / "state.json"
        self.backend_path = self.folder / "backend"

    def state(self) -> State:
        return State.read(self.state_path)

    # -- instances
    def start(self, bundle: Bundle, runtime: Runtime) -> Instance:
        port = free_port()
        release = bundle.release
        if runtime == "process":
            argv = [sys.executable, "-m", "mlrelease", "serve", "-c", str(bundle.config)]
            argv += ["--host", "127.0.0.1", "--port", str(port)]
            if bundle.signature is not None:
                argv += ["--signature", str(bundle.signature)]
            env = {**os.environ, VERSION_ENV: release.tag, "PYTHONUNBUFFERED": "1"}
            env.setdefault("OMP_NUM_THREADS", "1")
            pid = _start(argv, bundle.folder / "server.log", env)
            return Instance(release.version, runtime, port, pid=pid)
        if self.docker is None:
            raise EnvironmentUnavailable(
                "--runtime docker needs a Docker engine", hint="or use --runtime process"
            )
        import docker.errors

        image = release.image.reference if release.image.digest else release.image.image_id
        try:
            try:
                self.docker.images.get(image)
            except docker.errors.ImageNotFound:
                self.docker.images.pull(image)
            container = self.docker.containers.run(
                image,
                detach=True,
                name=f"mlrelease-{release.model}-{release.tag}-{port}",
                environment={VERSION_ENV: release.tag},
                ports={f"{release.image.port}/tcp": ("127.0.0.1", port)},
                labels={"io.mlrelease.model": release.model, "io.mlrelease.release": release.tag},
                read_only=True,
                tmpfs={"/tmp": ""},
            )
        except docker.errors.DockerException as exc:
            raise CheckFailed(f"cannot run {image} on the Docker engine: {exc}") from None
        return Instance(release.version, runtime, port, container=container.id)

    def running(self, inst: Instance) -> bool:
        if inst.runtime == "process":
            return alive(inst.pid)
        import docker.errors

        try:
            status: str = self.docker.containers.get(inst.container).status
            return status == "running"
        except docker.errors.DockerException:
            return False

    def stop(self, inst: Instance, *, remove: bool = False) -> None:
        if inst.runtime == "process":
            stop_pid(inst.pid)
            return
        import docker.errors

        try:
            container = self.docker.containers.get(inst.container)
            container.stop(timeout=10)
            if remove:
                container.remove()
        except docker.errors.NotFound:
            pass

    # -- the front door
    def ensure_proxy(self, public_port: int) -> State:
        state = self.state()
        if alive(state.proxy_pid) and state.public_port == public_port:
            return state
        if alive(state.proxy_pid):
            stop_pid(state.proxy_pid)
        if not self.backend_path.is_file():
            write_text(self.backend_path, "0\n")
        argv = [
            sys.executable,
            "-m",
            "mlrelease.deploy.proxy",
            str(self.backend_path),
            "127.0.0.1",
            str(public_port),
        ]
        state.proxy_pid = _start(argv, self.folder / "proxy.log", dict(os.environ))
        state.public_port = public_port
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if not alive(state.proxy_pid):
                raise UsageError(
                    f"the proxy could not listen on 127.0.0.1:{public_port}: "
                    + (self.folder / "proxy.log").read_text()[-300:],
                    hint="is the port taken? pass another --port",
                )
            try:
                request(public_port, "GET", "/readyz", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        state.write(self.state_path)
        return state

    def switch(self, inst: Instance) -> dict[str, float]:
        """Point the proxy at ``inst`` while probing /readyz through it from outside.

        Returns the longest gap between two answers of 200 around the switch (it includes one
        probe's own round trip) and how many probes failed; with the proxy, none should.
        """
        state = self.state()
        assert state.public_port is not None
        serving = state.active is not None
        last_ok, max_gap, failed, probes = time.perf_counter(), 0.0, 0, 0
        deadline = None
        while deadline is None or time.perf_counter() < deadline:
            try:
                ok = request(state.public_port, "GET", "/readyz", timeout=2)[0] == 200
            except OSError:
                ok = False
            probes += 1
            now = time.perf_counter()
            if ok:
                max_gap, last_ok = max(max_gap, now - last_ok), now
            elif deadline is not None or serving:
                failed += 1
            if deadline is None and probes >= 5:
                write_text(self.backend_path, f"{inst.port}\n")
                last_ok, deadline = time.perf_counter(), time.perf_counter() + 0.5
        return {"max_gap_ms": round(max_gap * 1000, 1), "failed_probes": failed, "probes": probes}

    def record(self, inst: Instance, previous: Instance | None) -> None:
        state = self.state()
        state.active = inst
        if previous is not None:
            state.previous = [previous, *[p for p in state.previous if p.version != previous.version]]
            for old in state.previous[KEEP_PREVIOUS:]:
                self.stop(old, remove=True)
            state.previous = state.previous[:KEEP_PREVIOUS]
        state.write(self.state_path)

    def down(self) -> None:
        """Stop everything this target runs for the model: proxy, active and previous instances."""
        state = self.state()
        for inst in [state.active, *state.previous]:
            if inst is not None:
                self.stop(inst, remove=True)
        stop_pid(state.proxy_pid)
        state.proxy_pid, state.active, state.previous = None, None, []
        state.write(self.state_path)
