"""The mutation score per module from mutmut's results in mutants/, against a threshold.

python scripts/mutation_score.py --threshold 90 [--require-all]

Reads the ``mutants/**/*.py.meta`` files ``mutmut run`` writes. A mutant counts as killed when a
test failed or timed out on it; as surviving when the tests passed or none covered it. Mutants
listed in ``tests/mutation-equivalent.txt`` (``name  # why it cannot be told apart``) are left
out of the score: no test can kill a mutant that behaves exactly like the original. A listed
mutant that a test killed counts as killed, and is named: mutmut numbers a function's mutants in
order, so an edit to the function moves the numbers and the line then names another mutant.

Exit 1 when a module that ran scores below the threshold, when a module stopped half-way (the
time bound cut the run short), or, with ``--require-all``, when a module did not run at all.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KILLED = {1, 3, 36, 24, -24, 152, 255, 37}  # a failing test, pytest's internal error, a timeout
SURVIVED = {0, 5, 33}  # the tests passed, or no test ran the mutated code
EQUIVALENT = ROOT / "tests" / "mutation-equivalent.txt"


def equivalents(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if not path.is_file():
        return out
    for line in path.read_text("utf-8").splitlines():
        name, _, why = line.partition("#")
        if name.strip():
            out[name.strip()] = why.strip()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=90.0, help="lowest score allowed, in percent")
    parser.add_argument("--mutants", type=Path, default=ROOT / "mutants")
    parser.add_argument("--equivalent", type=Path, default=EQUIVALENT)
    parser.add_argument("--require-all", action="store_true", help="every module must have run")
    parser.add_argument("--survivors", action="store_true", help="list the surviving mutants")
    args = parser.parse_args(argv)

    metas = sorted(args.mutants.glob("src/**/*.py.meta"))
    if not metas:
        print(f"error: no mutmut results under {args.mutants}; run `make mutation` first", file=sys.stderr)
        return 1
    known = equivalents(args.equivalent)
    failed = False
    print(f"{'module':<40} {'killed':>6} {'survived':>8} {'equiv.':>6} {'unrun':>6} {'score':>7}")
    for meta in metas:
        module = str(meta.relative_to(args.mutants / "src")).removesuffix(".meta")
        codes = json.loads(meta.read_text("utf-8"))["exit_code_by_key"]
        counts: Counter[str] = Counter()
        survivors = []
        misnamed: list[str] = []
        for name, code in codes.items():
            if name in known and code in KILLED:
                misnamed.append(name)
            if name in known and code not in KILLED:
                counts["equivalent"] += 1
            elif code is None:
                counts["unrun"] += 1
            elif code in KILLED:
                counts["killed"] += 1
            else:
                counts["survived"] += 1
                survivors.append(name)
        tested = counts["killed"] + counts["survived"]
        if not tested:
            score = "not run"
            failed |= args.require_all and counts["unrun"] > 0
        else:
            value = 100.0 * counts["killed"] / tested
            score = f"{value:.1f}%"
            failed |= value < args.threshold or counts["unrun"] > 0
        print(
            f"{module:<40} {counts['killed']:>6} {counts['survived']:>8} {counts['equivalent']:>6} "
            f"{counts['unrun']:>6} {score:>7}"
        )
        if args.survivors:
            for name in survivors:
                print(f"    survived: {name}")
        for name in misnamed:
            print(f"    listed as equivalent but killed (renumbered?): {name}")
    print(f"threshold {args.threshold:g}%: {'FAIL' if failed else 'ok'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
