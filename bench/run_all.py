"""Run every benchmark that can run on this machine, one after another (they share the cores).

    python bench/run_all.py [--only lint,lock,evaluate,drift,serving,image,registry]

A benchmark whose peers or engine are missing is skipped with the reason; see bench/README.md.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS = Path("/tmp/peer-bench-work")


def missing(name: str) -> str | None:
    if name == "lint" and not (PEERS / "nbqa-venv" / "bin" / "nbqa").exists():
        return f"no nbQA venv at {PEERS / 'nbqa-venv'}"
    if name == "serving" and not (shutil.which("wrk") and (PEERS / "venv-bento").is_dir()):
        return "needs wrk and the peer venvs (shared/peer-bench/setup_venvs.sh /tmp/peer-bench-work)"
    if name == "image":
        try:
            import docker

            docker.from_env(timeout=5).ping()
        except Exception as exc:  # any failure to reach the engine means: skip
            return f"no Docker engine ({type(exc).__name__})"
    return None


def main() -> int:
    names = ["lint", "lock", "evaluate", "predictors", "drift", "serving", "image", "registry"]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(names))
    args = parser.parse_args()
    failed = []
    for name in args.only.split(","):
        reason = missing(name)
        print(f"\n==== bench_{name}.py" + (f": skipped, {reason}" if reason else ""), flush=True)
        if reason:
            continue
        if subprocess.run([sys.executable, str(HERE / f"bench_{name}.py")]).returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
