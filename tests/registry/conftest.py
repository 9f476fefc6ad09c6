"""``backend``: the same registry contract against the directory and the OCI backend."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlrelease.registry import Backend, open_backend


@pytest.fixture(params=["directory", "oci"])
def backend_location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A fresh registry location and its credentials: a folder, or a namespace in a registry with auth."""
    if request.param == "directory":
        yield str(tmp_path / "registry"), {}
    else:
        reg = request.getfixturevalue("registry_auth")
        creds = {"username": reg.username, "password": reg.password}
        yield f"oci+http://{reg.host}/t{secrets.token_hex(4)}", creds


@pytest.fixture
def backend(backend_location: tuple[str, dict[str, str]]) -> Backend:
    location, creds = backend_location
    return open_backend(location, **creds)
