"""The one place mlrelease spawns processes: argv lists (never a shell), output captured, and a
clear error naming what failed, with the tail of its output, when it fails."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlrelease.errors import EnvironmentUnavailable, MlreleaseError, UsageError


@dataclass(frozen=True)
class Finished:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """stdout and stderr together, for messages."""
        return (self.stdout + ("\n" if self.stdout and self.stderr else "") + self.stderr).strip()


def run(
    argv: Sequence[str],
    *,
    what: str | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    timeout: float | None = 900,
    ok: tuple[int, ...] | None = (0,),
    error: type[MlreleaseError] = UsageError,
    hint: str | None = None,
) -> Finished:
    """Run ``argv`` and return what it printed.

    A program that cannot be started, or that outlives ``timeout``, raises EnvironmentUnavailable.
    An exit code outside ``ok`` raises ``error`` naming ``what`` with the last lines of the output;
    ``ok=None`` returns every exit code to the caller.
    """
    name = what or Path(argv[0]).name
    try:
        proc = subprocess.run(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise EnvironmentUnavailable(f"{name}: cannot run {argv[0]}: {reason}", hint=hint) from None
    except subprocess.TimeoutExpired:
        raise EnvironmentUnavailable(f"{name} did not finish within {timeout:.0f} s", hint=hint) from None
    done = Finished(tuple(argv), proc.returncode, proc.stdout, proc.stderr)
    if ok is not None and done.returncode not in ok:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-25:])
        raise error(f"{name} failed (exit {done.returncode}):\n{tail}", hint=hint)
    return done
