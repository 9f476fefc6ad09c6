"""What the builder stage cuts from the installed environment before the runtime stage copies it.

Run inside the builder as ``python -m mlrelease.image.slim /opt/venv`` (standard library only:
mlrelease is installed there without its dependencies). Each cut leaves every module importable
and every shared object loadable; the image test's golden rows and installed-packages check run
on the result. Measured on the example (bench/README.md, "The image"):

- **ELF tails** (about 25 MB): a shared object is loaded through its program headers alone; the
  section headers, symbol table and debug information that follow the last loaded byte are read
  by debuggers, never by the dynamic loader. The file is cut after its last loaded byte and the
  ELF header says it has no sections (what ``sstrip`` does; the base image has no binutils, and the
  build has no network to install them). uvloop alone goes from 13.9 MB to 2.2 MB.
- **Duplicate bundled libraries** (about 3 MB): auditwheel names each library it bundles by the
  hash of its bytes, so ``numpy.libs/libgfortran-040039e1-0352e75f.so.5.0.0`` and the same name in
  ``scipy.libs`` are one file twice; the later copy becomes a relative link to the first. Files
  of the same name with different bytes (numpy's and scipy's OpenBLAS differ: 64-bit and 32-bit
  integers) are left alone.
- **Type stubs** (about 2 MB): ``.pyi`` files are read by type checkers only.

The bytecode stays: without it the server's imports take 7 s longer at each start on a read-only
root file system.
"""

from __future__ import annotations

import hashlib
import os
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

_ELF_MAGIC = b"\x7fELF"
_ELFCLASS64 = 2
_ELFDATA2LSB = 1
_ET_DYN = 3
_EHDR_SIZE = 64


@dataclass(frozen=True)
class Cut:
    """Bytes removed from the environment, by kind."""

    elf_tails: int = 0
    duplicate_libraries: int = 0
    stubs: int = 0

    @property
    def total(self) -> int:
        return self.elf_tails + self.duplicate_libraries + self.stubs

    def describe(self) -> str:
        return (
            f"slim: {self.total / 1e6:.1f} MB cut (ELF tails {self.elf_tails / 1e6:.1f} MB, "
            f"duplicate libraries {self.duplicate_libraries / 1e6:.1f} MB, "
            f"type stubs {self.stubs / 1e6:.1f} MB)"
        )


def loaded_extent(header: bytes, program_headers: bytes) -> int:
    """The file offset just past the last byte any program header maps or names."""
    phoff = struct.unpack_from("<Q", header, 0x20)[0]
    ehsize, phentsize, phnum = struct.unpack_from("<HHH", header, 0x34)
    end = max(ehsize, phoff + phentsize * phnum)
    for i in range(phnum):
        offset, filesz = struct.unpack_from("<Q8x8xQ", program_headers, i * phentsize + 8)
        end = max(end, offset + filesz)
    return int(end)


def cut_elf_tail(path: Path) -> int:
    """Cut a 64-bit little-endian shared object after its last loaded byte; the bytes saved.

    Anything else (another class or byte order, an executable, a file already without sections,
    one whose program headers point past its end) is left as it is and counts 0.
    """
    with path.open("r+b") as fh:
        header = fh.read(_EHDR_SIZE)
        if len(header) < _EHDR_SIZE or header[:4] != _ELF_MAGIC:
            return 0
        if header[4] != _ELFCLASS64 or header[5] != _ELFDATA2LSB:
            return 0
        (e_type,) = struct.unpack_from("<H", header, 0x10)
        phoff, shoff = struct.unpack_from("<QQ", header, 0x20)
        _, phentsize, phnum = struct.unpack_from("<HHH", header, 0x34)
        if e_type != _ET_DYN or shoff == 0 or phnum == 0 or phentsize < 56:
            return 0
        fh.seek(phoff)
        program_headers = fh.read(phentsize * phnum)
        if len(program_headers) < phentsize * phnum:
            return 0
        size = os.fstat(fh.fileno()).st_size
        end = loaded_extent(header, program_headers)
        if end > size:
            return 0
        fh.seek(0x28)
        fh.write(struct.pack("<Q", 0))  # e_shoff: no section header table
        fh.seek(0x3A)
        fh.write(struct.pack("<HHH", 0, 0, 0))  # e_shentsize, e_shnum, e_shstrndx
        fh.truncate(end)
        return size - end


def _is_shared_object(name: str) -> bool:
    return name.endswith(".so") or ".so." in name


def _files(root: Path) -> list[Path]:
    found = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        found += [Path(folder) / name for name in sorted(files)]
    return [path for path in found if not path.is_symlink()]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def link_duplicate_libraries(site_packages: Path) -> int:
    """Replace each bundled library that another ``*.libs`` folder holds byte for byte by a link."""
    first: dict[tuple[str, str], Path] = {}
    saved = 0
    for folder in sorted(site_packages.glob("*.libs")):
        for path in sorted(folder.iterdir()):
            if path.is_symlink() or not path.is_file():
                continue
            key = (path.name, _digest(path))
            kept = first.setdefault(key, path)
            if kept != path:
                saved += path.stat().st_size
                path.unlink()
                path.symlink_to(Path("..") / kept.parent.name / kept.name)
    return saved


def remove_stubs(root: Path) -> int:
    saved = 0
    for path in _files(root):
        if path.suffix == ".pyi":
            saved += path.stat().st_size
            path.unlink()
    return saved


def slim(venv: Path) -> Cut:
    """Apply every cut to the environment at ``venv``."""
    elf = sum(cut_elf_tail(path) for path in _files(venv) if _is_shared_object(path.name))
    libraries = sum(link_duplicate_libraries(sp) for sp in sorted(venv.glob("lib/python3*/site-packages")))
    return Cut(elf_tails=elf, duplicate_libraries=libraries, stubs=remove_stubs(venv))


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: python -m mlrelease.image.slim VENV", file=sys.stderr)
        return 2
    print(slim(Path(argv[0])).describe())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
