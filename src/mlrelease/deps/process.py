"""How the deps package calls its resolvers (uv or pip-compile): which program, and an
environment free of machine-wide pip settings. Processes are spawned by ``mlrelease.process``."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

from mlrelease import process


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
    done = process.run([*argv, "--version"], env=isolated_env(), ok=None)
    words = done.stdout.split()
    return " ".join(words[:2]) if words else "uv"
