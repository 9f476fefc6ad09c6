"""An image carries its model's trees compiled beside the model, so a server without a C
compiler still walks them natively, after the same start-up check."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import orjson
import pytest

from mlrelease.config import Config
from mlrelease.image.context import prebuild_trees
from mlrelease.serve.service import load_service


def moved(cfg: Config, folder: Path) -> Config:
    """The example's config with its model file copied into ``folder``."""
    assert cfg.model.artifact is not None
    artifact = folder / cfg.model.artifact.name
    shutil.copy2(cfg.model.artifact, artifact)
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, artifact=artifact))


def test_the_library_built_for_the_image_serves_where_no_compiler_is(
    example_cfg: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = moved(example_cfg, tmp_path)
    monkeypatch.setenv("MLRELEASE_PREDICTOR_CACHE", str(tmp_path / "cache"))
    library = prebuild_trees(cfg, tmp_path)
    assert library is not None and library.parent == tmp_path and library.name.startswith("trees-")
    monkeypatch.setenv("CC", "no-such-compiler")
    monkeypatch.setenv("MLRELEASE_PREDICTOR_CACHE", str(tmp_path / "no-cache"))
    service = load_service(cfg)
    outcome = service.compiled.to_dict()
    assert outcome["compiled"] and outcome["engine"] == "native", outcome
    assert outcome["family"] == "HistGradientBoostingRegressor" and outcome["max_rows"] == 1 << 62
    assert not (tmp_path / "no-cache").exists()
    library.unlink()  # without it, and without a compiler: the numpy walk, and /version says why
    again = load_service(cfg).compiled.to_dict()
    assert again["engine"] == "numpy" and again["engine_note"] == "no C compiler on PATH"
    assert orjson.loads(orjson.dumps(again))["max_rows"] == 512


def test_nothing_is_built_when_serving_compile_is_off(example_cfg: Config, tmp_path: Path) -> None:
    cfg = moved(example_cfg, tmp_path)
    cfg = dataclasses.replace(cfg, serving=dataclasses.replace(cfg.serving, compile=False))
    assert prebuild_trees(cfg, tmp_path) is None
    assert not list(tmp_path.glob("trees-*"))
