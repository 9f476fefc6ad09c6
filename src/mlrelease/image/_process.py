"""The one place the image package spawns processes: argv lists, output captured, shown on failure."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

from mlrelease.errors import MlreleaseError, UsageError


def run(
    argv: list[str],
    *,
    what: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    hint: str | None = None,
    error: type[MlreleaseError] = UsageError,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv``; on a non-zero exit raise ``error`` naming ``what`` with the output's tail."""
    try:
        result = subprocess.run(
            argv, cwd=cwd, env=dict(env) if env is not None else None, capture_output=True, text=True
        )
    except OSError as exc:
        raise error(f"{what}: cannot run {argv[0]}: {exc.strerror or exc}", hint=hint) from None
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-25:])
        raise error(f"{what} failed (exit {result.returncode}):\n{tail}", hint=hint)
    return result
