"""Artifacts are written whole or not at all, readable by others, with stable JSON bytes."""

from __future__ import annotations

import stat

import pytest

from mlrelease.artifacts import write_json, write_text


def test_json_is_sorted_and_ends_with_a_newline(tmp_path):
    path = tmp_path / "sub" / "metrics.json"
    write_json(path, {"b": 1, "a": [1.5, "č"]})
    assert path.read_text("utf-8") == '{\n  "a": [\n    1.5,\n    "č"\n  ],\n  "b": 1\n}\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "gate.json"
    write_text(path, "old")
    with pytest.raises(ValueError):
        write_json(path, {"x": float("nan")})  # NaN is not JSON: refused before anything is replaced
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["gate.json"]
