"""The config and CLI references are generated; a change to the schema or a --help must regenerate them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_docs_are_up_to_date():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_docs.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_every_schema_key_is_documented():
    from mlrelease import config

    text = (ROOT / "docs" / "config.md").read_text()
    for key in config.schema()["properties"]:
        assert f"| `{key}` |" in text
