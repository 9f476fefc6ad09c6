"""Helpers for the image tests."""

from __future__ import annotations

from mlrelease.image.verify import ImageTestResult


def result(**changes: object) -> ImageTestResult:
    """A passing image test of 40 rows, with ``changes`` set on it."""
    base = ImageTestResult(
        reference="m:1", image_id="sha256:x", rows=40, rtol=1e-7, atol=0.0, seconds_to_healthy=1.0, uid=10001
    )
    for key, value in changes.items():
        setattr(base, key, value)
    return base
