"""A handoff in a pull request is untrusted: nothing it says may read or write outside its folder,
change where packages come from, or stall the config loader.

Each case is a mutation of a copy of the example handoff and the command a CI job would run on
it. The case must exit 2 with a message naming what was refused, print no traceback, leak no line
of a file outside the handoff, and change no file outside the handoff's folder: the tree around it
(its parent, with a sibling ``victim`` folder the handoff points into) is hashed before and after.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mlrelease.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "brno-houses"
OUTSIDE = "outside the handoff's folder"
SOURCES = "changes where packages come from"

Setup = Callable[[Path, Path], None]


# ----------------------------------------------------------------------------- running


def invoke(args: list[str], cwd: Path) -> tuple[int, str]:
    """Run ``mlrelease ARGS`` in-process the way the entry point does; (exit code, stdout+stderr).

    An exception that escapes ``main`` is a crash: it is returned as exit code -1 with its
    traceback in the output, so the assertions below show it.
    """
    runner = CliRunner()
    env = {"GITHUB_ACTIONS": None, "GITHUB_OUTPUT": None, "GITHUB_STEP_SUMMARY": None}
    with runner.isolation(env=env) as (out, err, _):
        old = os.getcwd()
        os.chdir(cwd)
        try:
            main(args)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # a crash: report it as one, with the traceback the user would see
            code = -1
            sys.stderr.write(traceback.format_exc())
        finally:
            os.chdir(old)
        return code, out.getvalue().decode("utf-8", "replace") + err.getvalue().decode("utf-8", "replace")


def tree_digest(top: Path, skip: Path) -> dict[str, str]:
    """sha256 of every file (and the target of every link) under ``top``, except under ``skip``."""
    found: dict[str, str] = {}
    for folder, dirs, files in os.walk(top):
        here = Path(folder)
        if here == skip or skip in here.parents:
            dirs[:] = []
            continue
        for name in [*files, *(d for d in dirs if (here / d).is_symlink())]:
            path = here / name
            rel = str(path.relative_to(top))
            if path.is_symlink():
                found[rel] = "link:" + os.readlink(path)
            else:
                found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


# ----------------------------------------------------------------------------- handoff and victim


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """``tmp/handoff`` (a copy of the example) beside ``tmp/victim`` (files worth protecting)."""
    handoff = tmp_path / "handoff"
    shutil.copytree(EXAMPLE, handoff, ignore=shutil.ignore_patterns("baseline", "__pycache__"))
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "file.txt").write_text("a file outside the handoff: never read, never written\n")
    shutil.copy(EXAMPLE / "model" / "model.skops", victim / "model.skops")
    shutil.copy(EXAMPLE / "data" / "validation.csv", victim / "data.csv")
    shutil.copy(EXAMPLE / "notebooks" / "house_prices.ipynb", victim / "nb.ipynb")
    shutil.copy(EXAMPLE / "requirements.txt", victim / "lock.txt")
    (victim / "requirements.in").write_text("six\n")
    (victim / "constraints.txt").write_text("six<2\n")
    (victim / "wheels").mkdir()
    # Importing this module proves it ran: it writes beside itself.
    (victim / "model.py").write_text(
        "from pathlib import Path\nPath(__file__).with_name('pwned').write_text('ran')\n"
        "def load():\n    return None\n"
    )
    return handoff, victim


def edit(handoff: Path, change: Callable[[dict], None]) -> None:
    path = handoff / "mlrelease.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def set_key(dotted: str, value: str | Callable[[Path], str]) -> Setup:
    """Set ``dotted`` (``validation.data``) to ``value``; a callable gets the victim folder."""

    def setup(handoff: Path, victim: Path) -> None:
        def change(data: dict) -> None:
            *parents, last = dotted.split(".")
            node = data
            for part in parents:
                node = node.setdefault(part, {})
            node[last] = value(victim) if callable(value) else value
            if dotted == "model.entrypoint":
                data["model"].pop("artifact", None)

        edit(handoff, change)

    return setup


def link(inside: str, target: str, *, then: Setup | None = None) -> Setup:
    """Replace ``inside`` (relative to the handoff) by a symlink to ``victim/target``."""

    def setup(handoff: Path, victim: Path) -> None:
        path = handoff / inside
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(victim / target)
        if then is not None:
            then(handoff, victim)

    return setup


def requirements(text: str | Callable[[Path], str], *, allow: tuple[str, ...] = ()) -> Setup:
    """Write requirements.in (a callable gets the victim folder); ``allow`` goes to trust."""

    def setup(handoff: Path, victim: Path) -> None:
        body = text(victim) if callable(text) else text
        (handoff / "requirements.in").write_text("scikit-learn>=1.5\n" + body + "\n")
        if allow:
            edit(handoff, lambda d: d.setdefault("trust", {}).update(requirements_options=list(allow)))

    return setup


def raw_config(text: str) -> Setup:
    def setup(handoff: Path, victim: Path) -> None:
        (handoff / "mlrelease.yaml").write_text(text)

    return setup


def alias_bomb(levels: int) -> str:
    """``levels`` of nine aliases each to the level before: 9**levels values from ~40 bytes a level."""
    lines = ["model: {name: bomb, task: regression, artifact: model/model.skops}", "lint:", "  ignore:"]
    lines.insert(0, 'x0: &x0 ["a", "a", "a", "a", "a", "a", "a", "a", "a"]')
    for i in range(1, levels + 1):
        lines.insert(i, f"x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * 9) + "]")
    return "\n".join(lines) + f"\n    - *x{levels}\n"


# ----------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Case:
    id: str
    setup: Setup
    command: tuple[str, ...]
    fragments: tuple[str, ...]
    max_seconds: float | None = None


VALIDATE = ("config", "validate", ".")
PREDICT = ("predict", "-c", ".", "--rows", "2")
EVALUATE = ("evaluate", "-c", ".", "-o", "out")
LINT = ("lint", "-c", ".")
DEPS = ("deps", "check", "-c", ".")
LOCK = ("lock", "-c", ".")
LOCK_CHECK = ("lock", "-c", ".", "--check")

# key -> (a file in victim to point at, the commands that read or write it)
PATH_KEYS: dict[str, tuple[str, tuple[tuple[str, ...], ...], str]] = {
    # key: (victim file, commands, the handoff file a symlink replaces)
    "model.artifact": ("model.skops", (VALIDATE, PREDICT, EVALUATE), "model/model.skops"),
    "validation.data": ("data.csv", (VALIDATE, PREDICT, EVALUATE), "data/validation.csv"),
    "validation.reference": ("data.csv", (VALIDATE, EVALUATE), "data/reference.csv"),
    "requirements": ("requirements.in", (VALIDATE, DEPS, LOCK, LOCK_CHECK), "requirements.in"),
    "lock": ("file.txt", (VALIDATE, DEPS, LOCK, LOCK_CHECK), "requirements.txt"),
}


def _path_cases() -> list[Case]:
    cases: list[Case] = []
    for key, (target, commands, own) in PATH_KEYS.items():
        for command in commands:
            name = f"{key}-{command[0]}{'-check' if '--check' in command else ''}"
            cases.append(Case(f"{name}-dotdot", set_key(key, f"../victim/{target}"), command, (key, OUTSIDE)))
            cases.append(
                Case(
                    f"{name}-absolute", set_key(key, lambda v, t=target: str(v / t)), command, (key, OUTSIDE)
                )
            )
            cases.append(
                Case(f"{name}-symlink", link(own, target, then=set_key(key, own)), command, (key, OUTSIDE))
            )
    for command in (VALIDATE, PREDICT):
        name = f"model.entrypoint-{command[0]}"
        cases += [
            Case(
                f"{name}-dotdot",
                set_key("model.entrypoint", "../victim/model.py:load"),
                command,
                ("model.entrypoint", OUTSIDE),
            ),
            Case(
                f"{name}-absolute",
                set_key("model.entrypoint", lambda v: f"{v / 'model.py'}:load"),
                command,
                ("model.entrypoint", OUTSIDE),
            ),
            Case(
                f"{name}-symlink",
                link("model.py", "model.py", then=set_key("model.entrypoint", "model.py:load")),
                command,
                ("model.entrypoint", OUTSIDE),
            ),
        ]
    for command in (VALIDATE, LINT, DEPS):
        name = f"notebooks-{command[0]}"
        cases += [
            Case(
                f"{name}-dotdot",
                set_key("notebooks", ["../victim/*.ipynb"]),
                command,
                ("notebooks[0]", OUTSIDE),
            ),
            Case(
                f"{name}-absolute",
                set_key("notebooks", lambda v: [f"{v}/*.ipynb"]),
                command,
                ("notebooks[0]", OUTSIDE),
            ),
            Case(
                f"{name}-symlink-file",
                link("notebooks/evil.ipynb", "nb.ipynb"),
                command,
                ("notebooks[0]", OUTSIDE),
            ),
            Case(f"{name}-symlink-folder", link("notebooks", "."), command, ("notebooks[0]", OUTSIDE)),
            Case(
                f"{name}-recursive-dotdot",
                set_key("notebooks", ["**/../../victim/*.ipynb"]),
                command,
                ("notebooks[0]", OUTSIDE),
            ),
        ]
    for name, setup in (
        ("dotdot", set_key("serving.logging.file", "../victim/requests.jsonl")),
        ("absolute", set_key("serving.logging.file", lambda v: str(v / "requests.jsonl"))),
        ("symlink-folder", link("logs", ".", then=set_key("serving.logging.file", "logs/requests.jsonl"))),
        (
            "symlink-file",
            link("requests.jsonl", "file.txt", then=set_key("serving.logging.file", "requests.jsonl")),
        ),
    ):
        cases.append(Case(f"serving.logging.file-{name}", setup, VALIDATE, ("serving.logging.file", OUTSIDE)))
    cases += [
        Case(
            "dev-requirements-symlink",
            link("requirements-dev.in", "requirements.in"),
            DEPS,
            ("requirements", OUTSIDE),
        ),
        Case("lock-variant-symlink", link("requirements-gpu.txt", "lock.txt"), DEPS, ("lock", OUTSIDE)),
        Case("config-symlink", link("mlrelease.yaml", "file.txt"), VALIDATE, ("the config file", OUTSIDE)),
        Case("config-symlink-lint", link("mlrelease.yaml", "file.txt"), LINT, ("the config file", OUTSIDE)),
        Case("lock-dangling-symlink", link("requirements.txt", "new.txt"), LOCK, ("lock", OUTSIDE)),
        Case(
            "lock-parent-symlink",
            link("locks", ".", then=set_key("lock", "locks/requirements.txt")),
            LOCK,
            ("lock", OUTSIDE),
        ),
    ]
    return cases


INCLUDES = {
    "include-dotdot": "-r ../victim/requirements.in",
    "include-absolute": "-r /etc/passwd",
    "include-long-form": "--requirement=../victim/requirements.in",
    "constraint-dotdot": "-c ../victim/constraints.txt",
    "constraint-long-form": "--constraint ../victim/constraints.txt",
}

SOURCE_LINES = {
    "index-url": ("--index-url https://evil.example/simple", "--index-url"),
    "index-url-equals": ("--index-url=https://evil.example/simple", "--index-url"),
    "index-url-short": ("-i https://evil.example/simple", "--index-url"),
    "extra-index-url": ("--extra-index-url https://evil.example/simple", "--extra-index-url"),
    "find-links": ("--find-links /tmp/evil", "--find-links"),
    "find-links-short": ("-f /tmp/evil", "--find-links"),
    "find-links-glued": ("-f/tmp/evil", "--find-links"),
    "find-links-url": ("--find-links https://evil.example/wheels/", "--find-links"),
    "trusted-host": ("--trusted-host evil.example", "--trusted-host"),
    "no-index": ("--no-index", "--no-index"),
    "editable-local": ("-e .", "--editable"),
    "editable-vcs": ("--editable git+https://evil.example/pkg.git#egg=pkg", "--editable"),
    "url-named": ("six @ https://evil.example/six-1.17.0-py3-none-any.whl", "url"),
    "url-bare": ("https://evil.example/six-1.17.0-py3-none-any.whl", "url"),
    "url-file": ("file:///tmp/evil/six-1.17.0-py3-none-any.whl", "url"),
    "path-relative": ("./vendor/six-1.17.0-py3-none-any.whl", "url"),
    "path-absolute": ("/tmp/evil/six-1.17.0-py3-none-any.whl", "url"),
}

GARBAGE = {
    "garbage-punctuation": ("!!! not a requirement", "cannot parse"),
    "garbage-operator": ("six >= = 1", "cannot parse"),
    "garbage-words": ("please install numpy", "cannot parse"),
    "unknown-option": ("--use-feature fast-deps", "unknown option --use-feature"),
}


def _requirements_cases() -> list[Case]:
    cases: list[Case] = []
    for command in (DEPS, LOCK, LOCK_CHECK):
        tag = command[0] + ("-check" if "--check" in command else "")
        for name, line in INCLUDES.items():
            cases.append(Case(f"{name}-{tag}", requirements(line), command, ("requirements.in:2", OUTSIDE)))
        for name, (line, option) in SOURCE_LINES.items():
            hint = "trust: {requirements_options: [" + option + "]}"
            cases.append(Case(f"{name}-{tag}", requirements(line), command, ("requirements.in:2", hint)))
        for name, (line, fragment) in GARBAGE.items():
            cases.append(Case(f"{name}-{tag}", requirements(line), command, ("requirements.in:2", fragment)))
    for command in (DEPS, LOCK):
        tag = command[0]
        cases += [
            Case(
                f"include-symlink-{tag}",
                link("base.in", "requirements.in", then=requirements("-r base.in")),
                command,
                ("requirements.in:2", OUTSIDE),
            ),
            Case(
                f"find-links-allowed-but-outside-{tag}",
                requirements("--find-links ../victim/wheels", allow=("--find-links",)),
                command,
                ("requirements.in:2", OUTSIDE),
            ),
            Case(
                f"index-allowed-other-not-{tag}",
                requirements(
                    "--extra-index-url https://ok.example/simple\n--find-links /tmp/evil",
                    allow=("--extra-index-url",),
                ),
                command,
                ("requirements.in:3", "--find-links " + SOURCES),
            ),
        ]
    return cases


HUGE = "A" * 500_000
PREFIX = "model: {name: x, task: regression, artifact: model/model.skops}\n"


def _yaml_cases() -> list[Case]:
    cases: list[Case] = []
    for command in (VALIDATE, LINT, DEPS, LOCK, PREDICT):
        tag = command[0]
        cases += [
            Case(f"alias-bomb-7-{tag}", raw_config(alias_bomb(7)), command, ("YAML aliases",), max_seconds=2),
            Case(f"alias-bomb-9-{tag}", raw_config(alias_bomb(9)), command, ("YAML aliases",), max_seconds=2),
        ]
    cases += [
        Case(
            "alias-bomb-mapping",
            raw_config(
                PREFIX
                + "a: &a {k1: x, k2: x, k3: x, k4: x, k5: x, k6: x, k7: x, k8: x}\n"
                + "".join(
                    f"{c}: &{c} {{" + ", ".join(f"k{i}: *{p}" for i in range(9)) + "}\n"
                    for p, c in zip("abcdefgh", "bcdefghi", strict=True)
                )
            ),
            VALIDATE,
            ("YAML aliases",),
            max_seconds=2,
        ),
        Case("alias-recursive", raw_config(PREFIX + "x: &a [1, *a]\n"), VALIDATE, ("recursive",)),
        Case(
            "nesting-5000-flow",
            raw_config(PREFIX + "x: " + "[" * 5000 + "]" * 5000 + "\n"),
            VALIDATE,
            ("nests deeper",),
        ),
        Case(
            "nesting-5000-lint",
            raw_config(PREFIX + "x: " + "[" * 5000 + "]" * 5000 + "\n"),
            LINT,
            ("nests deeper",),
        ),
        Case(
            "nesting-100-block",
            raw_config(PREFIX + "".join("  " * i + f"k{i}:\n" for i in range(100)) + "  " * 100 + "v: 1\n"),
            VALIDATE,
            ("nests deeper",),
        ),
        Case(
            "file-5mb",
            raw_config(PREFIX + "x: '" + "A" * 5_000_000 + "'\n"),
            VALIDATE,
            ("larger than 1024 KB",),
        ),
        Case(
            "value-500kb-name",
            raw_config(f"model: {{name: '{HUGE}', task: regression, artifact: model/model.skops}}\n"),
            VALIDATE,
            ("model.name", "500,002 characters"),
        ),
        Case(
            "value-500kb-enum",
            raw_config(f"model: {{name: x, task: '{HUGE}', artifact: model/model.skops}}\n"),
            VALIDATE,
            ("model.task", "characters"),
        ),
        Case(
            "value-500kb-type",
            raw_config(PREFIX + f"image: {{gpu: '{HUGE}'}}\n"),
            VALIDATE,
            ("image.gpu", "characters"),
        ),
        Case(
            "value-500kb-pattern",
            raw_config(PREFIX + f"notebooks: ['{HUGE}/*.ipynb']\n"),
            VALIDATE,
            ("notebooks[0]",),
        ),
        Case(
            "value-500kb-path",
            raw_config(f"model: {{name: x, task: regression, artifact: '{HUGE}'}}\n"),
            VALIDATE,
            ("model.artifact",),
        ),
    ]
    return cases


CASES = _path_cases() + _requirements_cases() + _yaml_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_untrusted_handoff_is_refused_and_touches_nothing_outside(case: Case, tree: tuple[Path, Path]):
    handoff, victim = tree
    case.setup(handoff, victim)
    before = tree_digest(handoff.parent, skip=handoff)
    t0 = time.perf_counter()
    code, output = invoke(list(case.command), cwd=handoff)
    seconds = time.perf_counter() - t0
    assert "Traceback" not in output, output[-3000:]
    assert code == 2, output[-3000:]
    for fragment in case.fragments:
        assert fragment in output, f"{fragment!r} not in:\n{output[-3000:]}"
    if OUTSIDE in case.fragments:
        assert str(victim) in output or "/etc/passwd" in output, "the message names the resolved path"
    assert len(output) < 5000, f"{len(output):,} characters of output"
    assert "root:x:0:0" not in output and "never read" not in output
    assert tree_digest(handoff.parent, skip=handoff) == before, "a file outside the handoff changed"
    assert not (victim / "pwned").exists()
    if case.max_seconds is not None:
        assert seconds < case.max_seconds, f"took {seconds:.2f} s"


def test_there_are_enough_cases_and_every_path_key_is_covered():
    from mlrelease.config import PATH_KEYS as CONFIG_PATH_KEYS
    from mlrelease.config import schema

    assert len(CASES) >= 150
    ids = " ".join(c.id for c in CASES)
    for key in CONFIG_PATH_KEYS:
        for how in ("dotdot", "absolute", "symlink"):
            assert f"{key}-" in ids and how in ids
    enum = schema()["properties"]["trust"]["properties"]["outside_paths"]["items"]["enum"]
    assert enum == list(CONFIG_PATH_KEYS)


# ----------------------------------------------------------------------------- what still works


def test_the_unchanged_handoff_passes(tree: tuple[Path, Path]):
    """The cases fail for their mutation, not because the copied handoff is broken."""
    handoff, _ = tree
    for command in (VALIDATE, DEPS, LOCK_CHECK):
        code, output = invoke(list(command), cwd=handoff)
        assert code == 0, output


def test_trust_outside_paths_opts_in_by_key(tree: tuple[Path, Path]):
    handoff, victim = tree
    set_key("validation.data", "../victim/data.csv")(handoff, victim)
    code, output = invoke(list(VALIDATE), cwd=handoff)
    assert code == 2 and "validation.data" in output
    edit(handoff, lambda d: d.setdefault("trust", {}).update(outside_paths=["validation.data"]))
    code, output = invoke(list(VALIDATE), cwd=handoff)
    assert code == 0, output
    set_key("validation.reference", "../victim/data.csv")(handoff, victim)
    code, output = invoke(list(VALIDATE), cwd=handoff)
    assert code == 2 and "validation.reference" in output and "validation.data:" not in output


def test_an_allowed_index_option_reaches_the_lock_check(tree: tuple[Path, Path]):
    """Allowed by name, an extra index is no longer refused: the lock is stale because of it."""
    handoff, victim = tree
    requirements("--extra-index-url https://ok.example/simple", allow=("--extra-index-url",))(handoff, victim)
    code, output = invoke(list(LOCK_CHECK), cwd=handoff)
    assert code == 1, output
    assert "the package indexes it was resolved from changed" in output
    assert "extra-index-url: https://ok.example/simple" in output


def test_config_with_anchors_for_a_few_shared_blocks_still_loads(tree: tuple[Path, Path]):
    handoff, _ = tree
    text = (handoff / "mlrelease.yaml").read_text()
    text = text.replace(
        "  metrics:\n",
        "  metrics:\n    mean_absolute_error: &rule {max_regression: 2%}\n    median_absolute_error: *rule\n",
        1,
    )
    (handoff / "mlrelease.yaml").write_text(text)
    code, output = invoke(list(VALIDATE), cwd=handoff)
    assert code == 0, output


def test_deps_check_does_not_read_python_files_linked_from_outside(tree: tuple[Path, Path]):
    """A symlinked module is skipped, not followed: its imports never reach the report."""
    handoff, victim = tree
    (victim / "secret.py").write_text("import leaked_name_from_outside\n")
    (handoff / "helper.py").symlink_to(victim / "secret.py")
    (handoff / "lib").symlink_to(victim, target_is_directory=True)
    code, output = invoke(list(DEPS), cwd=handoff)
    assert code == 0, output
    assert "leaked_name_from_outside" not in output
