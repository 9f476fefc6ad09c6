"""What the builder stage cuts from the environment (mlrelease.image.slim), on real files."""

from __future__ import annotations

import ctypes
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from mlrelease.image import slim

SOURCE = """
double scale(double x) { return x * 3.5; }
int answer(void) { return 42; }
"""


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A shared object with debug information, as compilers and many wheels leave them."""
    compiler = shutil.which("cc")
    assert compiler, "the image tests need a C compiler on the machine (the compiled predictor does too)"
    src = tmp_path / "lib.c"
    src.write_text(SOURCE)
    out = tmp_path / "libscale.so.1"
    subprocess.run([compiler, "-g", "-O1", "-shared", "-fPIC", "-o", str(out), str(src)], check=True)
    return out


def _sections(path: Path) -> tuple[int, int]:
    """(e_shoff, e_shnum) from the ELF header."""
    header = path.read_bytes()[:64]
    return struct.unpack_from("<Q", header, 0x28)[0], struct.unpack_from("<H", header, 0x3C)[0]


def test_a_shared_object_loses_its_tail_and_still_loads_and_runs(library: Path):
    size = library.stat().st_size
    assert _sections(library)[1] > 0 and b"scale" in library.read_bytes()[-20000:]  # .symtab at the end
    saved = slim.cut_elf_tail(library)
    assert saved > 0 and library.stat().st_size == size - saved
    assert _sections(library) == (0, 0)  # the header no longer names a section table it lost
    lib = ctypes.CDLL(str(library))
    lib.scale.restype = ctypes.c_double
    lib.scale.argtypes = [ctypes.c_double]
    assert lib.scale(2.0) == 7.0 and lib.answer() == 42  # dynamic symbols and code are all there
    assert slim.cut_elf_tail(library) == 0  # twice is once


def test_the_cut_keeps_every_byte_a_program_header_maps(library: Path):
    data = library.read_bytes()
    phoff = struct.unpack_from("<Q", data, 0x20)[0]
    _, phentsize, phnum = struct.unpack_from("<HHH", data, 0x34)
    extent = slim.loaded_extent(data[:64], data[phoff : phoff + phentsize * phnum])
    ends = [
        sum(struct.unpack_from("<Q8x8xQ", data, phoff + i * phentsize + 8)) for i in range(phnum)
    ]  # p_offset + p_filesz
    assert extent == max(ends) < len(data)
    slim.cut_elf_tail(library)
    assert library.read_bytes()[64:extent] == data[64:extent]  # only the header's section fields change


@pytest.mark.parametrize(
    ("name", "content"),
    [("notes.so.txt", b"not an ELF file at all"), ("short.so", b"\x7fELF\x02\x01")],
)
def test_files_that_are_not_elf_are_left_alone(tmp_path: Path, name: str, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    assert slim.cut_elf_tail(path) == 0 and path.read_bytes() == content


@pytest.mark.parametrize(("offset", "value"), [(4, 1), (5, 2)], ids=["32-bit", "big-endian"])
def test_a_shared_object_of_another_class_or_byte_order_is_left_alone(library: Path, offset: int, value: int):
    """Only 64-bit little-endian headers are read; the fields of the others sit elsewhere."""
    data = bytearray(library.read_bytes())
    data[offset] = value
    library.write_bytes(bytes(data))
    assert slim.cut_elf_tail(library) == 0 and library.read_bytes() == bytes(data)


def test_a_relocatable_object_is_left_alone(tmp_path: Path, library: Path):
    """Only what the dynamic loader maps (ET_DYN) is cut: an object file is all sections."""
    obj = tmp_path / "lib.so.o"
    subprocess.run(["cc", "-g", "-c", "-fPIC", "-o", str(obj), str(tmp_path / "lib.c")], check=True)
    before = obj.read_bytes()
    assert slim.cut_elf_tail(obj) == 0 and obj.read_bytes() == before


def test_an_executable_is_left_alone(library: Path):
    """Only shared objects (ET_DYN) are cut, whatever the file is named."""
    data = bytearray(library.read_bytes())
    struct.pack_into("<H", data, 0x10, 2)  # ET_EXEC
    library.write_bytes(bytes(data))
    assert slim.cut_elf_tail(library) == 0 and library.read_bytes() == bytes(data)


def _venv(tmp_path: Path) -> Path:
    venv = tmp_path / "venv"
    (venv / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    return venv


def test_a_library_bundled_twice_byte_for_byte_becomes_a_link_and_one_that_differs_stays(tmp_path: Path):
    venv = _venv(tmp_path)
    site = venv / "lib" / "python3.11" / "site-packages"
    for package, blas in (("numpy.libs", b"blas ilp64"), ("scipy.libs", b"blas lp64")):
        (site / package).mkdir()
        (site / package / "libgfortran-0352e75f.so.5").write_bytes(b"gfortran" * 1000)
        (site / package / "libscipy_openblas.so").write_bytes(blas)
    cut = slim.slim(venv)
    linked = site / "scipy.libs" / "libgfortran-0352e75f.so.5"
    assert linked.is_symlink() and str(linked.readlink()) == "../numpy.libs/libgfortran-0352e75f.so.5"
    assert linked.read_bytes() == b"gfortran" * 1000  # the relative link resolves
    assert not (site / "numpy.libs" / "libgfortran-0352e75f.so.5").is_symlink()
    # same name, other bytes (numpy's OpenBLAS takes 64-bit integers, scipy's 32-bit ones): both stay
    assert (site / "scipy.libs" / "libscipy_openblas.so").read_bytes() == b"blas lp64"
    assert cut.duplicate_libraries == 8000


def test_type_stubs_go_and_sources_bytecode_and_data_stay(tmp_path: Path):
    venv = _venv(tmp_path)
    package = venv / "lib" / "python3.11" / "site-packages" / "pkg"
    (package / "__pycache__").mkdir(parents=True)
    files = {
        "__init__.py": b"x = 1\n",
        "__init__.pyi": b"x: int\n",
        "__pycache__/__init__.cpython-311.pyc": b"bytecode",
        "py.typed": b"",
        "data.csv": b"a,b\n",
    }
    for rel, content in files.items():
        (package / rel).write_bytes(content)
    cut = slim.slim(venv)
    assert sorted(p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file()) == sorted(
        rel for rel in files if not rel.endswith(".pyi")
    )
    assert cut.stubs == len(b"x: int\n") and cut.total == cut.stubs


def test_the_module_runs_with_the_standard_library_alone_and_reports_what_it_cut(
    tmp_path: Path, library: Path
):
    venv = _venv(tmp_path)
    ext = venv / "lib" / "python3.11" / "site-packages" / "_ext.cpython-311-x86_64-linux-gnu.so"
    shutil.copy2(library, ext)
    # -I -S: no site-packages, so nothing beyond the standard library and mlrelease's own source
    src = Path(slim.__file__).resolve().parents[2]
    code = (
        f"import runpy, sys; sys.path.insert(0, {str(src)!r}); "
        "runpy.run_module('mlrelease.image.slim', run_name='__main__')"
    )
    run = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(venv)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("slim: ") and "ELF tails" in run.stdout
    assert ext.stat().st_size < library.stat().st_size and _sections(ext) == (0, 0)
    bad = subprocess.run([sys.executable, "-m", "mlrelease.image.slim"], capture_output=True, text=True)
    assert bad.returncode == 2 and "usage" in bad.stderr
