"""The registry: and watch: sections of mlrelease.yaml: defaults from the schema, paths resolved."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlrelease import config
from mlrelease.errors import ConfigError

MINIMAL = "version: 1\nmodel: {name: m, task: regression, artifact: model.skops}\n"


def _load(tmp_path: Path, extra: str = "") -> config.Config:
    (tmp_path / "mlrelease.yaml").write_text(MINIMAL + extra)
    return config.load(tmp_path, check_files=False)


def test_defaults_come_from_the_schema_and_a_folder_resolves_against_the_config(tmp_path: Path):
    cfg = _load(tmp_path)
    assert cfg.registry.location == str(tmp_path.resolve() / ".mlrelease" / "registry")
    assert (cfg.watch.max_error_rate, cfg.watch.max_p99_ms, cfg.watch.max_outlier_rate) == (0.01, 500, 0.05)


def test_an_oci_location_is_kept_as_written_and_limits_are_read(tmp_path: Path):
    cfg = _load(tmp_path, "registry: {location: 'oci://ghcr.io/acme/releases'}\nwatch: {max_p99_ms: 80}\n")
    assert cfg.registry.location == "oci://ghcr.io/acme/releases"
    assert cfg.watch.max_p99_ms == 80 and cfg.watch.min_requests == 20


def test_a_nonsense_limit_names_the_key(tmp_path: Path):
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, "watch: {max_error_rate: 3}\n")
    assert "watch.max_error_rate" in info.value.render()
