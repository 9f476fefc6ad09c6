"""A release killed with SIGKILL at random points leaves the directory registry whole and usable."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from registry_builders import make_draft

from mlrelease.registry import open_backend

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
KILLS = 60
BUDGET_S = 150

CHILD = """
import sys
from pathlib import Path
sys.path.insert(0, {here!r})
from registry_builders import make_draft
from mlrelease.registry import open_backend
b = open_backend({location!r})
drafts = [make_draft(Path({folder!r}), salt=f"{{i}}") for i in range(50)]
print("ready", flush=True)
for draft in drafts:
    b.publish(*draft)
"""


@pytest.mark.slow
def test_sigkill_at_random_points_never_damages_the_registry(tmp_path: Path) -> None:
    location = tmp_path / "registry"
    backend = open_backend(location)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    rng = random.Random(15)
    started = time.monotonic()
    killed_mid_release = 0
    tmp_before = 0
    for kill in range(KILLS):
        assert time.monotonic() - started < BUDGET_S, f"only {kill} kills within {BUDGET_S} s"
        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                CHILD.format(here=str(HERE), location=str(location), folder=str(tmp_path / f"k{kill}")),
            ],
            stdout=subprocess.PIPE,
            env=env,
        )
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        before = backend.index("brno").latest
        time.sleep(rng.uniform(0, 0.04))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()

        # Readable, every record whole (the schema check runs on each read) and numbered without gaps.
        records = location / "models" / "brno" / "records"
        on_disk = sorted(int(p.stem[1:]) for p in records.glob("v*.json")) if records.is_dir() else []
        assert on_disk == list(range(1, len(on_disk) + 1))
        for v in on_disk:
            assert backend.get("brno", v).version == v
        index = backend.index("brno")
        assert index.latest in (
            len(on_disk),
            len(on_disk) - 1,
        )  # a record whose event was cut off: repaired next
        tmp_files = sum(1 for p in location.rglob("*.tmp"))
        killed_mid_release += index.latest < len(on_disk) or tmp_files > tmp_before
        tmp_before = tmp_files

        # And the next release succeeds, right after the last whole one.
        nxt = backend.publish(*make_draft(tmp_path / f"next{kill}", salt=f"next{kill}"))
        assert nxt.version == len(on_disk) + 1 > before
        assert [e.version for e in backend.events("brno") if e.kind == "released"] == list(
            range(1, nxt.version + 1)
        )
    print(f"{KILLS} kills in {time.monotonic() - started:.1f} s; {killed_mid_release} left a write half-done")
