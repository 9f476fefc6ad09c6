"""Fixtures of the sticky comment's tests: ``github_api``, a GitHub REST API on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_github import FakeGitHub, serve


@pytest.fixture
def github_api() -> Iterator[FakeGitHub]:
    """A fresh FakeGitHub (tests/comment/fake_github.py): comments, run artifacts, recorded requests."""
    with serve() as state:
        yield state
