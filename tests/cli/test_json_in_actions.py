"""Inside GitHub Actions, ``--json`` still prints nothing but JSON on stdout, for every command.

Annotations and masks are workflow commands; the runner reads them from stderr as well as from
stdout, so ``mlrelease.github`` writes them to stderr and stdout stays a parsable document. Each
case runs ``python -m mlrelease`` as a real process under ``GITHUB_ACTIONS=true``; the failing
ones check that the annotation was still written (to stderr).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "brno-houses"
FIXTURES = ROOT / "tests" / "fixtures"
CORPUS = FIXTURES / "notebooks"
BROKEN = FIXTURES / "config-broken"
REGRESSION = FIXTURES / "eval-regression"
VALIDATION = EXAMPLE / "data" / "validation.csv"
NO_REGISTRY = ("--registry", "{tmp}/reg")  # an empty folder registry


def run_in_actions(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env = {
        **base,
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }
    return subprocess.run(
        [sys.executable, "-m", "mlrelease", *args], capture_output=True, text=True, cwd=ROOT, env=env
    )


# (id, argv with {tmp} for the test's folder, exit code, whether an ::error annotation is expected)
CASES = [
    ("config-validate-broken", ["config", "validate", str(BROKEN), "--json"], 2, True),
    ("config-validate", ["config", "validate", str(EXAMPLE), "--json"], 0, False),
    ("config-schema", ["config", "schema"], 0, False),
    ("lint-failing", ["lint", str(CORPUS / "nb101_out_of_order.ipynb"), "--json"], 1, True),
    ("lint-unreadable", ["lint", str(CORPUS / "malformed"), "--json"], 2, True),
    ("deps-check-failing", ["deps", "check", "-c", str(FIXTURES / "deps-loose-pin"), "--json"], 1, True),
    ("lock-check-stale", ["lock", "-c", str(FIXTURES / "deps-stale-lock"), "--check", "--json"], 1, True),
    ("lock-check-fresh", ["lock", "-c", str(EXAMPLE), "--check", "--json"], 0, False),
    ("predict", ["predict", "-c", str(REGRESSION), "--rows", "2", "--json"], 0, False),
    (
        "evaluate",
        ["evaluate", "-c", str(REGRESSION), "-o", "{tmp}/eval", "--latency-samples", "100", "--json"],
        0,
        False,
    ),
    (
        "gate",
        ["gate", "-c", str(EXAMPLE), "--candidate", str(EXAMPLE / "baseline"), "-o", "{tmp}/g", "--json"],
        0,
        False,
    ),
    ("releases-empty", ["releases", "--registry", "{tmp}/reg", "-m", "brno", "--json"], 0, False),
    (
        "monitor-no-drift",
        ["monitor", "--current", str(VALIDATION), "--reference", str(VALIDATION), "-o", "{tmp}/m", "--json"],
        0,
        False,
    ),
]

# commands whose happy path needs a Docker engine or a running server: their bad-input path must
# still keep workflow commands off stdout (it prints nothing there at all)
REFUSED = [
    ("build-no-evaluation", ["build", "-c", str(EXAMPLE), "-o", "{tmp}/image.json", "--json"]),
    ("test-image-no-golden", ["test-image", "-c", str(EXAMPLE), "--json"]),
    ("push-no-record", ["push", "-c", str(EXAMPLE), "--image-json", "{tmp}/none.json", "--json"]),
    ("serve-bad-config", ["serve", "-c", str(BROKEN), "--smoke", "--json"]),
    ("show-no-release", ["show", "v1", "--registry", "{tmp}/reg", "-m", "brno", "--json"]),
    (
        "release-no-evaluation",
        ["release", "-c", str(EXAMPLE), *NO_REGISTRY, "--evaluate", "{tmp}/e", "--gate", "{tmp}/g", "--json"],
    ),
    (
        "deploy-no-release",
        ["deploy", "v1", "--registry", "{tmp}/reg", "-m", "brno", "--state-dir", "{tmp}/s", "--json"],
    ),
    (
        "rollback-no-release",
        [
            "rollback",
            "--dry-run",
            "--registry",
            "{tmp}/reg",
            "-m",
            "brno",
            "--state-dir",
            "{tmp}/s",
            "--json",
        ],
    ),
    (
        "watch-nothing-deployed",
        ["watch", "--registry", "{tmp}/reg", "-m", "brno", "--state-dir", "{tmp}/s", "--json"],
    ),
    (
        "monitor-no-window",
        ["monitor", "--current", "{tmp}/none.csv", "--reference", str(VALIDATION), "--json"],
    ),
]


@pytest.mark.parametrize(("argv", "code", "annotated"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_json_stays_parsable_inside_actions(tmp_path, argv, code, annotated):
    done = run_in_actions(tmp_path, *(a.replace("{tmp}", str(tmp_path)) for a in argv))
    assert done.returncode == code, done.stderr
    json.loads(done.stdout)  # the whole of stdout is one JSON document
    assert "::" not in "".join(line[:2] for line in done.stdout.splitlines())
    if annotated:
        assert "::error" in done.stderr


@pytest.mark.parametrize("argv", [c[1] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_refused_commands_write_annotations_to_stderr_only(tmp_path, argv):
    done = run_in_actions(tmp_path, *(a.replace("{tmp}", str(tmp_path)) for a in argv))
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert "::error" in done.stderr


def commands_with_json() -> set[str]:
    import click

    from mlrelease.cli import cli

    ctx = click.Context(cli)
    found: set[str] = set()

    def walk(command: click.Command, path: tuple[str, ...]) -> None:
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None:
                    walk(sub, (*path, name))
        elif any(p.name == "as_json" for p in command.params):
            found.add(" ".join(path))

    walk(cli, ())
    return found


def test_every_command_with_json_is_run_here():
    covered = {" ".join(argv[:2]) if argv[0] in ("config", "deps") else argv[0] for _, argv, *_ in CASES}
    covered |= {argv[0] for _, argv in REFUSED}
    assert commands_with_json() <= covered, sorted(commands_with_json() - covered)


def test_a_blocked_gate_prints_json_and_annotates_stderr(tmp_path):
    """The failing side of the gate: a candidate 50% worse on every error metric."""
    metrics = json.loads((EXAMPLE / "baseline" / "metrics.json").read_text())
    for name in metrics["metrics"]:
        if name.endswith("_error") and isinstance(metrics["metrics"][name], int | float):
            metrics["metrics"][name] *= 1.5
    (tmp_path / "cand").mkdir()
    (tmp_path / "cand" / "metrics.json").write_text(json.dumps(metrics))
    argv = ["gate", "-c", str(EXAMPLE), "--candidate", str(tmp_path / "cand")]
    done = run_in_actions(
        tmp_path, *argv, "--baseline", str(EXAMPLE / "baseline"), "-o", str(tmp_path / "g"), "--json"
    )
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["verdict"] == "fail"
    assert "::error title=gate%3A blocked::" in done.stderr


def test_a_drift_alert_prints_json_and_annotates_stderr(tmp_path):
    """The failing side of monitor: a window whose ages moved far from the reference."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    pd.DataFrame({"age": rng.integers(18, 31, 2000)}).to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame({"age": rng.integers(60, 86, 500)}).to_csv(tmp_path / "b.csv", index=False)
    argv = ["monitor", "--current", str(tmp_path / "b.csv"), "--reference", str(tmp_path / "a.csv")]
    done = run_in_actions(tmp_path, *argv, "-o", str(tmp_path / "m"), "--json")
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["verdict"] == "alert"
    assert "::" not in "".join(line[:2] for line in done.stdout.splitlines())
    assert "::error" in done.stderr or "::warning" in done.stderr
