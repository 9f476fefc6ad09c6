"""A PEP 503 package index on the local disk, for tests that must not download big wheels.

``make_index(root, {"mlr-accel": ["1.0+cpu"]})`` builds tiny pure-Python wheels and a ``simple/``
tree that uv and pip read through a ``file://`` URL, the way PyTorch's CPU and CUDA indexes serve
``torch`` builds that differ only in their local version.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path


def _wheel(folder: Path, name: str, version: str) -> Path:
    module = name.replace("-", "_")
    path = folder / f"{module}-{version}-py3-none-any.whl"
    info = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": f"__version__ = {version!r}\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for file, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{file},sha256={digest},{len(text.encode())}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = "\n".join(record) + "\n"
    with zipfile.ZipFile(path, "w") as zf:
        for file, text in files.items():
            zf.writestr(zipfile.ZipInfo(file, (2020, 1, 1, 0, 0, 0)), text)
    return path


def make_index(root: Path, packages: dict[str, list[str]]) -> str:
    """Build the index under ``root``; return its ``file://`` URL (the ``simple/`` folder)."""
    simple = root / "simple"
    for name, versions in packages.items():
        folder = simple / name
        folder.mkdir(parents=True, exist_ok=True)
        links = []
        for version in versions:
            wheel = _wheel(folder, name, version)
            sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
            links.append(f'<a href="{wheel.name}#sha256={sha}">{wheel.name}</a><br/>')
        (folder / "index.html").write_text(_page(links))
    (simple / "index.html").write_text(_page([f'<a href="{n}/">{n}</a>' for n in packages]))
    return simple.resolve().as_uri()


def _page(links: list[str]) -> str:
    return "<!DOCTYPE html><html><body>\n" + "\n".join(links) + "\n</body></html>\n"
