"""The one place the deps package spawns processes: argv lists, captured output, clear failures."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlrelease.errors import EnvironmentUnavailable


@dataclass(frozen=True)
class Finished:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return (self.stdout + ("\n" if self.stdout and self.stderr else "") + self.stderr).strip()


def run(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float = 900) -> Finished:
    """Run ``argv`` and return what it printed; a missing program is EnvironmentUnavailable."""
    try:
        proc = subprocess.run(
            list(argv), cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError as exc:
        raise EnvironmentUnavailable(f"cannot run {argv[0]}: {exc.strerror}") from exc
    except subprocess.TimeoutExpired as exc:
        raise EnvironmentUnavailable(f"{Path(argv[0]).name} did not finish within {timeout:.0f} s") from exc
    return Finished(tuple(argv), proc.returncode, proc.stdout, proc.stderr)


def isolated_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a resolver: no machine-wide pip or uv settings.

    pip's config files and ``PIP_*`` variables (this machine's find-links and local indexes among
    them) would let a resolver record hashes of files that exist only here; uv's ``UV_*``
    variables the same. Both are removed (cache locations excepted), and pip reads no config file.
    """
    keep = ("UV_CACHE_DIR", "PIP_CACHE_DIR", "PIP_TOOLS_CACHE_DIR")  # where caches live changes no result
    env = {
        k: v
        for k, v in (base if base is not None else os.environ).items()
        if k in keep or not k.startswith(("PIP_", "UV_"))
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    return env


def uv_argv() -> list[str]:
    """How to call uv: the binary shipped with the ``uv`` package, else ``python -m uv``."""
    try:
        import uv

        return [uv.find_uv_bin()]
    except (ImportError, FileNotFoundError):
        return [sys.executable, "-m", "uv"]


def pip_compile_argv() -> list[str]:
    return [sys.executable, "-m", "piptools", "compile"]


def tool_version(argv: Sequence[str]) -> str:
    """``uv 0.13.9`` or ``pip-tools 7.6.2``; the name alone when the version cannot be read."""
    if argv[-1] == "compile":  # pip-tools
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"pip-tools {version('pip-tools')}"
        except PackageNotFoundError:
            return "pip-tools"
    done = run([*argv, "--version"], cwd=Path.cwd(), env=isolated_env())
    words = done.stdout.split()
    return " ".join(words[:2]) if words else "uv"
