"""The locked wheels for the image's platform, downloaded on the host.

Nothing is downloaded inside a build: the build's network may not trust this machine's CA, and a
build that fetches packages is not reproducible. ``pip download`` fetches the wheels for linux
x86_64 and the configured CPython into a cache folder (files already there are reused), checking
every file against the lock's hashes; then only the files whose sha256 the lock names are
linked into the build context.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from mlrelease import process
from mlrelease.artifacts import sha256_file
from mlrelease.errors import UsageError
from mlrelease.image.lockfile import Lock, normalize

# manylinux tags a CPython on a glibc >= 2.28 system (Debian 10+, Ubuntu 20.04+) accepts.
PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux_2_5_x86_64",
    "manylinux1_x86_64",
)


def default_cache() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "mlrelease" / "wheelhouse"


@dataclass(frozen=True)
class Wheelhouse:
    files: tuple[Path, ...]  # one per locked package, in the cache

    def link_into(self, target: Path) -> None:
        """Hard-link (or copy across file systems) the wheels into ``target``."""
        target.mkdir(parents=True, exist_ok=True)
        for path in self.files:
            dest = target / path.name
            try:
                os.link(path, dest)
            except OSError:
                shutil.copy2(path, dest)


def download(lock: Lock, *, python: str, cache: Path | None = None) -> Wheelhouse:
    """Download (or reuse) the lock's wheels for linux x86_64 / CPython ``python``."""
    cache = cache or default_cache()
    cache.mkdir(parents=True, exist_ok=True)
    nodot = python.replace(".", "")
    argv = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
    argv += ["--only-binary=:all:", "--no-deps", "--require-hashes"]
    argv += [f"--platform={p}" for p in PLATFORMS]
    argv += [f"--python-version={python}", "--implementation=cp", f"--abi=cp{nodot}", "--abi=abi3"]
    argv += ["--abi=none", "-r", str(lock.path), "-d", str(cache)]
    process.run(
        argv,
        what=f"downloading the wheels of {lock.path} for linux x86_64, CPython {python}",
        hint=(
            "every locked package needs a wheel for this platform (sdists are not built); "
            "for one that has none, build it yourself and put it in the wheelhouse folder"
        ),
    )
    wanted = {h: p.name for p in lock.pins for h in p.hashes}
    chosen: dict[str, Path] = {}
    for path in sorted(cache.glob("*.whl")):
        name = normalize(path.name.split("-", 1)[0])
        pin = next((p for p in lock.pins if p.name == name), None)
        if pin is None or f"-{pin.version}-" not in path.name.replace("_", "-"):
            continue
        if sha256_file(path) in wanted:
            # Several compatible wheels of one release may sit in the cache; pip in the build
            # picks the best match, so all hash-matching ones go in.
            chosen[path.name] = path
    found = {normalize(p.split("-", 1)[0]) for p in chosen}
    missing = [p.name for p in lock.pins if p.name not in found]
    if missing:
        raise UsageError(
            f"no wheel in {cache} matches the lock's hashes for: {', '.join(missing)}",
            hint="run `mlrelease lock` again, or delete the wheelhouse folder and retry",
        )
    return Wheelhouse(files=tuple(chosen[k] for k in sorted(chosen)))


def build_self_wheel(target: Path, *, source_date_epoch: int) -> Path:
    """Build mlrelease's own wheel (``pip wheel --no-deps``) from the source tree it runs from."""
    import mlrelease

    src = Path(mlrelease.__file__).resolve().parent.parent  # .../src
    root = src.parent
    if not (root / "pyproject.toml").is_file() or not (src / "mlrelease").is_dir():
        raise UsageError(
            f"mlrelease runs from {Path(mlrelease.__file__).parent}, not from a source tree, "
            "so its wheel cannot be built here",
            hint="pass --mlrelease-wheel PATH with a wheel of this version",
        )
    import tempfile

    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mlrelease-self-") as tmp:
        # A copy, so building leaves no build/ or egg-info behind in the source tree.
        work = Path(tmp) / "src-tree"
        work.mkdir()
        for name in ("pyproject.toml", "README.md", "LICENSE", "setup.cfg"):
            if (root / name).is_file():
                shutil.copy2(root / name, work / name)
        shutil.copytree(
            src / "mlrelease",
            work / "src" / "mlrelease",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        env = {**os.environ, "SOURCE_DATE_EPOCH": str(max(source_date_epoch, 315532800))}
        pip_wheel = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
        process.run(
            [*pip_wheel, "-w", str(target), str(work)],
            what="building the mlrelease wheel",
            env=env,
        )
    wheels = sorted(target.glob("mlrelease-*.whl"))
    if len(wheels) != 1:
        raise UsageError(f"expected one mlrelease wheel in {target}, found {len(wheels)}")
    return wheels[0]
