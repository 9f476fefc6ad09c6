"""mlrelease.yaml problems as a user reads them: the exact message, file, line and key of each
refusal, the limits on size, nesting and paths, and what each section turns into."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import configkit
import pytest

from mlrelease import config
from mlrelease.errors import ConfigError, Problem

HEAD = "notebooks: []\nmodel:\n  name: m\n  task: regression\n  artifact: m.skops\n"


def write(tmp_path: Path, text: str, files: tuple[str, ...] = ("m.skops",)) -> Path:
    """As configkit.write, with the model file HEAD names in place by default."""
    return configkit.write(tmp_path, text, files)


def refusal(path: Path, *, check_files: bool = True) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        config.load(path, check_files=check_files)
    return info.value


def only(path: Path) -> Problem:
    [problem] = refusal(path).problems
    return problem


# ----------------------------------------------------------------------------- schema messages


@pytest.mark.parametrize(
    ("extra", "line", "key", "message"),
    [
        ("version: 2\n", 6, "version", "expected 1, got 2"),
        (
            "lint: {fail_on: warn}\n",
            6,
            "lint.fail_on",
            "expected one of 'error', 'warning', 'info', 'never', got 'warn'",
        ),
        ("lint: {max_output_kb: 0}\n", 6, "lint.max_output_kb", "expected a value > 0, got 0"),
        ("lint: {rtol: -1}\n", 6, "lint.rtol", "expected a value >= 0, got -1"),
        ("serving: {port: 65536}\n", 6, "serving.port", "expected a value <= 65535, got 65536"),
        (
            "gate:\n  bootstrap: {confidence: 1}\n",
            7,
            "gate.bootstrap.confidence",
            "expected a value < 1, got 1",
        ),
        ("image: {gpu: 'yes'}\n", 6, "image.gpu", "expected true or false, got a string 'yes'"),
        ("image: {python: [3]}\n", 6, "image.python", "expected a string, got a list [3]"),
        ("lint: {ignore: {a: 1}}\n", 6, "lint.ignore", "expected a list, got a mapping {'a': 1}"),
        ("serving: {port: 80.5}\n", 6, "serving.port", "expected an integer, got a number 80.5"),
        ("serving: {port: true}\n", 6, "serving.port", "expected an integer, got a boolean True"),
        ("serving: {port: null}\n", 6, "serving.port", "expected an integer, got nothing (null) None"),
        ("serving: 3\n", 6, "serving", "expected a mapping, got an integer 3"),
        ("lint: {rtol: x}\n", 6, "lint.rtol", "expected a number, got a string 'x'"),
    ],
)
def test_a_wrong_value_names_its_line_key_and_what_was_expected(tmp_path, extra, line, key, message):
    p = only(write(tmp_path, HEAD + extra))
    assert (p.file, p.line, p.key, p.message) == (str(tmp_path / "mlrelease.yaml"), line, key, message)


def test_an_over_long_name_states_the_limit_and_the_length(tmp_path):
    p = only(write(tmp_path, HEAD.replace("name: m", "name: " + "a" * 64)))
    assert (p.line, p.key, p.message) == (3, "model.name", "expected at most 63 characters, got 64")


def test_an_empty_artifact_states_the_least_length(tmp_path):
    p = only(write(tmp_path, HEAD.replace("artifact: m.skops", "artifact: ''")))
    assert (p.line, p.key, p.message) == (5, "model.artifact", "expected at least 1 characters, got 0")


@pytest.mark.parametrize(
    ("replace", "line", "key", "message", "hint"),
    [
        (
            ("name: m", "name: Bad"),
            3,
            "model.name",
            "'Bad' does not match the expected form ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
            "lower-case letters, digits and '-', starting and ending with a letter or digit (DNS-1123)",
        ),
        (
            ("artifact: m.skops", "artifact: m.skops\n  sha256: abc"),
            6,
            "model.sha256",
            "'abc' does not match the expected form ^[0-9a-f]{64}$",
            "64 lower-case hex digits, as printed by `sha256sum`",
        ),
        (
            ("artifact: m.skops", "entrypoint: nocolon"),
            5,
            "model.entrypoint",
            "'nocolon' does not match the expected form ^[^:]+:[A-Za-z_][A-Za-z0-9_]*$",
            "'path/to/module.py:factory' or 'package.module:factory'",
        ),
    ],
)
def test_a_value_of_the_wrong_form_explains_the_form(tmp_path, replace, line, key, message, hint):
    p = only(write(tmp_path, HEAD.replace(*replace)))
    assert (p.line, p.key, p.message, p.hint) == (line, key, message, hint)


def test_a_form_without_an_explanation_has_no_hint(tmp_path):
    p = only(write(tmp_path, HEAD + "image: {python: '2.7'}\n"))
    assert (p.key, p.hint) == ("image.python", None)
    assert p.message == "'2.7' does not match the expected form ^3\\.[0-9]+$"


def test_a_misspelt_enum_value_gets_the_closest_and_a_far_one_none(tmp_path):
    near = only(write(tmp_path, HEAD + "lint: {fail_on: warnin}\n"))
    assert near.hint == "did you mean 'warning'?"
    far = only(write(tmp_path, HEAD + "lint: {fail_on: zzz}\n"))
    assert far.hint is None


def test_an_unknown_key_far_from_every_known_one_lists_them_all(tmp_path):
    p = only(write(tmp_path, HEAD + "registry: {zzzz: 1}\n"))
    assert (p.line, p.key, p.message, p.hint) == (
        6,
        "registry.zzzz",
        "unknown key",
        "expected one of: location",
    )


def test_a_missing_key_names_the_key_it_lacks_on_the_line_of_its_section(tmp_path):
    p = only(write(tmp_path, HEAD + "deploy:\n  gke: {project: p, location: l}\n"))
    assert (p.line, p.key, p.message) == (7, "deploy.gke.cluster", "required key is missing")


def test_a_wrong_top_level_key_is_located_at_its_key(tmp_path):
    p = only(write(tmp_path, HEAD + "\n\nservng: {}\n"))
    assert (p.line, p.key, p.hint) == (8, "servng", "did you mean 'serving'?")


def test_a_tolerance_of_the_wrong_form_says_what_it_should_be(tmp_path):
    text = HEAD + "gate:\n  metrics:\n    r2_score: {max_regression: 'two'}\n"
    p = only(write(tmp_path, text))
    assert (p.line, p.key) == (8, "gate.metrics.r2_score.max_regression")
    assert p.message == "expected a percentage like '2%' or a number, got 'two'"


def test_model_with_both_artifact_and_entrypoint_asks_for_exactly_one(tmp_path):
    p = only(write(tmp_path, HEAD + "  entrypoint: 'f.py:make'\n"))
    assert (p.line, p.key) == (3, "model")
    assert p.message == "set exactly one of 'artifact' (a model file) or 'entrypoint' (module:factory)"


def test_problems_are_sorted_by_line_and_counted(tmp_path):
    text = HEAD + "lint: {rtol: -1}\nserving: {port: 0}\nimage: {gpu: 1}\n"
    error = refusal(write(tmp_path, text))
    assert [(p.line, p.key) for p in error.problems] == [
        (6, "lint.rtol"),
        (7, "serving.port"),
        (8, "image.gpu"),
    ]
    assert error.message == f"{tmp_path / 'mlrelease.yaml'}: 3 problems"


def test_one_problem_is_counted_in_the_singular(tmp_path):
    error = refusal(write(tmp_path, HEAD + "lint: {rtol: -1}\n"))
    assert error.message == f"{tmp_path / 'mlrelease.yaml'}: 1 problem"


def test_a_long_value_is_cut_in_the_message(tmp_path):
    p = only(write(tmp_path, HEAD + f"lint: {{fail_on: {'x' * 100}}}\n"))
    assert p.message.endswith("... (102 characters)")


# ----------------------------------------------------------------------------- YAML parsing


def test_yaml_syntax_error_names_the_file_the_line_and_the_problem(tmp_path):
    error = refusal(write(tmp_path, "model:\n  name: m\n  task: [regression\n"))
    assert error.message == f"{tmp_path / 'mlrelease.yaml'}: not valid YAML"
    [p] = error.problems
    assert p.line == 4 and p.message == "expected ',' or ']', but got '<stream end>'"
    assert p.file == str(tmp_path / "mlrelease.yaml")


@pytest.mark.parametrize("char", ["\x07", "\x00", "\x1b", "\ufffe"])
def test_a_control_character_is_refused_at_its_line_not_with_a_traceback(tmp_path, char):
    """PyYAML refuses it while setting up its reader, before any mark exists: the position
    becomes the line."""
    path = write(tmp_path, HEAD.replace("name: m", f"name: m{char}"))
    error = refusal(path)
    assert error.message == f"{path}: not valid YAML"
    assert error.hint == (
        "remove the control character (a copy and paste from a terminal or a word processor brings them)"
    )
    [p] = error.problems
    assert (p.file, p.line) == (str(path), 3)
    assert p.message == f"character #x{ord(char):04x} is not allowed: special characters are not allowed"
    run = subprocess.run(
        [sys.executable, "-m", "mlrelease", "config", "validate", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert f"{path}:3: character #x{ord(char):04x}" in run.stderr


def test_a_control_character_after_a_leading_blank_line_is_counted_from_the_first_line(tmp_path):
    [p] = refusal(write(tmp_path, "\n\n" + HEAD.replace("name: m", "name: m\x07"))).problems
    assert p.line == 5


def test_a_yaml_error_quoting_a_long_tag_is_cut_to_500_characters(tmp_path):
    """PyYAML quotes the tag it cannot construct, so the problem grows with the file."""
    [p] = refusal(write(tmp_path, HEAD + "extra: !" + "t" * 800 + " 1\n")).problems
    assert p.message.startswith("could not determine a constructor for the tag '!ttt")
    assert len(p.message) == 500


def test_an_empty_file_and_a_top_level_list_are_refused_with_the_reason(tmp_path):
    path = write(tmp_path, "")
    empty = refusal(path)
    assert (empty.message, empty.hint) == (
        f"{path}: the file is empty",
        "it needs at least a 'model' section",
    )
    listed = refusal(write(tmp_path, "- a\n"))
    assert listed.message == f"{path}: expected a mapping at the top level, got a list"


def test_duplicate_keys_are_each_named_at_their_line_also_inside_lists(tmp_path):
    text = (
        HEAD
        + "gate:\n  trade_offs:\n    - allow: {}\n      when: {}\n      when: {}\n"
        + "    - allow: {}\n      allow: {}\n"
        + "  metrics: {}\n  metrics: {}\n"
    )
    error = refusal(write(tmp_path, text))
    assert error.message == f"{tmp_path / 'mlrelease.yaml'}: duplicate keys"
    assert {p.file for p in error.problems} == {str(tmp_path / "mlrelease.yaml")}
    assert [(p.line, p.key, p.message) for p in error.problems] == [
        (10, "gate.trade_offs[0].when", "key is given twice"),
        (12, "gate.trade_offs[1].allow", "key is given twice"),
        (14, "gate.metrics", "key is given twice"),
    ]


def test_a_file_at_the_size_limit_is_read_and_one_byte_more_is_refused():
    at_limit = "a: 1\n" + "#" * (config.MAX_BYTES - 6) + "\n"
    assert len(at_limit) == config.MAX_BYTES
    data, _ = config.parse_text(at_limit, "c.yaml")
    assert data == {"a": 1}
    with pytest.raises(ConfigError) as info:
        config.parse_text(at_limit + " ", "c.yaml")
    assert (
        info.value.message
        == "c.yaml: the file is larger than 1024 KB, the most mlrelease reads as configuration"
    )
    assert info.value.hint == "a handoff config is a few KB: keep data in data files, not in mlrelease.yaml"


def test_a_big_file_on_disk_is_refused_without_reading_it_all(tmp_path):
    path = write(tmp_path, "a: 1\n" + "#" * config.MAX_BYTES + "\n")
    assert "larger than 1024 KB" in refusal(path).message


def nested(depth: int) -> str:
    return "a: " + "[" * (depth - 1) + "]" * (depth - 1) + "\n"


def test_nesting_up_to_the_limit_is_read_and_one_level_more_is_refused():
    # The top-level mapping, its key 'a' and depth-1 lists: the deepest node is at depth-1+1 levels.
    data, _ = config.parse_text(nested(config.MAX_DEPTH), "c.yaml")
    assert isinstance(data["a"], list)
    with pytest.raises(ConfigError) as info:
        config.parse_text(nested(config.MAX_DEPTH + 1), "c.yaml")
    error = info.value
    assert error.message == "c.yaml: nests deeper than 64 levels"
    assert error.hint == "mlrelease.yaml is a few levels deep; remove the extra nesting"
    [p] = error.problems
    assert (p.file, p.line, p.message) == ("c.yaml", 1, "nests deeper than 64 levels")


def test_deep_nesting_is_refused_before_the_walk_grows_its_stack():
    with pytest.raises(ConfigError) as info:
        config.parse_text(nested(300), "c.yaml")
    assert info.value.message == "c.yaml: nests deeper than 64 levels"
    assert info.value.hint == "mlrelease.yaml is a few levels deep; remove the extra nesting"
    [p] = info.value.problems
    assert (p.line, p.message) == (1, "nests deeper than 64 levels")


def test_nesting_too_deep_for_the_yaml_composer_is_refused_all_the_same():
    with pytest.raises(ConfigError) as info:
        config.parse_text(nested(600), "c.yaml")
    assert info.value.message == "c.yaml: nests deeper than 64 levels"
    assert info.value.problems == []  # the composer's own recursion stopped, before any line was known
    assert info.value.hint == "mlrelease.yaml is a few levels deep; remove the extra nesting"


def aliased(extra: int) -> str:
    """A mapping of 99 aliases of one list of 998 values (1,000 nodes each, its key and the list)
    and one list of ``extra`` values: 1 + 99 * 1,000 + extra + 2 nodes once expanded."""
    text = "k0: &b [" + ", ".join(["x"] * 998) + "]\n"
    text += "".join(f"k{i}: *b\n" for i in range(1, 99))
    return text + "z: [" + ", ".join(["1"] * extra) + "]\n"


def test_aliases_may_expand_up_to_the_node_limit_and_not_one_node_more():
    data, _ = config.parse_text(aliased(997), "c.yaml")
    assert len(data) == 100 and data["k98"] == data["k0"]
    with pytest.raises(ConfigError) as info:
        config.parse_text(aliased(998), "c.yaml")
    error = info.value
    assert error.message == "c.yaml: expands to more than 100,000 values (through 98 YAML aliases)"
    assert error.hint == "write the values out; YAML anchors and aliases are for a few shared blocks"
    [p] = error.problems
    assert (p.file, p.line, p.message) == (
        "c.yaml",
        1,
        "expands to more than 100,000 values (through 98 YAML aliases)",
    )


def bomb(width: int, levels: int) -> str:
    lines = [f"l0: &l0 [{', '.join(['x'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_the_first_node_past_the_limit():
    with pytest.raises(ConfigError) as info:
        config.parse_text(bomb(9, 9), "c.yaml")
    [p] = info.value.problems
    assert p.message.startswith("expands to more than 100,000 values (through ")
    assert p.line == 6  # l5, 9**6 values: the first list past the limit


def test_a_recursive_alias_is_refused():
    with pytest.raises(ConfigError) as info:
        config.parse_text("a: &a [1, *a]\n", "c.yaml")
    error = info.value
    assert error.message == "c.yaml: a YAML alias refers to a node that contains it (a recursive structure)"
    assert error.hint == "remove the alias; mlrelease.yaml cannot contain itself"


def test_the_line_map_finds_keys_values_and_list_items():
    text = "model:\n  name: m\n  task:\n    regression\nnotebooks:\n  - a\n  - b\n"
    _, lines = config.parse_text(text, "c.yaml")
    assert lines.line(()) == 1
    assert lines.line(("model",)) == 2
    assert lines.line(("model",), key=True) == 1
    assert lines.line(("model", "task")) == 4
    assert lines.line(("model", "task"), key=True) == 3
    assert lines.line(("notebooks", 1)) == 7
    assert lines.line(("notebooks", 2)) == 6  # past the end: the list's own line
    assert lines.line(("notebooks", 5)) == 6
    assert lines.line(("model", "absent", "deeper")) == 2
    assert lines.line(("model", "name", "deeper")) == 2
    assert config._LineMap(None).line(("model",)) is None


# ----------------------------------------------------------------------------- files


def test_each_missing_file_is_named_with_the_folder_it_was_looked_for_in(tmp_path):
    text = (
        "notebooks: [nb/*.ipynb]\nrequirements: r.txt\n"
        "model: {name: m, task: regression, artifact: gone.skops}\n"
        "validation: {data: d.csv, reference: ref.csv}\n"
    )
    error = refusal(write(tmp_path, text, ()))
    root = tmp_path.resolve()
    assert [(p.line, p.key, p.message) for p in error.problems] == [
        (3, "model.artifact", f"model file 'gone.skops' does not exist (relative to {root})"),
        (2, "requirements", f"requirements file 'r.txt' does not exist (relative to {root})"),
        (4, "validation.data", f"validation data 'd.csv' does not exist (relative to {root})"),
        (4, "validation.reference", f"reference data 'ref.csv' does not exist (relative to {root})"),
        (1, "notebooks[0]", "pattern 'nb/*.ipynb' matches no notebook"),
    ]
    assert all(p.file == str(tmp_path / "mlrelease.yaml") for p in error.problems)


def test_a_missing_entrypoint_module_file_is_named(tmp_path):
    text = "notebooks: []\nrequirements: r.txt\nmodel:\n  name: m\n  task: regression\n"
    text += "  entrypoint: 'pkg/f.py:make'\n"
    p = only(write(tmp_path, text, ("r.txt",)))
    assert (p.line, p.key, p.message) == (
        6,
        "model.entrypoint",
        "entrypoint module 'pkg/f.py' does not exist",
    )


def test_an_entrypoint_module_that_is_a_folder_is_missing(tmp_path):
    (tmp_path / "f.py").mkdir()
    text = "notebooks: []\nrequirements: r.txt\nmodel: {name: m, task: regression, entrypoint: 'f.py:make'}\n"
    assert only(write(tmp_path, text, ("r.txt",))).key == "model.entrypoint"


def test_an_entrypoint_package_and_present_files_pass(tmp_path):
    text = (
        "notebooks: []\nrequirements: r.txt\nmodel: {name: m, task: regression, entrypoint: 'pkg.mod:make'}\n"
    )
    cfg = config.load(write(tmp_path, text, ("r.txt",)))
    assert cfg.model.entrypoint == "pkg.mod:make" and cfg.model.artifact is None and cfg.model.format is None
    text = "notebooks: []\nrequirements: r.txt\nmodel: {name: m, task: regression, entrypoint: 'f.py:make'}\n"
    assert config.load(write(tmp_path, text, ("r.txt", "f.py"))).model.entrypoint == "f.py:make"


def test_a_name_the_system_cannot_look_up_does_not_exist(tmp_path):
    text = HEAD.replace("artifact: m.skops", f"artifact: {'a' * 300}.skops") + "requirements: r.txt\n"
    p = only(write(tmp_path, text, ("r.txt",)))
    assert p.key == "model.artifact" and "does not exist" in p.message


@pytest.mark.parametrize(
    ("model", "files", "ok"),
    [
        ("artifact: m.joblib", ("m.joblib",), False),
        ("artifact: m.pkl\n  allow_pickle: true", ("m.pkl",), False),
        ("artifact: m.pickle\n  sha256: '" + "0" * 64 + "'", ("m.pickle",), False),
        (
            "artifact: m.bin\n  format: joblib\n  allow_pickle: true\n  sha256: '" + "0" * 64 + "'",
            ("m.bin",),
            True,
        ),
        ("artifact: m.ONNX", ("m.ONNX",), True),
    ],
)
def test_a_pickle_artifact_needs_both_the_opt_in_and_a_hash(tmp_path, model, files, ok):
    text = f"notebooks: []\nrequirements: r.txt\nmodel:\n  name: m\n  task: regression\n  {model}\n"
    path = write(tmp_path, text, (*files, "r.txt"))
    if ok:
        config.load(path)
        return
    p = only(path)
    assert (p.line, p.key) == (6, "model.artifact")
    assert p.message.startswith("a ") and p.message.endswith(" artifact can run code when loaded")
    assert p.hint == "save it with skops, or set model.allow_pickle: true together with model.sha256"


def test_the_format_of_an_unknown_suffix_must_be_given(tmp_path):
    text = "notebooks: []\nrequirements: r.txt\nmodel:\n  name: m\n  task: regression\n  artifact: m.bin\n"
    p = only(write(tmp_path, text, ("m.bin", "r.txt")))
    assert (p.line, p.key, p.message) == (
        6,
        "model.artifact",
        "cannot tell the model format from the file name",
    )
    assert p.hint == "set model.format to one of skops, joblib, pickle, onnx"
    assert (
        config.load(path := write(tmp_path, text, ("m.bin", "r.txt")), check_files=False).model.format is None
    )
    assert path.is_file()


def test_without_check_files_missing_files_pass(tmp_path):
    text = "notebooks: [x/*.ipynb]\nmodel: {name: m, task: regression, artifact: gone.joblib}\n"
    cfg = config.load(write(tmp_path, text, ()), check_files=False)
    assert cfg.model.format == "joblib"


# ----------------------------------------------------------------------------- paths confined


OUTSIDE_CASES = [
    (
        "model: {name: m, task: regression, artifact: ../m.skops}\n",
        "model.artifact",
        "'../m.skops'",
        "m.skops",
    ),
    (
        "model: {name: m, task: regression, entrypoint: '../f.py:make'}\n",
        "model.entrypoint",
        "'../f.py:make'",
        "f.py",
    ),
    ("requirements: ../r.in\n", "requirements", "'../r.in'", "r.in"),
    ("lock: ../r.lock\n", "lock", "'../r.lock'", "r.lock"),
    ("validation: {data: ../d.csv}\n", "validation.data", "'../d.csv'", "d.csv"),
    ("validation: {data: d.csv, reference: ../ref.csv}\n", "validation.reference", "'../ref.csv'", "ref.csv"),
    ("serving: {logging: {file: ../log.jsonl}}\n", "serving.logging.file", "'../log.jsonl'", "log.jsonl"),
    ("notebooks: ['../nb/*.ipynb']\n", "notebooks[0]", "'../nb/*.ipynb'", "nb"),
]


@pytest.mark.parametrize(("extra", "key", "shown", "target"), OUTSIDE_CASES)
def test_a_path_leaving_the_folder_is_refused_naming_key_line_and_target(tmp_path, extra, key, shown, target):
    root = tmp_path / "h"
    root.mkdir()
    base = "model: {name: m, task: regression, artifact: m.skops}\n"
    text = ("" if extra.startswith("model") else base) + extra
    error = refusal(write(root, text, ()), check_files=False)
    [p] = error.problems
    assert p.key == key and p.file == str(root / "mlrelease.yaml")
    assert p.line == (1 if extra.startswith("model") else 2)
    assert (
        p.message
        == f"{shown} resolves to {tmp_path.resolve() / target}, outside the handoff's folder {root.resolve()}"
    )
    allowed = key.split("[")[0]
    assert p.hint == f"keep it inside the folder, or list '{allowed}' in trust.outside_paths to allow it"
    trusted = text + f"trust: {{outside_paths: [{allowed}]}}\n"
    config.load(write(root, trusted, ()), check_files=False)


def test_an_absolute_path_outside_is_refused_and_one_inside_is_kept(tmp_path):
    root = tmp_path / "h"
    root.mkdir()
    p = only(
        write(root, f"model: {{name: m, task: regression, artifact: m.skops}}\nlock: {tmp_path}/x.lock\n", ())
    )
    assert p.key == "lock" and f"'{tmp_path}/x.lock' resolves to" in p.message
    cfg = config.load(
        write(root, f"model: {{name: m, task: regression, artifact: m.skops}}\nlock: {root}/x.lock\n"),
        check_files=False,
    )
    assert cfg.lock == root / "x.lock"


def test_a_symlink_leading_out_is_refused_and_one_staying_in_passes(tmp_path):
    root = tmp_path / "h"
    (root / "data").mkdir(parents=True)
    (tmp_path / "secret.csv").write_text("a\n1\n")
    (root / "data" / "inside.csv").write_text("a\n1\n")
    os.symlink(tmp_path / "secret.csv", root / "out.csv")
    os.symlink(root / "data" / "inside.csv", root / "in.csv")
    base = "notebooks: []\nrequirements: r.txt\nmodel: {name: m, task: regression, artifact: m.skops}\n"
    p = only(write(root, base + "validation: {data: out.csv}\n", ("m.skops", "r.txt")))
    assert p.key == "validation.data"
    secret = tmp_path.resolve() / "secret.csv"
    assert p.message == f"'out.csv' resolves to {secret}, outside the handoff's folder {root.resolve()}"
    cfg = config.load(write(root, base + "validation: {data: in.csv}\n", ("m.skops", "r.txt")))
    assert cfg.validation is not None and cfg.validation.data == root.resolve() / "in.csv"


def test_a_symlink_loop_cannot_be_resolved(tmp_path):
    root = tmp_path / "h"
    root.mkdir()
    os.symlink(root / "b", root / "a")
    os.symlink(root / "a", root / "b")
    text = "model: {name: m, task: regression, artifact: m.skops}\nlock: a\n"
    p = only(write(root, text, ()))
    assert p.key == "lock" and p.line == 2
    assert p.message.startswith(f"cannot resolve {root.resolve() / 'a'}: ")


def test_a_notebook_glob_matching_a_symlink_out_is_refused(tmp_path):
    root = tmp_path / "h"
    (root / "nb").mkdir(parents=True)
    (tmp_path / "x.ipynb").write_text("{}")
    (root / "nb" / "ok.ipynb").write_text("{}")
    os.symlink(tmp_path / "x.ipynb", root / "nb" / "leak.ipynb")
    text = "model: {name: m, task: regression, artifact: m.skops}\nnotebooks: ['nb/*.ipynb']\n"
    p = only(write(root, text, ("m.skops",)))
    assert (p.line, p.key) == (2, "notebooks[0]")
    leak = tmp_path.resolve() / "x.ipynb"
    assert p.message == f"'nb/leak.ipynb' resolves to {leak}, outside the handoff's folder {root.resolve()}"
    trusted = text + "trust: {outside_paths: [notebooks]}\n"
    cfg = config.load(write(root, trusted, ("m.skops",)), check_files=False)
    assert [p.name for p in cfg.notebook_paths()] == ["leak.ipynb", "ok.ipynb"]


def test_notebook_paths_at_run_time_are_confined_too(tmp_path):
    root = tmp_path / "h"
    (root / "nb").mkdir(parents=True)
    text = "model: {name: m, task: regression, artifact: m.skops}\nnotebooks: ['nb/*.ipynb', 'nb/*.ipynb']\n"
    (root / "nb" / "a.ipynb").write_text("{}")
    cfg = config.load(write(root, text, ("m.skops",)), check_files=False)
    assert cfg.notebook_paths() == [root.resolve() / "nb" / "a.ipynb"]
    (tmp_path / "x.ipynb").write_text("{}")
    os.symlink(tmp_path / "x.ipynb", root / "nb" / "b.ipynb")
    with pytest.raises(ConfigError) as info:
        cfg.notebook_paths()
    assert info.value.message == f"{cfg.path}: a path leaves the handoff's folder"
    [p] = info.value.problems
    assert (p.key, p.file, p.line) == ("notebooks", str(cfg.path), None)


def test_confine_keeps_a_path_inside_and_relative_shows_it_short(tmp_path):
    cfg = config.load(write(tmp_path, HEAD, ("m.skops",)), check_files=False)
    inside = cfg.root / "a" / "b.txt"
    assert cfg.confine(inside, "lock") == inside
    assert cfg.relative(inside) == "a/b.txt"
    assert cfg.relative(Path("/elsewhere/x")) == "/elsewhere/x"


def test_a_config_that_is_a_symlink_out_of_its_folder_is_refused(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "h").mkdir()
    (tmp_path / "real" / "mlrelease.yaml").write_text(HEAD)
    os.symlink(tmp_path / "real" / "mlrelease.yaml", tmp_path / "h" / "mlrelease.yaml")
    error = refusal(tmp_path / "h" / "mlrelease.yaml")
    link = tmp_path / "h" / "mlrelease.yaml"
    assert error.message == f"{link}: a symlink out of the handoff's folder"
    [p] = error.problems
    assert (
        p.key == "(the config file)"
        and p.hint == "copy the file into the handoff's folder instead of linking to it"
    )


def test_a_config_that_is_not_utf8_cannot_be_read(tmp_path):
    path = tmp_path / "mlrelease.yaml"
    path.write_bytes(b"model: \xff\xfe\n")
    assert refusal(path).message.startswith(f"{path}: cannot read: ")


def test_the_config_is_found_in_a_folder_or_given_directly(tmp_path, monkeypatch):
    path = write(tmp_path, HEAD)
    assert config.find_config(tmp_path) == path
    assert config.find_config(path) == path
    monkeypatch.chdir(tmp_path)
    assert config.find_config() == Path.cwd() / "mlrelease.yaml"
    with pytest.raises(ConfigError) as info:
        config.find_config(tmp_path / "nope.yaml")
    assert info.value.message == f"{tmp_path / 'nope.yaml'}: no such file"
    assert info.value.hint == "run `mlrelease init` in the handoff folder to write a mlrelease.yaml"


# ----------------------------------------------------------------------------- tolerances


@pytest.mark.parametrize(
    ("raw", "value", "relative", "text", "amount_of_200"),
    [
        ("2%", 0.02, True, "2%", 4.0),
        ("-30%", -0.30, True, "-30%", -60.0),
        ("0.5%", 0.005, True, "0.5%", 1.0),
        (0.5, 0.5, False, "0.5", 0.5),
        (3, 3.0, False, "3", 3.0),
    ],
)
def test_a_tolerance_is_relative_with_a_percent_sign_and_absolute_without(
    raw, value, relative, text, amount_of_200
):
    tol = config.Tolerance.parse(raw)
    assert tol.relative is relative and tol.value == pytest.approx(value)
    assert isinstance(tol.value, float)
    assert str(tol) == text
    assert tol.amount(200) == pytest.approx(amount_of_200)
    assert tol.amount(-200) == pytest.approx(amount_of_200)


@pytest.mark.parametrize("raw", ["two%", "%", ""])
def test_a_tolerance_text_that_is_no_number_is_refused(raw):
    with pytest.raises(ValueError):
        config.Tolerance.parse(raw)


@pytest.mark.parametrize("raw", ["'2'", "'2.5.1%'", "'%'", "'2%%'", "true"])
def test_the_schema_refuses_tolerances_of_other_forms(tmp_path, raw):
    text = HEAD + f"gate:\n  metrics:\n    r2_score: {{max_regression: {raw}}}\n"
    p = only(write(tmp_path, text))
    assert p.key == "gate.metrics.r2_score.max_regression"
    assert p.message.startswith("expected a percentage like '2%' or a number, got ")


# ----------------------------------------------------------------------------- sections


FULL = """\
notebooks: [nb/*.ipynb]
requirements: req/requirements.in
lock: req/requirements.lock
model:
  name: house
  task: classification
  artifact: m.joblib
  format: joblib
  sha256: "{sha}"
  allow_pickle: true
  trusted_types: [a.B]
  target: price
  id_column: id
  features: [x, y]
  version: "1.2"
validation:
  data: d.csv
  reference: r.csv
  golden_rows: 7
  slices:
    - {{name: big, column: size, min: 1, max: 9, max_regression: 3%}}
    - {{name: city, column: town, values: [a, b]}}
lint:
  fail_on: warning
  ignore: [R1]
  severity: {{R2: info}}
  max_output_kb: 5
  cell_timeout_s: 6
  rtol: 0.1
gate:
  metrics:
    r2_score: {{better: higher, max_regression: 0.01, min: 0.5, max: 1, optional: true}}
  trade_offs:
    - {{allow: {{r2_score: 1%}}, when: {{p95_cpu_ms: -20%}}}}
  bootstrap: {{resamples: 200, confidence: 0.9, seed: 4}}
image: {{python: "3.12", gpu: true, base: img:1, cuda: "12.4", registry: ghcr.io/a}}
serving:
  port: 9000
  max_batch_rows: 10
  max_body_bytes: 2048
  compile: false
  batching: {{enabled: false, max_wait_ms: 3, max_rows: 4, inline_max_ms: 0.5}}
  outliers:
    mode: reject
    prediction: {{min: 1, max: 2}}
    learn_margin: 0.1
    input_z: 3
    input_range_margin: 0.2
    inputs: {{x: {{min: 0}}, y: {{max: 5}}}}
  logging: {{sample_rate: 0.5, file: logs/req.jsonl}}
  connections: {{max: 7, header_timeout_s: 1, body_timeout_s: 2, keep_alive_s: 3, max_header_bytes: 2048}}
  classification: {{probabilities: false, kserve_v1: probabilities}}
deploy:
  gke:
    project: p
    location: l
    cluster: c
    namespace: ns
    replicas: {{min: 3, max: 9}}
    target_cpu: 70
    replica_rps: 100
    replica_p99_ms: 20
    baseline_rps: 50
    peak_factor: 4
    cpu: 500m
    memory: 1Gi
    service_account: release-bot@p.iam.gserviceaccount.com
    accelerator: nvidia-a100
    progress_deadline_s: 120
monitoring:
  drift:
    method: ks
    warn: 0.2
    alert: 0.3
    alpha: 0.01
    correction: bh
    min_samples: 50
    bins: 20
    features: {{x: {{warn: 0.5, min_samples: 9}}}}
  outliers: {{warn: 0.02, alert: 0.1}}
trust: {{outside_paths: [lock], requirements_options: [--index-url]}}
"""


def test_every_section_is_read_as_written(tmp_path):
    sha = "a" * 64
    cfg = config.load(write(tmp_path, FULL.format(sha=sha), ()), check_files=False)
    root = tmp_path.resolve()
    assert cfg.path == root / "mlrelease.yaml" and cfg.root == root
    assert cfg.notebooks == ("nb/*.ipynb",)
    assert (cfg.requirements, cfg.lock) == (root / "req/requirements.in", root / "req/requirements.lock")
    assert cfg.model == config.ModelConfig(
        name="house",
        task="classification",
        artifact=root / "m.joblib",
        format="joblib",
        sha256=sha,
        allow_pickle=True,
        trusted_types=("a.B",),
        entrypoint=None,
        target="price",
        id_column="id",
        features=("x", "y"),
        version="1.2",
    )
    assert cfg.validation == config.ValidationConfig(
        data=root / "d.csv",
        reference=root / "r.csv",
        golden_rows=7,
        slices=(
            config.SliceConfig("big", "size", None, 1, 9, config.Tolerance(0.03, True)),
            config.SliceConfig("city", "town", ("a", "b")),
        ),
    )
    assert cfg.lint == config.LintConfig("warning", ("R1",), {"R2": "info"}, 5, 6, 0.1)
    assert cfg.gate == config.GateConfig(
        metrics={"r2_score": config.MetricRule("higher", config.Tolerance(0.01, False), 0.5, 1, True)},
        trade_offs=(
            config.TradeOff(
                allow={"r2_score": config.Tolerance(0.01, True)},
                when={"p95_cpu_ms": config.Tolerance(-0.2, True)},
            ),
        ),
        bootstrap=config.BootstrapConfig(200, 0.9, 4),
    )
    assert cfg.image == config.ImageConfig("3.12", True, "img:1", "12.4", "ghcr.io/a")
    assert cfg.serving == config.ServingConfig(
        port=9000,
        max_batch_rows=10,
        max_body_bytes=2048,
        compile=False,
        batching=config.BatchingConfig(False, 3, 4, 0.5),
        outliers=config.OutlierConfig(
            mode="reject",
            prediction=config.Bounds(1, 2),
            learn_margin=0.1,
            input_z=3,
            input_range_margin=0.2,
            inputs={"x": config.Bounds(0, None), "y": config.Bounds(None, 5)},
        ),
        logging=config.LoggingConfig(0.5, root / "logs/req.jsonl"),
        connections=config.ConnectionsConfig(7, 1, 2, 3, 2048),
        classification=config.ClassificationServing(False, "probabilities"),
    )
    assert cfg.deploy.gke == config.GkeConfig(
        project="p",
        location="l",
        cluster="c",
        namespace="ns",
        min_replicas=3,
        max_replicas=9,
        target_cpu=70,
        replica_rps=100,
        replica_p99_ms=20,
        baseline_rps=50,
        peak_factor=4,
        cpu="500m",
        memory="1Gi",
        service_account="release-bot@p.iam.gserviceaccount.com",
        accelerator="nvidia-a100",
        progress_deadline_s=120,
    )
    drift = cfg.monitoring.drift
    assert (drift.method, drift.warn, drift.alert, drift.alpha, drift.correction) == (
        "ks",
        0.2,
        0.3,
        0.01,
        "bh",
    )
    assert (drift.min_samples, drift.bins) == (50, 20)
    assert drift.features == {"x": config.FeatureDriftConfig(warn=0.5, min_samples=9)}
    assert cfg.monitoring.outliers == config.OutlierRateConfig(0.02, 0.1)
    assert cfg.trust == config.TrustConfig(frozenset({"lock"}), frozenset({"--index-url"}))
    assert cfg.raw["model"]["name"] == "house"


def test_optional_parts_absent_are_none(tmp_path):
    text = HEAD + "validation: {data: d.csv}\nserving: {outliers: {prediction: {min: 1}}}\n"
    cfg = config.load(write(tmp_path, text), check_files=False)
    assert cfg.validation == config.ValidationConfig(tmp_path.resolve() / "d.csv", None, 200, ())
    assert cfg.model.features is None and cfg.model.sha256 is None and cfg.model.version is None
    assert cfg.serving.outliers.prediction == config.Bounds(1, None)
    assert cfg.serving.logging.file is None
    assert cfg.deploy.gke is None
    assert cfg.trust == config.TrustConfig()


# ----------------------------------------------------------------------------- long values


def test_a_text_is_shown_whole_up_to_the_limit_and_cut_past_it():
    assert config.cut("x" * 80) == "x" * 80
    assert config.cut("x" * 81) == "x" * 80 + "... (81 characters)"
    assert config.cut("y" * 1500, 200) == "y" * 200 + "... (1,500 characters)"
    assert config.shorten("z" * 100) == "'" + "z" * 79 + "... (102 characters)"


def test_a_long_unknown_key_is_cut_in_the_key_it_is_reported_under(tmp_path):
    p = only(write(tmp_path, HEAD + f"{'q' * 100}: 1\n"))
    assert (p.line, p.key, p.message) == (6, "q" * 80 + "... (100 characters)", "unknown key")


@pytest.mark.parametrize(
    ("extra", "key", "message"),
    [
        (
            "trust: {outside_paths: [lock, lock]}\n",
            "trust.outside_paths",
            "['lock', 'lock'] has non-unique elements",
        ),
        (
            "gate:\n  trade_offs:\n    - {allow: {}, when: {x: 1%}}\n",
            "gate.trade_offs[0].allow",
            "{} should be non-empty",
        ),
    ],
)
def test_other_schema_rules_are_reported_in_the_validators_words(tmp_path, extra, key, message):
    p = only(write(tmp_path, HEAD + extra))
    assert (p.line, p.key, p.message) == (6 if extra.startswith("trust") else 8, key, message)


def test_a_notebook_pattern_without_a_folder_is_confined_by_what_it_matches(tmp_path):
    root = tmp_path / "h"
    root.mkdir()
    (tmp_path / "x.ipynb").write_text("{}")
    os.symlink(tmp_path / "x.ipynb", root / "leak.ipynb")
    p = only(write(root, "model: {name: m, task: regression, artifact: m.skops}\nnotebooks: ['*.ipynb']\n"))
    assert p.key == "notebooks[0]" and p.message.startswith("'leak.ipynb' resolves to ")


def test_a_long_path_leaving_the_folder_is_cut_where_it_is_shown(tmp_path):
    root = tmp_path / "h"
    root.mkdir()
    name = "d" * 250
    p = only(write(root, f"model: {{name: m, task: regression, artifact: m.skops}}\nlock: ../{name}\n"))
    target = str(tmp_path.resolve() / name)
    shown = config.cut(f"../{name}")
    assert p.message == (
        f"'{shown}' resolves to {target[:200]}... ({len(target):,} characters), "
        f"outside the handoff's folder {root.resolve()}"
    )


def test_a_config_file_of_exactly_the_limit_is_read_to_its_last_character(tmp_path):
    head = "model: {name: m, task: regression, artifact: m.skops}\n#"
    tail = "\nlock: x.lock"
    path = write(tmp_path, head + "#" * (config.MAX_BYTES - len(head) - len(tail)) + tail)
    assert path.stat().st_size == config.MAX_BYTES
    assert config.load(path, check_files=False).lock.name == "x.lock"
    path.write_text(head + "#" * (config.MAX_BYTES - len(head) - len(tail) + 1) + tail)
    assert refusal(path).message.startswith(f"{path}: the file is larger than 1024 KB")


def test_an_unknown_key_is_located_at_the_key_and_offered_every_known_one(tmp_path):
    p = only(write(tmp_path, HEAD + "watch:\n  zzzz:\n    1\n"))
    assert (p.file, p.line, p.key, p.message) == (
        str(tmp_path / "mlrelease.yaml"),
        7,
        "watch.zzzz",
        "unknown key",
    )
    assert p.hint == (
        "expected one of: duration_s, interval_s, max_error_rate, max_outlier_rate, max_p99_ms, min_requests"
    )


# ----------------------------------------------------------------------------- where each problem is


BLOCK = "model:\n  name: m\n  task: regression\n  artifact: m.skops\n"


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ("model:\n  name: m\n  task: regression\n  artifact: ../m.skops\n", 4, "model.artifact"),
        ("model:\n  name: m\n  task: regression\n  entrypoint: '../f.py:make'\n", 4, "model.entrypoint"),
        (BLOCK + "validation:\n  reference: r.csv\n  data: ../d.csv\n", 7, "validation.data"),
        (BLOCK + "validation:\n  data: d.csv\n  reference: ../r.csv\n", 7, "validation.reference"),
        (
            BLOCK + "serving:\n  logging:\n    sample_rate: 1\n    file: ../log.jsonl\n",
            8,
            "serving.logging.file",
        ),
        (BLOCK + "notebooks:\n  - nb/*.ipynb\n  - ../nb/*.ipynb\n", 7, "notebooks[1]"),
    ],
)
def test_a_path_leaving_the_folder_is_located_at_its_own_line(tmp_path, text, line, key):
    root = tmp_path / "h"
    root.mkdir()
    p = only(write(root, text, ()))
    assert (p.file, p.line, p.key) == (str(root / "mlrelease.yaml"), line, key)
    assert "outside the handoff's folder" in p.message


def test_a_pattern_matching_no_notebook_is_located_at_its_item(tmp_path):
    (tmp_path / "nb").mkdir()
    (tmp_path / "nb" / "a.ipynb").write_text("{}")
    p = only(write(tmp_path, BLOCK + "notebooks:\n  - nb/*.ipynb\n  - other/*.ipynb\n"))
    assert (p.file, p.line, p.key, p.message) == (
        str(tmp_path / "mlrelease.yaml"),
        7,
        "notebooks[1]",
        "pattern 'other/*.ipynb' matches no notebook",
    )


LOOP = "model: {name: m, task: regression, artifact: m.skops}\nlock: a\n"


@pytest.mark.parametrize(
    ("text", "files", "key"),
    [
        (HEAD + "lint: {fail_on: warn}\n", (), "lint.fail_on"),
        (HEAD + "deploy:\n  gke: {project: p, location: l}\n", (), "deploy.gke.cluster"),
        (HEAD.replace("name: m", "name: Bad"), (), "model.name"),
        (HEAD + "  entrypoint: 'f.py:make'\n", (), "model"),
        (
            HEAD + "gate:\n  metrics:\n    r2_score: {max_regression: 'two'}\n",
            (),
            "gate.metrics.r2_score.max_regression",
        ),
        (HEAD.replace("name: m", "name: " + "a" * 64), (), "model.name"),
        (HEAD + "trust: {outside_paths: [lock, lock]}\n", (), "trust.outside_paths"),
        (HEAD + "registry: {locaton: x}\n", (), "registry.locaton"),
        (
            "notebooks: []\nrequirements: r.txt\n"
            "model: {name: m, task: regression, entrypoint: 'f.py:make'}\n",
            ("r.txt",),
            "model.entrypoint",
        ),
        (
            "notebooks: []\nrequirements: r.txt\nmodel: {name: m, task: regression, artifact: m.joblib}\n",
            ("r.txt", "m.joblib"),
            "model.artifact",
        ),
        (
            "notebooks: []\nrequirements: r.txt\nmodel: {name: m, task: regression, artifact: m.bin}\n",
            ("r.txt", "m.bin"),
            "model.artifact",
        ),
    ],
)
def test_every_problem_names_the_config_file(tmp_path, text, files, key):
    path = write(tmp_path, text, ("m.skops", *files))
    p = only(path)
    assert (p.file, p.key) == (str(path), key)


def test_a_path_that_cannot_be_resolved_names_the_config_file(tmp_path):
    os.symlink(tmp_path / "b", tmp_path / "a")
    os.symlink(tmp_path / "a", tmp_path / "b")
    path = write(tmp_path, LOOP, ())
    p = only(path)
    assert (p.file, p.key) == (str(path), "lock")


def test_a_config_symlinked_out_of_its_folder_names_the_link(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "h").mkdir()
    (tmp_path / "real" / "mlrelease.yaml").write_text(HEAD)
    link = tmp_path / "h" / "mlrelease.yaml"
    os.symlink(tmp_path / "real" / "mlrelease.yaml", link)
    [p] = refusal(link).problems
    assert p.file == str(link)
    assert p.message.startswith(f"{config.cut(str(link))} resolves to ")


# ----------------------------------------------------------------------------- notebook patterns


def test_a_notebook_folder_leading_out_is_one_problem_and_later_patterns_are_still_checked(tmp_path):
    root = tmp_path / "h"
    (root / "nb").mkdir(parents=True)
    (tmp_path / "nb").mkdir()
    (tmp_path / "nb" / "x.ipynb").write_text("{}")
    os.symlink(tmp_path / "nb" / "x.ipynb", root / "nb" / "leak.ipynb")
    text = BLOCK + "notebooks: ['../nb/*.ipynb', 'nb/*.ipynb']\n"
    error = refusal(write(root, text, ()), check_files=False)
    assert [(p.key, p.message.split(" resolves")[0]) for p in error.problems] == [
        ("notebooks[0]", "'../nb/*.ipynb'"),
        ("notebooks[1]", "'nb/leak.ipynb'"),
    ]


def test_a_recursive_notebook_pattern_reaches_every_depth(tmp_path):
    root = tmp_path / "h"
    deep = root / "nb" / "a" / "b"
    deep.mkdir(parents=True)
    (deep / "ok.ipynb").write_text("{}")
    text = BLOCK + "notebooks: ['nb/**/*.ipynb']\n"
    cfg = config.load(write(root, text))
    assert cfg.notebook_paths() == [root.resolve() / "nb" / "a" / "b" / "ok.ipynb"]
    (tmp_path / "x.ipynb").write_text("{}")
    os.symlink(tmp_path / "x.ipynb", deep / "leak.ipynb")
    p = only(write(root, text))
    assert (p.file, p.line, p.key) == (str(root / "mlrelease.yaml"), 5, "notebooks[0]")
    assert p.message.startswith("'nb/a/b/leak.ipynb' resolves to ")


# ----------------------------------------------------------------------------- values as YAML reads them


def test_a_value_of_a_type_yaml_gives_beyond_json_is_named_by_its_type(tmp_path):
    p = only(write(tmp_path, HEAD + "image: {python: 2024-01-01}\n"))
    assert (p.key, p.message) == ("image.python", "expected a string, got date datetime.date(2024, 1, 1)")


@pytest.mark.parametrize("count", [3, 12])
def test_a_message_in_the_validators_words_is_shown_whole_up_to_200_characters(tmp_path, count):
    keys = ["validation.reference"] * count
    p = only(write(tmp_path, HEAD + f"trust: {{outside_paths: [{', '.join(keys)}]}}\n"))
    text = f"{keys!r} has non-unique elements"
    assert p.message == (text if len(text) <= 200 else f"{text[:200]}... ({len(text):,} characters)")


def test_problems_on_one_line_are_ordered_by_key(tmp_path):
    error = refusal(write(tmp_path, HEAD + "serving: {port: 0, max_batch_rows: 0, compile: 1}\n"))
    assert [(p.line, p.key) for p in error.problems] == [
        (6, "serving.compile"),
        (6, "serving.max_batch_rows"),
        (6, "serving.port"),
    ]
