"""Mutation-test one module against only its own tests, in a scratch copy of the tree.

python scripts/mutation_module.py src/mlrelease/serve/outliers.py tests/serve/test_outliers.py [...]
    [--workdir DIR] [--timeout SECONDS] [--max-children N] [--rerun | --resume] [--only GLOB ...]

mutmut reads its settings from ``[tool.mutmut]`` in the ``pyproject.toml`` of the directory it runs
in, so narrowing one run means a second ``pyproject.toml``. This copies ``src/``, ``tests/``, the
example and the schemas into ``--workdir`` (``build/mutation/<dotted module>`` by default), rewrites its
``only_mutate`` and ``pytest_add_cli_args_test_selection`` to the module and tests named here, runs
``mutmut run`` there within ``--timeout`` and prints ``scripts/mutation_score.py`` for it. With
``--rerun`` the copy keeps its earlier results and only the survivors are tried again against the
current tests; with ``--resume`` it keeps them and runs the mutants a time bound left unrun.
``--only 'mlrelease.deps.lock.x__resolve__*'`` keeps earlier results and runs only the mutants
whose names match (with ``--rerun``: only the matching survivors), e.g. one slow function's.
``make mutation`` (every module, the fast selection in pyproject) stays the weekly run.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COPIED = ["src", "tests", "examples/brno-houses", "schemas", "pyproject.toml"]
KILLED_OR_SKIPPED = {1, 3, 36, 24, -24, 152, 255, 37}
# mutmut forks each mutant's test run from one process. OpenMP (scikit-learn's tree predictors) and
# OpenBLAS keep thread pools that do not survive a fork: a child that calls into them waits forever,
# and mutmut would count that hang as a timeout, i.e. a kill. One thread each keeps the pools away.
SINGLE_THREADED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# REPOSITORY_MARK: the tests run in <workdir>/mutants, inside this checkout. The notebook checks end
# a handoff at the nearest folder holding .git, and report paths relative to it; an empty .git there
# makes the copy its own repository for them, as the checkout is (git itself passes over an empty
# .git and still finds this one). `make mutation` does the same in ./mutants.


def toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(item) for item in items) + "]"


def narrowed_pyproject(text: str, module: str, tests: list[str]) -> str:
    """The pyproject text with [tool.mutmut]'s module and test selection replaced."""
    for key, value in (("only_mutate", [module]), ("pytest_add_cli_args_test_selection", tests)):
        pattern = re.compile(rf"^{key} = \[.*?\]$", re.MULTILINE | re.DOTALL)
        if not pattern.search(text):
            raise SystemExit(f"error: pyproject.toml [tool.mutmut] has no {key} to narrow")
        text = pattern.sub(f"{key} = {toml_list(value)}", text, count=1)
    return text


def copy_tree(workdir: Path) -> None:
    for name in COPIED:
        source, target = ROOT / name, workdir / name
        if target.is_dir():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
        else:
            shutil.copy2(source, target)


def survivors(workdir: Path, module: str) -> list[str]:
    meta = workdir / "mutants" / f"{module}.meta"
    if not meta.is_file():
        return []
    codes = json.loads(meta.read_text("utf-8"))["exit_code_by_key"]
    return sorted(name for name, code in codes.items() if code is not None and code not in KILLED_OR_SKIPPED)


def matches(name: str, globs: list[str]) -> bool:
    """Whether ``name`` matches one of ``globs`` (every name when none are given)."""
    return not globs or any(fnmatch.fnmatch(name, glob) for glob in globs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", help="the source file to mutate, e.g. src/mlrelease/serve/outliers.py")
    parser.add_argument("tests", nargs="+", help="the test files (or node ids) that cover it")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--timeout", type=int, default=900, help="seconds for the mutmut run")
    parser.add_argument("--max-children", type=int, default=2)
    again = parser.add_mutually_exclusive_group()
    again.add_argument("--rerun", action="store_true", help="keep earlier results; retry only the survivors")
    again.add_argument("--resume", action="store_true", help="keep earlier results; run the rest")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="GLOB",
        help="keep earlier results; run only the mutants whose names match (repeatable)",
    )
    args = parser.parse_args(argv)

    tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))  # fail early on a broken file
    # src/mlrelease/gate/x.py: mlrelease.gate.x
    dotted = ".".join(Path(args.module).with_suffix("").parts[1:])
    workdir = args.workdir or ROOT / "build" / "mutation" / dotted
    names: list[str] = []
    if args.rerun:
        names = [n for n in survivors(workdir, args.module) if matches(n, args.only)]
        if not names:
            print("no survivors to retry")
            if args.only:
                return 0
    elif args.only:
        names = args.only
    elif workdir.exists() and not args.resume:
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    copy_tree(workdir)
    (workdir / "mutants" / ".git").mkdir(parents=True, exist_ok=True)  # see REPOSITORY_MARK
    pyproject = workdir / "pyproject.toml"
    pyproject.write_text(narrowed_pyproject(pyproject.read_text("utf-8"), args.module, args.tests), "utf-8")

    mutmut = Path(sys.executable).with_name("mutmut")
    command = ["timeout", str(args.timeout), str(mutmut), "run", "--max-children", str(args.max_children)]
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(SINGLE_THREADED)
    result = subprocess.run([*command, *names], cwd=workdir, env=env, check=False)
    if result.returncode not in (0, 124):
        print(f"mutmut run exited {result.returncode}", file=sys.stderr)
    score = [sys.executable, str(ROOT / "scripts" / "mutation_score.py"), "--survivors"]
    return subprocess.run([*score, "--mutants", str(workdir / "mutants")], check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
