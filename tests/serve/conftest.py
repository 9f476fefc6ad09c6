"""Fixtures of the serving tests: the example's model, and servers started on free 127.0.0.1
ports (see servekit.py), each stopped at teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import servekit
from servekit import EXAMPLE, Running

from mlrelease import config as cfgmod
from mlrelease.config import Config
from mlrelease.serve.app import Features
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
        running = servekit.start(cfg, service, features)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture(scope="module")
def module_server(example_cfg: Config, example_service: Service) -> Iterator[Running]:
    """One example server for a whole module (hypothesis reruns a test body, not its fixtures)."""
    running = servekit.start(example_cfg, example_service)
    yield running
    running.stop()


@pytest.fixture
def example_server(start_server, example_cfg: Config, example_service: Service) -> Running:
    return start_server(example_cfg, example_service)


@pytest.fixture(scope="module")
def predictor_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The module's compiled trees in a folder of its own (use with pytest.mark.usefixtures)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLRELEASE_PREDICTOR_CACHE", str(tmp_path_factory.mktemp("predictors")))
        yield
