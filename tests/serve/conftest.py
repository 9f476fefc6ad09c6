"""Fixtures of the serving tests: the example's model, and servers started on free 127.0.0.1
ports (see servekit.py), each stopped at teardown."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from servekit import EXAMPLE, LineStream, Running

from mlrelease import config as cfgmod
from mlrelease.config import Config
from mlrelease.serve import runner
from mlrelease.serve.app import Features, ServerApp
from mlrelease.serve.service import Service, load_service


@pytest.fixture(scope="session")
def example_cfg() -> Config:
    return cfgmod.load(str(EXAMPLE))


@pytest.fixture(scope="session")
def example_service(example_cfg: Config) -> Service:
    return load_service(example_cfg)


@pytest.fixture
def start_server() -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(cfg: Config, service: Service, features: Features | None = None) -> Running:
        import uvicorn

        stream = LineStream()
        app = ServerApp(service, cfg.serving, features=features or Features(), log_stream=stream)
        port = runner.free_port()
        server = uvicorn.Server(runner.uvicorn_config(app, "127.0.0.1", port))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        running = Running(app, port, stream, server, thread)
        started.append(running)
        runner.wait_ready(port, timeout=30)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def example_server(start_server, example_cfg: Config, example_service: Service) -> Running:
    return start_server(example_cfg, example_service)
