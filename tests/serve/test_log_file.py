"""The request log is appended to only as a plain file: never through a symbolic link."""

from __future__ import annotations

import pytest

from mlrelease.errors import ConfigError
from mlrelease.serve.logs import RequestLog


def test_a_log_file_swapped_for_a_link_is_refused_and_its_target_untouched(tmp_path):
    victim = tmp_path / "outside" / "victim.txt"
    victim.parent.mkdir()
    victim.write_text("keep me\n")
    log = tmp_path / "handoff" / "logs" / "requests.jsonl"
    log.parent.mkdir(parents=True)
    log.symlink_to(victim)
    with pytest.raises(ConfigError, match="symbolic link"):
        RequestLog("m", "v1", sample_rate=1.0, file=log)
    assert victim.read_text() == "keep me\n"


def test_a_plain_log_file_is_appended_to_and_kept(tmp_path):
    log = tmp_path / "logs" / "requests.jsonl"
    log.parent.mkdir()
    log.write_text('{"earlier": true}\n')
    writer = RequestLog("m", "v1", sample_rate=1.0, file=log)
    writer.close()
    assert log.read_text().startswith('{"earlier": true}\n')
