#!/usr/bin/env python3
"""Build the Debian bookworm + Python 3.11 base image that image tests build FROM.

No image can be pulled on the test machines, so the base is bootstrapped from Debian packages::

    mmdebstrap --variant=minbase --include=python3,... bookworm - <mirrors> | docker import - TAG

The tag carries a hash of the recipe (suite, packages, mirrors, image config), so a changed recipe
builds a new image and an unchanged one is reused: the build runs once per machine. The Debian
mirrors are the host's own (read from /etc/apt/sources.list and /etc/apt/sources.list.d), and the
host's apt proxy settings are passed on, so the build works wherever the host's apt works.

Usage: ``python scripts/build_base_image.py [--print-tag] [--force]``. Prints the tag on stdout;
progress goes to stderr.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = "mlrelease-test/base"
SUITE = "bookworm"
# Bump when the recipe changes in a way the hashed fields below do not capture.
RECIPE_VERSION = 1
PACKAGES = (
    "ca-certificates",
    "python3",
    "python3-venv",
    "python3-pip",
    "python-is-python3",  # `python` runs python3
)
# Documentation and translations are never read inside an image.
DPKG_OPTIONS = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/info/*",
)
IMAGE_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    "ENV PYTHONDONTWRITEBYTECODE=1",
    'CMD ["python3"]',
)
# Host apt settings that decide whether a download works, not what is installed.
HOST_APT_OPTIONS = (
    "Acquire::http::Proxy",
    "Acquire::https::Proxy",
    "Acquire::Check-Valid-Until",
    "Acquire::Check-Date",
)
DEFAULT_MIRROR = "http://deb.debian.org/debian"
APT_SOURCES = Path("/etc/apt/sources.list")
APT_SOURCES_DIR = Path("/etc/apt/sources.list.d")


class BuildError(RuntimeError):
    """The base image could not be built; the message says what failed and how to fix it."""


def _one_line_entries(text: str) -> list[tuple[str, str, list[str]]]:
    """(uri, suite, components) for each ``deb`` line of a one-line-style sources.list."""
    entries = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        line = re.sub(r"\[[^\]]*\]", " ", line)  # drop [signed-by=... arch=...] options
        parts = line.split()
        if len(parts) >= 4:
            entries.append((parts[1], parts[2], parts[3:]))
    return entries


def _deb822_entries(text: str) -> list[tuple[str, str, list[str]]]:
    """(uri, suite, components) for each enabled ``deb`` stanza of a deb822 .sources file."""
    entries = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        for uri in fields.get("uris", "").split():
            for suite in fields.get("suites", "").split():
                entries.append((uri, suite, fields.get("components", "main").split()))
    return entries


def host_mirrors(suite: str = SUITE) -> list[str]:
    """The host's apt sources for ``suite`` (and its -updates/-security), as mmdebstrap mirror lines."""
    entries: list[tuple[str, str, list[str]]] = []
    if APT_SOURCES.is_file():
        entries += _one_line_entries(APT_SOURCES.read_text())
    if APT_SOURCES_DIR.is_dir():
        for path in sorted(APT_SOURCES_DIR.iterdir()):
            if path.suffix == ".list":
                entries += _one_line_entries(path.read_text())
            elif path.suffix == ".sources":
                entries += _deb822_entries(path.read_text())
    wanted = {suite, f"{suite}-updates", f"{suite}-security", f"{suite}/updates"}
    lines = []
    for uri, entry_suite, components in entries:
        if entry_suite in wanted and "main" in components:
            line = f"deb {uri} {entry_suite} main"
            if line not in lines:
                lines.append(line)
    if not any(line.split()[2] == suite for line in lines):
        lines.insert(0, f"deb {DEFAULT_MIRROR} {suite} main")
    return lines


def host_apt_options() -> list[str]:
    """The host's proxy and validity settings, as ``--aptopt`` values."""
    if shutil.which("apt-config") is None:
        return []
    options = []
    for name in HOST_APT_OPTIONS:
        result = subprocess.run(
            ["apt-config", "shell", "VALUE", name], capture_output=True, text=True, check=False
        )
        match = re.fullmatch(r"VALUE='(.*)'\s*", result.stdout, flags=re.DOTALL)
        if match and match.group(1):
            options.append(f'{name} "{match.group(1)}";')
    return options


def recipe(mirrors: list[str]) -> dict[str, object]:
    """Everything that decides the image's content; its hash names the tag."""
    return {
        "recipe_version": RECIPE_VERSION,
        "suite": SUITE,
        "variant": "minbase",
        "packages": sorted(PACKAGES),
        "dpkg_options": list(DPKG_OPTIONS),
        "mirrors": mirrors,
        "changes": list(IMAGE_CHANGES),
    }


def image_tag(mirrors: list[str] | None = None) -> str:
    """``mlrelease-test/base:bookworm-py311-<hash of the recipe>``."""
    data = json.dumps(recipe(host_mirrors() if mirrors is None else mirrors), sort_keys=True)
    digest = hashlib.sha256(data.encode()).hexdigest()[:12]
    return f"{REPOSITORY}:{SUITE}-py311-{digest}"


def _image_exists(tag: str) -> bool:
    result = subprocess.run(["docker", "image", "inspect", tag], capture_output=True, check=False)
    return result.returncode == 0


def _check_tools() -> None:
    missing = [tool for tool in ("mmdebstrap", "docker") if shutil.which(tool) is None]
    if missing:
        raise BuildError(
            f"{', '.join(missing)} not found on PATH. Install them: apt-get install mmdebstrap docker.io"
        )
    ping = subprocess.run(["docker", "version"], capture_output=True, text=True, check=False)
    if ping.returncode != 0:
        raise BuildError(
            "the Docker engine does not answer: "
            f"{ping.stderr.strip()}. Start it (dockerd &) or set DOCKER_HOST."
        )


def _bootstrap_and_import(tag: str, mirrors: list[str]) -> None:
    argv = ["mmdebstrap", "--variant=minbase", "--mode=auto", f"--include={','.join(PACKAGES)}"]
    argv += [f"--dpkgopt={option}" for option in DPKG_OPTIONS]
    argv += [f"--aptopt={option}" for option in host_apt_options()]
    argv += [SUITE, "-", *mirrors]
    importer = ["docker", "import", *(f"--change={change}" for change in IMAGE_CHANGES), "-", tag]
    print(f"building {tag}:\n  {' '.join(argv)} | {' '.join(importer)}", file=sys.stderr)
    with tempfile.TemporaryFile() as bootstrap_log:
        bootstrap = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=bootstrap_log)
        assert bootstrap.stdout is not None
        imported = subprocess.run(
            importer, stdin=bootstrap.stdout, capture_output=True, text=True, check=False
        )
        bootstrap.stdout.close()
        bootstrap_rc = bootstrap.wait()
        if bootstrap_rc != 0:
            bootstrap_log.seek(0)
            tail = bootstrap_log.read().decode(errors="replace")[-4000:]
            if imported.returncode == 0:
                subprocess.run(["docker", "image", "rm", tag], capture_output=True, check=False)
            raise BuildError(
                f"mmdebstrap failed (exit {bootstrap_rc}); check that apt on this host can reach "
                f"{mirrors[0].split()[1]}:\n{tail}"
            )
    if imported.returncode != 0:
        raise BuildError(f"docker import failed (exit {imported.returncode}):\n{imported.stderr}")


def build(force: bool = False) -> str:
    """Build the base image unless an image with the recipe's tag exists; return the tag."""
    _check_tools()
    mirrors = host_mirrors()
    tag = image_tag(mirrors)
    lock_path = Path(tempfile.gettempdir()) / f"mlrelease-base-image-{tag.rsplit('-', 1)[-1]}.lock"
    # Two test sessions on one machine wait for each other instead of building twice.
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _image_exists(tag) and not force:
            print(f"reusing {tag}", file=sys.stderr)
            return tag
        started = time.monotonic()
        _bootstrap_and_import(tag, mirrors)
        print(f"built {tag} in {time.monotonic() - started:.0f}s", file=sys.stderr)
    return tag


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--print-tag", action="store_true", help="print the tag without building")
    parser.add_argument("--force", action="store_true", help="rebuild even if the tag exists")
    args = parser.parse_args(argv)
    if args.print_tag:
        print(image_tag())
        return 0
    try:
        print(build(force=args.force))
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
