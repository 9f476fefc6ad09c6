"""Bad input, table-driven: every command, fed a broken handoff or a broken option, exits with the
right code (2 for bad input, 1 for a check that ran and failed), names the cause, prints no
traceback, and changes no file of the handoff (every file is hashed before and after).

Each case copies a fixture handoff to a scratch folder, breaks it (``setup``), runs the command
in-process through the entry point (``mlrelease.cli.main``, the code that maps errors to exit
codes) and checks the exit code, a fragment of the message and the tree. ``{h}`` in an argument
is the handoff's folder, ``{out}`` a fresh output folder beside it. An exception that escapes the
entry point is what a user sees as a traceback: it fails the case.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlrelease.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REG = "eval-regression"
CLF = "eval-classification"
CHURN = "handoff-churn"
ENERGY = "handoff-energy"
DEPS = "deps-clean"

Setup = Callable[[Path], None]


@dataclass(frozen=True)
class Case:
    id: str
    base: str  # fixture folder copied as the handoff ("" for an empty folder)
    argv: tuple[str, ...]
    exit: int
    fragment: str  # in stderr or stdout
    setup: tuple[Setup, ...] = ()
    untouched: tuple[str, ...] = ()  # files named for the reader; every file is checked anyway


# ----------------------------------------------------------------------------- breakers


def write(rel: str, text: str | bytes) -> Setup:
    def do(h: Path) -> None:
        path = h / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode() if isinstance(text, str) else text)

    return do


def sub(rel: str, old: str, new: str) -> Setup:
    def do(h: Path) -> None:
        text = (h / rel).read_text()
        assert old in text, f"{rel} lacks {old!r}"
        (h / rel).write_text(text.replace(old, new, 1))

    return do


def append(rel: str, text: str) -> Setup:
    def do(h: Path) -> None:
        with open(h / rel, "a") as fh:
            fh.write(text)

    return do


def delete(rel: str) -> Setup:
    def do(h: Path) -> None:
        path = h / rel
        shutil.rmtree(path) if path.is_dir() else path.unlink()

    return do


def drop_block(rel: str, key: str) -> Setup:
    """Remove a top-level YAML key and everything indented under it."""

    def do(h: Path) -> None:
        lines = (h / rel).read_text().splitlines(keepends=True)
        start = next(i for i, ln in enumerate(lines) if ln.startswith(f"{key}:"))
        end = next((i for i in range(start + 1, len(lines)) if lines[i][:1] not in (" ", "\n")), len(lines))
        (h / rel).write_text("".join(lines[:start] + lines[end:]))

    return do


def cell(rel: str, row: int, column: str, value: str) -> Setup:
    """Set one CSV cell (row 0 is the first data row)."""

    def do(h: Path) -> None:
        lines = (h / rel).read_text().splitlines()
        header = lines[0].split(",")
        values = lines[row + 1].split(",")
        values[header.index(column)] = value
        lines[row + 1] = ",".join(values)
        (h / rel).write_text("\n".join(lines) + "\n")

    return do


def drop_column(rel: str, column: str) -> Setup:
    def do(h: Path) -> None:
        lines = (h / rel).read_text().splitlines()
        i = lines[0].split(",").index(column)
        (h / rel).write_text(
            "\n".join(",".join(v for j, v in enumerate(ln.split(",")) if j != i) for ln in lines) + "\n"
        )

    return do


def add_column(rel: str, column: str, value: str) -> Setup:
    def do(h: Path) -> None:
        lines = (h / rel).read_text().splitlines()
        lines = [f"{lines[0]},{column}"] + [f"{ln},{value}" for ln in lines[1:]]
        (h / rel).write_text("\n".join(lines) + "\n")

    return do


def deep(rel: str, prefix: str = '{"cells": ', suffix: str = ', "nbformat": 4}') -> Setup:
    """A JSON file nested far deeper than Python's recursion limit."""
    return write(rel, prefix + "[" * 100_000 + "]" * 100_000 + suffix)


def skops_member(rel: str, kind: str) -> Setup:
    """Damage the first member of a skops zip whose name ends with ``kind``."""

    def do(h: Path) -> None:
        src = zipfile.ZipFile(io.BytesIO((h / rel).read_bytes()))
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as dst:
            done = False
            for name in src.namelist():
                data = src.read(name)
                if not done and name.endswith(kind):
                    data = b"\x93NUMPY garbage" + data[16:32] if kind == ".npy" else b"{not json"
                    done = True
                dst.writestr(name, data)
        (h / rel).write_bytes(out.getvalue())

    return do


def metrics(rel: str, edit: Callable[[dict], object]) -> Setup:
    """Change a metrics.json written by evaluate (the case's setup evaluates first)."""

    def do(h: Path) -> None:
        doc = json.loads((h / rel).read_text())
        result = edit(doc)
        (h / rel).write_text(json.dumps(doc if result is None else result))

    return do


def evaluated(name: str = "run", *extra: str) -> Setup:
    """Evaluate the handoff into ``{h}/<name>`` as the first step of a gate case."""

    def do(h: Path) -> None:
        argv = ["evaluate", "-c", str(h), "-o", str(h / name), "--latency-samples", "100"]
        argv += ["--latency-budget", "0.2", *[a.replace("{h}", str(h)) for a in extra]]
        try:
            main(argv)
        except SystemExit as exc:
            assert exc.code == 0, f"setup evaluate exited {exc.code}"

    return do


NB = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
C = ("-c", "{h}")


# ----------------------------------------------------------------------------- the table

CASES: list[Case] = [
    # config validate -------------------------------------------------------------------------
    Case("validate-empty-folder", "", ("config", "validate", "{h}"), 2, "mlrelease.yaml"),
    Case(
        "validate-empty-file",
        REG,
        ("config", "validate", "{h}"),
        2,
        "mlrelease.yaml",
        (write("mlrelease.yaml", ""),),
    ),
    Case(
        "validate-a-list",
        REG,
        ("config", "validate", "{h}"),
        2,
        "mapping",
        (write("mlrelease.yaml", "- a\n- b\n"),),
    ),
    Case(
        "validate-yaml-syntax",
        REG,
        ("config", "validate", "{h}"),
        2,
        "not valid YAML",
        (write("mlrelease.yaml", "model:\n  name: [unclosed\n"),),
    ),
    Case(
        "validate-typo-did-you-mean",
        REG,
        ("config", "validate", "{h}"),
        2,
        "did you mean 'task'",
        (sub("mlrelease.yaml", "  task:", "  tsak:"),),
    ),
    Case(
        "validate-task-enum",
        REG,
        ("config", "validate", "{h}"),
        2,
        "model.task",
        (sub("mlrelease.yaml", "task: regression", "task: regresion"),),
    ),
    Case(
        "validate-name-not-dns",
        REG,
        ("config", "validate", "{h}"),
        2,
        "model.name",
        (sub("mlrelease.yaml", "name: eval-regression", "name: Eval_Regression!"),),
    ),
    Case(
        "validate-artifact-missing",
        REG,
        ("config", "validate", "{h}"),
        2,
        "model.skops",
        (delete("model.skops"),),
    ),
    Case(
        "validate-artifact-unknown-suffix",
        REG,
        ("config", "validate", "{h}"),
        2,
        "model.artifact",
        (sub("mlrelease.yaml", "artifact: model.skops", "artifact: model.bin"), write("model.bin", "x")),
    ),
    Case(
        "validate-data-missing",
        REG,
        ("config", "validate", "{h}"),
        2,
        "validation.csv",
        (delete("data/validation.csv"),),
    ),
    Case(
        "validate-golden-rows-string",
        REG,
        ("config", "validate", "{h}"),
        2,
        "validation.golden_rows",
        (sub("mlrelease.yaml", "golden_rows: 50", "golden_rows: many"),),
    ),
    Case(
        "validate-tolerance-garbage",
        REG,
        ("config", "validate", "{h}"),
        2,
        "max_regression",
        (sub("mlrelease.yaml", "{max_regression: 2%}", "{max_regression: lots}"),),
    ),
    Case(
        "validate-duplicate-key",
        REG,
        ("config", "validate", "{h}"),
        2,
        "target",
        (sub("mlrelease.yaml", "  target: y\n", "  target: y\n  target: x1\n"),),
    ),
    Case(
        "validate-not-utf8",
        REG,
        ("config", "validate", "{h}"),
        2,
        "mlrelease.yaml",
        (write("mlrelease.yaml", b"model:\n  name: \xff\xfe\n"),),
    ),
    Case("validate-no-such-folder", "", ("config", "validate", "{h}/nowhere"), 2, "nowhere"),
    Case(
        "validate-task-unknown-on-a-classifier",
        CLF,
        ("config", "validate", "{h}"),
        2,
        "model.task",
        (sub("mlrelease.yaml", "task: classification", "task: sorting"),),
    ),
    # lint ------------------------------------------------------------------------------------
    Case(
        "lint-not-json", "", ("lint", "{h}/a.ipynb"), 2, "not valid JSON", (write("a.ipynb", "{cells: oops"),)
    ),
    Case("lint-empty-file", "", ("lint", "{h}/a.ipynb"), 2, "empty", (write("a.ipynb", ""),)),
    Case(
        "lint-nbformat-3",
        "",
        ("lint", "{h}/a.ipynb"),
        2,
        "nbformat 3",
        (write("a.ipynb", '{"worksheets": [], "metadata": {}, "nbformat": 3}'),),
    ),
    Case("lint-deep-nesting", "", ("lint", "{h}/a.ipynb"), 2, "nested deeper", (deep("a.ipynb"),)),
    Case(
        "lint-not-utf8",
        "",
        ("lint", "{h}/a.ipynb"),
        2,
        "not UTF-8",
        (write("a.ipynb", b'{"cells": "\xff"}'),),
    ),
    Case(
        "lint-top-level-list", "", ("lint", "{h}/a.ipynb"), 2, "not a notebook", (write("a.ipynb", "[1, 2]"),)
    ),
    Case(
        "lint-cells-not-a-list",
        "",
        ("lint", "{h}/a.ipynb"),
        2,
        "not a valid nbformat 4 notebook",
        (write("a.ipynb", '{"cells": 5, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'),),
    ),
    Case("lint-missing-file", "", ("lint", "{h}/absent.ipynb"), 2, "absent.ipynb"),
    Case(
        "lint-report-under-a-file",
        CHURN,
        ("lint", *C, "--report", "{h}/mlrelease.yaml/lint.json"),
        2,
        "cannot write here",
    ),
    Case(
        "lint-sarif-under-a-file",
        CHURN,
        ("lint", *C, "--sarif", "{h}/mlrelease.yaml/lint.sarif"),
        2,
        "cannot write here",
    ),
    Case(
        "lint-one-bad-output-writes-neither",
        CHURN,
        ("lint", *C, "--report", "{out}/lint.json", "--sarif", "{h}/mlrelease.yaml/lint.sarif"),
        2,
        "is a file, not a folder",
    ),
    Case(
        "evaluate-output-is-a-file",
        REG,
        ("evaluate", *C, "-o", "{h}/mlrelease.yaml"),
        2,
        "is a file",
    ),
    Case(
        "gate-output-is-a-file",
        REG,
        ("gate", *C, "--candidate", "{h}", "-o", "{h}/model.skops"),
        2,
        "is a file",
    ),
    Case("lint-report-is-a-folder", CHURN, ("lint", *C, "--report", "{h}/analysis"), 2, "analysis"),
    Case(
        "lint-glob-matches-nothing",
        CHURN,
        ("lint", *C),
        2,
        "matches no notebook",
        (delete("analysis/churn.ipynb"),),
    ),
    Case("lint-bad-fail-on", CHURN, ("lint", *C, "--fail-on", "sometimes"), 2, "--fail-on"),
    Case(
        "lint-deep-notebook-in-config",
        CHURN,
        ("lint", *C),
        2,
        "nested deeper",
        (deep("analysis/churn.ipynb"),),
    ),
    Case(
        "lint-finding-fails-the-check",
        CHURN,
        ("lint", *C),
        1,
        "error",
        (sub("analysis/churn.ipynb", '"execution_count": 2', '"execution_count": 9'),),
    ),
    # lock / deps -----------------------------------------------------------------------------
    Case("lock-check-no-config", "", ("lock", "--check", *C), 2, "mlrelease.yaml"),
    Case(
        "lock-check-requirements-missing",
        DEPS,
        ("lock", "--check", *C),
        2,
        "requirements.in",
        (delete("requirements.in"),),
    ),
    Case(
        "lock-check-stale",
        DEPS,
        ("lock", "--check", *C),
        1,
        "stale",
        (append("requirements.in", "rich\n"),),
    ),
    Case(
        "lock-check-edited-lock",
        DEPS,
        ("lock", "--check", *C),
        1,
        "requirements.txt",
        (sub("requirements.txt", "--hash=sha256:", "--hash=sha256:0"),),
    ),
    Case(
        "lock-check-lock-missing",
        DEPS,
        ("lock", "--check", *C),
        1,
        "requirements.txt",
        (delete("requirements.txt"),),
    ),
    Case(
        "lock-check-not-utf8",
        DEPS,
        ("lock", "--check", *C),
        2,
        "requirements.in",
        (write("requirements.in", b"numpy\n\xff\xfe\n"),),
    ),
    Case(
        "lock-check-include-missing",
        DEPS,
        ("lock", "--check", *C),
        2,
        "other.in",
        (append("requirements.in", "-r other.in\n"),),
    ),
    Case("deps-check-no-config", "", ("deps", "check", *C), 2, "mlrelease.yaml"),
    Case(
        "deps-check-requirements-missing",
        ENERGY,
        ("deps", "check", *C),
        2,
        "requirements.in",
        (delete("env/requirements.in"),),
    ),
    Case(
        "deps-check-stale-lock",
        ENERGY,
        ("deps", "check", *C),
        1,
        "stale",
        (append("env/requirements.in", "rich\n"),),
    ),
    Case(
        "deps-check-deep-notebook",
        ENERGY,
        ("deps", "check", *C),
        0,
        "deps check",
        (deep("notebooks/energy.ipynb"),),
    ),
    Case(
        "deps-check-notebook-not-json",
        ENERGY,
        ("deps", "check", *C),
        0,
        "deps check",
        (write("notebooks/energy.ipynb", "{oops"),),
    ),
    Case("deps-check-bad-fail-on", ENERGY, ("deps", "check", *C, "--fail-on", "maybe"), 2, "--fail-on"),
    # predict ---------------------------------------------------------------------------------
    Case(
        "predict-text-in-a-number-column",
        REG,
        ("predict", *C),
        2,
        "x1: wrong type: expected number, got string",
        (cell("data/validation.csv", 2, "x1", "abc"),),
    ),
    Case(
        "predict-text-without-reference-data",
        REG,
        ("predict", *C),
        2,
        "the model cannot predict on this data: could not convert string to float: 'abc'",
        (
            cell("data/validation.csv", 2, "x1", "abc"),
            sub("mlrelease.yaml", "  reference: data/reference.csv\n", ""),
        ),
    ),
    Case(
        "predict-text-in-an-integer-column",
        CHURN,
        ("predict", *C),
        2,
        "tenure_months: wrong type",
        (cell("datasets/validation.csv", 0, "tenure_months", "two years"),),
    ),
    Case(
        "predict-missing-column",
        REG,
        ("predict", *C),
        2,
        "x2",
        (drop_column("data/validation.csv", "x2"),),
    ),
    Case("predict-data-missing", REG, ("predict", *C, "--data", "{h}/nope.csv"), 2, "no such file"),
    Case(
        "predict-data-wrong-suffix",
        REG,
        ("predict", *C, "--data", "{h}/data.txt"),
        2,
        "expected a .csv or .parquet",
        (write("data.txt", "x1,x2\n1,2\n"),),
    ),
    Case(
        "predict-data-header-only",
        REG,
        ("predict", *C, "--data", "{h}/empty.csv"),
        2,
        "no rows",
        (write("empty.csv", "id,x1,x2,group,y\n"),),
    ),
    Case(
        "predict-data-empty-file",
        REG,
        ("predict", *C, "--data", "{h}/empty.csv"),
        2,
        "cannot read as csv",
        (write("empty.csv", ""),),
    ),
    Case(
        "predict-data-binary-garbage",
        REG,
        ("predict", *C, "--data", "{h}/bin.csv"),
        2,
        "bin.csv",
        (write("bin.csv", bytes(range(256)) * 4),),
    ),
    Case(
        "predict-parquet-corrupt",
        REG,
        ("predict", *C, "--data", "{h}/bad.parquet"),
        2,
        "cannot read as parquet",
        (write("bad.parquet", b"PAR1 this is not parquet PAR1"),),
    ),
    Case(
        "predict-output-suffix", REG, ("predict", *C, "-o", "{out}/p.xlsx"), 2, "expected a .csv or .parquet"
    ),
    Case(
        "predict-output-under-a-file",
        REG,
        ("predict", *C, "-o", "{h}/mlrelease.yaml/p.csv"),
        2,
        "cannot write here",
    ),
    Case("predict-output-is-a-folder", REG, ("predict", *C, "-o", "{h}/data"), 2, "data"),
    Case("predict-model-missing", REG, ("predict", *C), 2, "model.skops", (delete("model.skops"),)),
    Case(
        "predict-model-not-a-zip",
        REG,
        ("predict", *C),
        2,
        "not a readable skops file",
        (write("model.skops", b"definitely not a zip"),),
    ),
    Case(
        "predict-model-empty",
        REG,
        ("predict", *C),
        2,
        "model.skops",
        (write("model.skops", b""),),
    ),
    Case(
        "predict-model-corrupt-npy",
        CHURN,
        ("predict", *C),
        2,
        "the skops file is damaged",
        (skops_member("ml/models/churn.skops", ".npy"),),
    ),
    Case(
        "predict-model-corrupt-schema",
        CHURN,
        ("predict", *C),
        2,
        "churn.skops",
        (skops_member("ml/models/churn.skops", "schema.json"),),
    ),
    Case(
        "predict-untrusted-type",
        CHURN,
        ("predict", *C),
        2,
        "sklearn.tree._tree.Tree",
        (sub("mlrelease.yaml", "trusted_types: [sklearn.tree._tree.Tree]", "trusted_types: []"),),
    ),
    Case(
        "predict-sha256-mismatch",
        REG,
        ("predict", *C),
        2,
        "sha256",
        (sub("mlrelease.yaml", "  target: y\n", "  target: y\n  sha256: " + "0" * 64 + "\n"),),
    ),
    Case(
        "predict-pickle-without-opt-in",
        "eval-pickle",
        ("predict", *C),
        2,
        "can run code",
        (sub("mlrelease.yaml", "allow_pickle: true", "allow_pickle: false"),),
    ),
    Case(
        "predict-entrypoint-raises",
        "eval-entrypoint",
        ("predict", *C),
        2,
        "raised",
        (write("model.py", "def load():\n    raise RuntimeError('no weights here')\n"),),
    ),
    Case(
        "predict-entrypoint-import-fails",
        "eval-entrypoint",
        ("predict", *C),
        2,
        "importing",
        (write("model.py", "import not_a_module_anywhere\n"),),
    ),
    Case(
        "predict-no-data-configured",
        REG,
        ("predict", *C),
        2,
        "no --data given",
        (drop_block("mlrelease.yaml", "validation"),),
    ),
    Case("predict-no-config", "", ("predict", *C), 2, "mlrelease.yaml"),
    Case("predict-rows-not-a-number", REG, ("predict", *C, "--rows", "ten"), 2, "--rows"),
    # evaluate --------------------------------------------------------------------------------
    Case(
        "evaluate-text-target-for-regression",
        REG,
        ("evaluate", *C, "-o", "{out}"),
        2,
        "holds text, but a regression",
        (cell("data/validation.csv", 4, "y", "unknown"),),
    ),
    Case(
        "evaluate-empty-target",
        REG,
        ("evaluate", *C, "-o", "{out}"),
        2,
        "empty values",
        (cell("data/validation.csv", 4, "y", ""),),
    ),
    Case(
        "evaluate-target-column-missing",
        REG,
        ("evaluate", *C, "-o", "{out}"),
        2,
        "the target column",
        (drop_column("data/validation.csv", "y"),),
    ),
    Case(
        "evaluate-no-target-configured",
        REG,
        ("evaluate", *C, "-o", "{out}"),
        2,
        "model.target",
        (sub("mlrelease.yaml", "  target: y\n", ""),),
    ),
    Case(
        "evaluate-unexpected-column",
        REG,
        ("evaluate", *C, "-o", "{out}"),
        2,
        "unexpected column",
        (add_column("data/validation.csv", "surprise", "1"),),
    ),
    Case(
        "evaluate-wrong-type",
        REG,
        ("evaluate", *C, "-o", "{out}"),
        2,
        "x2: wrong type",
        (cell("data/validation.csv", 1, "x2", "three"),),
    ),
    Case(
        "evaluate-slice-column-missing",
        REG,
        ("evaluate", *C, "-o", "{out}"),
        2,
        "slice 'small'",
        (drop_column("data/validation.csv", "group"),),
    ),
    Case(
        "evaluate-slice-min-on-text",
        REG,
        ("evaluate", *C, "-o", "{out}"),
        2,
        "min/max need a numeric column",
        (
            sub(
                "mlrelease.yaml",
                "{name: high-x2, column: x2, min: 3}",
                "{name: high-x2, column: group, min: 3}",
            ),
        ),
    ),
    Case(
        "evaluate-output-under-a-file",
        REG,
        ("evaluate", *C, "-o", "{h}/mlrelease.yaml/out"),
        2,
        "cannot write here",
    ),
    Case(
        "evaluate-latency-samples-too-few",
        REG,
        ("evaluate", *C, "-o", "{out}", "--latency-samples", "5"),
        2,
        "--latency-samples",
    ),
    Case(
        "evaluate-latency-budget-negative",
        REG,
        ("evaluate", *C, "-o", "{out}", "--latency-budget", "-1"),
        2,
        "--latency-budget",
    ),
    Case(
        "evaluate-model-unknown-suffix",
        REG,
        ("evaluate", *C, "-o", "{out}", "--model", "{h}/mlrelease.yaml"),
        2,
        "cannot tell the model format",
    ),
    Case(
        "evaluate-model-missing",
        REG,
        ("evaluate", *C, "-o", "{out}", "--model", "{h}/other.skops"),
        2,
        "no such model file",
    ),
    Case(
        "evaluate-model-corrupt-npy",
        ENERGY,
        ("evaluate", *C, "-o", "{out}"),
        2,
        "the skops file is damaged",
        (skops_member("models/production.skops", ".npy"),),
    ),
    Case(
        "evaluate-data-header-only",
        CLF,
        ("evaluate", *C, "-o", "{out}"),
        2,
        "no rows",
        (write("data/validation.csv", "x1,x2,label\n"),),
    ),
    Case(
        "evaluate-data-without-target-or-features",
        CLF,
        ("evaluate", *C, "-o", "{out}", "--data", "{h}/d.csv"),
        2,
        "d.csv",
        (write("d.csv", "x1,x2\n1,2\n"),),
    ),
    Case("evaluate-no-output", REG, ("evaluate", *C), 2, "--output"),
    # gate ------------------------------------------------------------------------------------
    Case(
        "gate-candidate-missing",
        REG,
        ("gate", *C, "--candidate", "{h}/nope", "-o", "{out}"),
        2,
        "no metrics.json",
    ),
    Case(
        "gate-metrics-not-json",
        REG,
        ("gate", *C, "--candidate", "{h}/m.json", "-o", "{out}"),
        2,
        "not valid JSON",
        (write("m.json", "{oops"),),
    ),
    Case(
        "gate-metrics-too-deep",
        REG,
        ("gate", *C, "--candidate", "{h}/m.json", "-o", "{out}"),
        2,
        "nested deeper",
        (deep("m.json", '{"x": ', "}"),),
    ),
    Case(
        "gate-metrics-a-list",
        REG,
        ("gate", *C, "--candidate", "{h}/m.json", "-o", "{out}"),
        2,
        "expected a JSON object",
        (write("m.json", "[]"),),
    ),
    Case(
        "gate-metrics-empty-object",
        REG,
        ("gate", *C, "--candidate", "{h}/m.json", "-o", "{out}"),
        2,
        "schema_version",
        (write("m.json", "{}"),),
    ),
    Case(
        "gate-metrics-schema-version",
        REG,
        ("gate", *C, "--candidate", "{h}/run", "-o", "{out}"),
        2,
        "schema_version 99",
        (evaluated(), metrics("run/metrics.json", lambda d: d.update(schema_version=99))),
    ),
    Case(
        "gate-metrics-missing-keys",
        REG,
        ("gate", *C, "--candidate", "{h}/run", "-o", "{out}"),
        2,
        "not a valid metrics.json",
        (evaluated(), metrics("run/metrics.json", lambda d: d.pop("model") and None)),
    ),
    Case(
        "gate-metrics-value-text",
        REG,
        ("gate", *C, "--candidate", "{h}/run", "-o", "{out}"),
        2,
        "not a valid metrics.json",
        (evaluated(), metrics("run/metrics.json", lambda d: d["metrics"].update(r2_score="high"))),
    ),
    Case(
        "gate-predictions-corrupt",
        REG,
        ("gate", *C, "--candidate", "{h}/run", "-o", "{out}"),
        2,
        "cannot read as parquet",
        (evaluated(), write("run/predictions.parquet", b"PAR1 nope PAR1")),
    ),
    Case(
        "gate-predictions-missing-columns",
        REG,
        ("gate", *C, "--candidate", "{h}/run", "-o", "{out}"),
        2,
        "lacks the column",
        (
            evaluated(),
            lambda h: (
                __import__("pandas").DataFrame({"a": [1]}).to_parquet(h / "run" / "predictions.parquet")
            ),
        ),
    ),
    Case(
        "gate-task-mismatch",
        REG,
        ("gate", *C, "--candidate", "{h}/run", "--baseline", "{h}/clf", "-o", "{out}"),
        2,
        "the baseline is a classification model",
        (
            evaluated(),
            lambda h: shutil.copytree(h / "run", h / "clf"),
            metrics("clf/metrics.json", lambda d: d.update(task="classification")),
        ),
    ),
    Case(
        "gate-different-data",
        REG,
        ("gate", *C, "--candidate", "{h}/run", "--baseline", "{h}/ref", "-o", "{out}"),
        2,
        "evaluated on different data",
        (evaluated(), evaluated("ref", "--data", "{h}/data/reference.csv")),
    ),
    Case(
        "gate-output-under-a-file",
        REG,
        ("gate", *C, "--candidate", "{h}/run", "-o", "{h}/mlrelease.yaml/g"),
        2,
        "cannot write here",
        (evaluated(),),
    ),
    Case(
        "gate-rule-without-direction",
        REG,
        ("gate", *C, "--candidate", "{h}/run", "-o", "{out}"),
        2,
        "cannot tell whether higher or lower is better",
        (
            evaluated(),
            sub(
                "mlrelease.yaml",
                "    r2_score: {min: 0.5}\n",
                "    r2_score: {min: 0.5}\n    wobble: {max_regression: 2%}\n",
            ),
        ),
    ),
    Case(
        "gate-trade-off-unknown-metric",
        REG,
        ("gate", *C, "--candidate", "{h}/run", "-o", "{out}"),
        2,
        "has no rule under gate.metrics",
        (
            evaluated(),
            append(
                "mlrelease.yaml",
                "  trade_offs:\n    - {allow: {mean_absolute_error: 5%}, when: {p95_latency_ms: -30%}}\n",
            ),
        ),
    ),
    Case(
        "gate-floor-fails-the-check",
        REG,
        ("gate", *C, "--candidate", "{h}/run", "-o", "{out}"),
        1,
        "below the floor",
        (evaluated(), sub("mlrelease.yaml", "r2_score: {min: 0.5}", "r2_score: {min: 0.9999}")),
    ),
    Case(
        "gate-metric-not-finite-fails",
        REG,
        ("gate", *C, "--candidate", "{h}/run", "-o", "{out}"),
        1,
        "not a finite number",
        (evaluated(), metrics("run/metrics.json", lambda d: d["metrics"].update(r2_score=float("nan")))),
    ),
    Case("gate-no-candidate-option", REG, ("gate", *C, "-o", "{out}"), 2, "--candidate"),
    # build --print-dockerfile ----------------------------------------------------------------
    Case("dockerfile-no-config", "", ("build", *C, "--print-dockerfile"), 2, "mlrelease.yaml"),
    Case(
        "dockerfile-no-lock",
        ENERGY,
        ("build", *C, "--print-dockerfile"),
        2,
        "cannot read the lock file",
        (sub("mlrelease.yaml", "lock: env/requirements.txt\n", ""),),
    ),
    Case(
        "dockerfile-bad-base-image",
        ENERGY,
        ("build", *C, "--print-dockerfile", "--base-image", "not an image!"),
        2,
        "is not an image reference",
    ),
    Case(
        "dockerfile-lock-missing",
        ENERGY,
        ("build", *C, "--print-dockerfile"),
        2,
        "requirements.txt",
        (delete("env/requirements.txt"),),
    ),
    Case(
        "dockerfile-evaluation-missing",
        ENERGY,
        ("build", *C, "--print-dockerfile", "--evaluation", "{h}/nope"),
        2,
        "nope",
    ),
    Case(
        "dockerfile-python-version-garbage",
        ENERGY,
        ("build", *C, "--print-dockerfile"),
        2,
        "image.python",
        (append("mlrelease.yaml", "image: {python: snake}\n"),),
    ),
]


def tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    h = tmp_path / "handoff"
    if case.base:
        shutil.copytree(FIXTURES / case.base, h)
    else:
        h.mkdir()
    for step in case.setup:
        step(h)
    capsys.readouterr()
    out_dir = tmp_path / "out"
    argv = [a.replace("{h}", str(h)).replace("{out}", str(out_dir)) for a in case.argv]
    before = tree(h)
    try:
        main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:  # what a user would see as a traceback
        pytest.fail(f"Traceback: {type(exc).__name__}: {str(exc)[:300]}")
    else:
        code = 0
    out, err = capsys.readouterr()
    text = out + err
    assert "Traceback" not in text, text[-2000:]
    assert code == case.exit, f"exit {code}, expected {case.exit}:\n{text[-2000:]}"
    assert case.fragment in text, f"{case.fragment!r} not in:\n{text[-2000:]}"
    assert tree(h) == before, "the command changed or wrote files in the handoff"
    if code == 2:
        assert not out_dir.exists() or not any(out_dir.iterdir()), "bad input left output behind"


def test_the_table_covers_every_command_with_enough_cases():
    commands = {c.argv[0] if c.argv[0] not in ("config", "deps") else " ".join(c.argv[:2]) for c in CASES}
    assert {
        "config validate",
        "lint",
        "lock",
        "deps check",
        "predict",
        "evaluate",
        "gate",
        "build",
    } <= commands
    assert len(CASES) >= 80
    assert len({c.id for c in CASES}) == len(CASES)


def test_as_a_user_runs_it_no_traceback_and_exit_2(tmp_path):
    """The same through `python -m mlrelease` in a fresh process: exit 2, cause, no traceback."""
    import subprocess
    import sys

    h = tmp_path / "h"
    shutil.copytree(FIXTURES / CHURN, h)
    skops_member("ml/models/churn.skops", ".npy")(h)
    done = subprocess.run(
        [sys.executable, "-m", "mlrelease", "predict", "-c", str(h), "-o", str(tmp_path / "p.csv")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2, done.stderr
    assert "the skops file is damaged" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "p.csv").exists()


def test_serve_with_an_unwritable_request_log_exits_2_naming_the_key(tmp_path):
    """serving.logging.file under a file: exit 2 before serving, the key named, no traceback."""
    import socket
    import subprocess
    import sys

    h = tmp_path / "h"
    shutil.copytree(FIXTURES / REG, h)
    append("mlrelease.yaml", "serving:\n  logging:\n    file: mlrelease.yaml/requests.jsonl\n")(h)
    before = tree(h)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = subprocess.run(
        [sys.executable, "-m", "mlrelease", "serve", "-c", str(h), "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=120,  # a server that started instead of refusing would be killed here and fail
    )
    assert done.returncode == 2, done.stderr
    assert "serving.logging.file: cannot write the request log" in done.stderr
    assert "Traceback" not in done.stderr
    assert tree(h) == before
