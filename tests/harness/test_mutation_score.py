"""scripts/mutation_score.py: the score per module from mutmut's result files, and its verdict."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("mutation_score", ROOT / "scripts" / "mutation_score.py")
assert spec and spec.loader
mutation_score = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mutation_score)


def results(tmp_path: Path, modules: dict[str, dict[str, int | None]], equivalent: str = "") -> list[str]:
    for module, codes in modules.items():
        meta = tmp_path / "mutants" / "src" / f"{module}.meta"
        meta.parent.mkdir(parents=True, exist_ok=True)
        meta.write_text(json.dumps({"exit_code_by_key": codes}))
    (tmp_path / "equivalent.txt").write_text(equivalent)
    return ["--mutants", str(tmp_path / "mutants"), "--equivalent", str(tmp_path / "equivalent.txt")]


def test_killed_and_timed_out_count_as_killed_passing_and_uncovered_as_survived(tmp_path, capsys):
    # 9 killed (1: a test failed, 36: timeout), 1 survived (0), 1 without tests (33): 9 / 11
    codes = {f"m.f__mutmut_{i}": 1 for i in range(8)} | {"m.f__mutmut_8": 36, "m.f__mutmut_9": 0}
    codes["m.f__mutmut_10"] = 33
    args = results(tmp_path, {"pkg/a.py": codes})
    assert mutation_score.main([*args, "--threshold", "81", "--survivors"]) == 0
    out = capsys.readouterr().out
    assert "pkg/a.py" in out and "81.8%" in out
    assert "survived: m.f__mutmut_9" in out and "survived: m.f__mutmut_10" in out
    assert mutation_score.main([*args, "--threshold", "82"]) == 1


def test_equivalent_mutants_leave_the_score(tmp_path, capsys):
    args = results(
        tmp_path,
        {"pkg/a.py": {"m.f__mutmut_1": 1, "m.f__mutmut_2": 0}},
        "m.f__mutmut_2  # same as the original\n",
    )
    assert mutation_score.main([*args, "--threshold", "100"]) == 0
    assert "100.0%" in capsys.readouterr().out


def test_a_listed_equivalent_that_a_test_killed_counts_as_killed_and_is_named(tmp_path, capsys):
    """The function was edited and its mutants renumbered: the line now names a killed mutant."""
    args = results(
        tmp_path,
        {"pkg/a.py": {"m.f__mutmut_1": 1, "m.f__mutmut_2": 0, "m.f__mutmut_3": 0}},
        "m.f__mutmut_1  # same as the original\nm.f__mutmut_2  # same as the original\n",
    )
    assert mutation_score.main([*args, "--threshold", "50"]) == 0
    out = capsys.readouterr().out
    assert "pkg/a.py                                      1        1      1      0   50.0%" in out
    assert "listed as equivalent but killed (renumbered?): m.f__mutmut_1" in out
    assert "m.f__mutmut_2" not in out


@pytest.mark.parametrize(("require_all", "code"), [(False, 0), (True, 1)])
def test_a_module_cut_short_fails_and_one_not_run_fails_only_when_all_are_required(
    tmp_path, require_all, code
):
    ran = {"pkg/a.py": {"m.f__mutmut_1": 1}, "pkg/b.py": {"n.g__mutmut_1": None}}
    args = results(tmp_path, ran)
    assert mutation_score.main([*args, *(["--require-all"] if require_all else [])]) == code
    half = results(tmp_path, {"pkg/a.py": {"m.f__mutmut_1": 1, "m.f__mutmut_2": None}})
    assert mutation_score.main(half) == 1


def test_no_results_is_an_error(tmp_path, capsys):
    assert mutation_score.main(["--mutants", str(tmp_path / "none")]) == 1
    assert "run `make mutation` first" in capsys.readouterr().err


FORK_AFTER_OPENMP = """\
import os
import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor

rng = np.random.default_rng(0)
X = rng.normal(size=(2000, 5))
model = HistGradientBoostingRegressor(max_iter=20).fit(X, X[:, 0])
model.predict(X)  # the parent's OpenMP pool exists from here on
pid = os.fork()
if pid == 0:
    model.predict(X)
    os._exit(0)
_, status = os.waitpid(pid, 0)
raise SystemExit(os.waitstatus_to_exitcode(status))
"""


def test_a_mutant_forked_after_openmp_ran_is_not_left_waiting_on_the_parents_threads():
    """mutmut forks every mutant's test run from one process. Without one thread per pool, a forked
    child that predicts with a scikit-learn tree model waits forever on OpenMP threads it does not
    have, and mutmut counts that hang as a kill. The scratch runs and `make mutation` both set it."""
    import subprocess
    import sys

    module_spec = importlib.util.spec_from_file_location(
        "mutation_module", ROOT / "scripts" / "mutation_module.py"
    )
    assert module_spec and module_spec.loader
    mutation_module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(mutation_module)
    env = {"PATH": "/usr/bin:/bin", **mutation_module.SINGLE_THREADED}
    done = subprocess.run([sys.executable, "-c", FORK_AFTER_OPENMP], env=env, timeout=60, check=False)
    assert done.returncode == 0

    recipe = subprocess.run(
        ["make", "-n", "mutation"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    mutmut_line = next(line for line in recipe.replace("\\\n", " ").splitlines() if "mutmut run" in line)
    for name, value in mutation_module.SINGLE_THREADED.items():
        assert f"{name}={value}" in mutmut_line.split()


@pytest.mark.parametrize(
    ("globs", "picked"),
    [
        ([], ["m.x__resolve__mutmut_2", "m.x_lock__mutmut_1", "m.xǁInputsǁof__mutmut_3"]),
        (["m.x__resolve__*"], ["m.x__resolve__mutmut_2"]),
        (["m.x_lock__*", "m.xǁInputsǁ*"], ["m.x_lock__mutmut_1", "m.xǁInputsǁof__mutmut_3"]),
    ],
)
def test_a_rerun_can_be_narrowed_to_the_mutants_of_some_functions(globs, picked):
    module_spec = importlib.util.spec_from_file_location(
        "mutation_module", ROOT / "scripts" / "mutation_module.py"
    )
    assert module_spec and module_spec.loader
    mutation_module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(mutation_module)
    names = ["m.x__resolve__mutmut_2", "m.x_lock__mutmut_1", "m.xǁInputsǁof__mutmut_3"]
    assert [n for n in names if mutation_module.matches(n, globs)] == picked
