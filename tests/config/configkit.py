"""Helpers for the config tests: a handoff folder holding one mlrelease.yaml."""

from __future__ import annotations

from pathlib import Path


def write(tmp_path: Path, text: str, files: tuple[str, ...] = ()) -> Path:
    """``text`` as ``tmp_path/mlrelease.yaml``, beside a placeholder file for each of ``files``."""
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    path = tmp_path / "mlrelease.yaml"
    path.write_text(text)
    return path
