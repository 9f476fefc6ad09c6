"""`mlrelease lock --check` runs on every pull request: on a fresh lock and a valid config it imports
only what reading the config and the lock needs. A config with a problem still gets jsonschema's
located messages, the same as `mlrelease config validate` prints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "brno-houses"
BROKEN = ROOT / "tests" / "fixtures" / "config-broken"

# Each is needed only to resolve, to write, to explain a problem or inside Actions.
NOT_ON_THE_HAPPY_PATH = (
    "jsonschema",  # the compiled check of the config schema passed: nothing to explain
    "referencing",
    "fastjsonschema",  # its generated code runs without it
    "packaging",  # parses requirements.in, which the lock's inputs digest shows was parsed when locked
    "mlrelease.deps.conflicts",  # explains a resolver's failure
    "mlrelease.process",  # spawns the resolver
    "mlrelease.artifacts",  # writes files
    "tempfile",
    "importlib.resources",
    "secrets",
    "rich",
    "pandas",
    "numpy",
)

PROGRAM = """
import sys
from mlrelease.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    loaded = [m for m in {modules!r} if m in sys.modules]
    print("EXIT", exc.code, "LOADED", loaded, file=sys.stderr)
"""


def check_in_a_fresh_interpreter(folder: Path, *modules: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    return subprocess.run(
        [sys.executable, "-c", PROGRAM.format(modules=modules), "lock", "-c", str(folder), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=True,
    )


def test_lock_check_of_a_fresh_lock_imports_no_module_it_does_not_need():
    done = check_in_a_fresh_interpreter(EXAMPLE, *NOT_ON_THE_HAPPY_PATH)
    assert "requirements.txt: fresh" in done.stdout
    assert "EXIT 0 LOADED []" in done.stderr, done.stderr


def test_lock_check_of_a_broken_config_names_file_line_and_key_as_config_validate_does():
    done = check_in_a_fresh_interpreter(BROKEN, "jsonschema")
    assert "EXIT 2 LOADED ['jsonschema']" in done.stderr, done.stderr
    assert "mlrelease.yaml:4: model.tsak: unknown key (did you mean 'task'?)" in done.stderr
    assert "mlrelease.yaml:9: validation.golden_rows: expected an integer, got a string 'many'" in done.stderr
    validate = subprocess.run(
        [sys.executable, "-m", "mlrelease", "config", "validate", str(BROKEN)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert validate.returncode == 2
    problems = [line for line in validate.stderr.splitlines() if "mlrelease.yaml:" in line]
    assert len(problems) >= 2
    for line in problems:
        assert line in done.stderr
