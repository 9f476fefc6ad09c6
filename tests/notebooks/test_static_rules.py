"""The rules mlrelease writes itself (NB1xx-NB7xx, not the ruff/vulture ones), each on small
notebooks built here: the exact rule, cell, line and message where it fires, and silence on the
near-misses beside it. Cells count from 1 as Jupyter shows them; a markdown cell is a cell too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from mlrelease.config import LintConfig
from mlrelease.notebooks.lint import static_hits
from mlrelease.notebooks.source import read

Found = tuple[str, int, int | None, str]


def lint(
    folder: Path,
    *cells: Any,
    root: Path | None = None,
    rules: str = "NB",
    max_output_kb: float = 1000,
) -> list[Found]:
    """Findings of the notebook made of ``cells`` (source strings are code cells), in the order the
    rules report them, kept to rule ids starting with ``rules``."""
    made = [new_code_cell(c) if isinstance(c, str) else c for c in cells]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "book.ipynb"
    nbformat.write(new_notebook(cells=made), path)
    hits = static_hits(read(path), root, LintConfig(max_output_kb=max_output_kb))
    return [(h.rule, h.cell + 1, h.line, h.message) for h in hits if h.rule.startswith(rules)]


def ran(source: str, count: int | None) -> Any:
    return new_code_cell(source, execution_count=count)


def note(text: str = "Some prose.") -> Any:
    return new_markdown_cell(text)


# ----------------------------------------------------------------------------- NB101, NB102, NB104


def order(tmp_path: Path, *counts: int | None, empty: tuple[int, ...] = ()) -> list[Found]:
    """A notebook of a markdown cell, then one code cell per count (cell 2, 3, ...)."""
    cells = [note(), *(ran("" if i in empty else f"x{i} = {i}", c) for i, c in enumerate(counts))]
    return lint(tmp_path, *cells, rules="NB10")


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ((1, 2, 3), []),
        ((None, None), []),  # saved without outputs: no order to check
        ((1, 2, 2), [("NB101", 4, None, "cell 4 has the same execution count (2) as cell 3")]),
        ((1, 3, 2), [("NB101", 4, None, "cell 4 ran (count 2) before cell 3 above it (count 3)")]),
        # the cell above with the highest count is named, not the first of equal counts
        (
            (2, 2, 1),
            [
                ("NB102", 2, None, "the first executed cell has count 2: 1 runs are not in the notebook"),
                ("NB101", 3, None, "cell 3 has the same execution count (2) as cell 2"),
                ("NB101", 4, None, "cell 4 ran (count 1) before cell 2 above it (count 2)"),
            ],
        ),
        ((1, 5, 2, 3), [
            ("NB102", 3, None,
             "execution count 4 missing between cell 2 and cell 3: cells were re-run or deleted"),
            ("NB101", 4, None, "cell 4 ran (count 2) before cell 3 above it (count 5)"),
            ("NB101", 5, None, "cell 5 ran (count 3) before cell 3 above it (count 5)"),
        ]),
        ((3, 4), [("NB102", 2, None, "the first executed cell has count 3: 2 runs are not in the notebook")]),
        ((None, 1, 2), [("NB104", 2, None, "cell 2 was never run, but cells around it were")]),
        ((None, 2), [
            ("NB104", 2, None, "cell 2 was never run, but cells around it were"),
            ("NB102", 3, None, "the first executed cell has count 2: 1 runs are not in the notebook"),
        ]),
        ((1, 3), [("NB102", 3, None,
                   "execution count 2 missing between cell 2 and cell 3: cells were re-run or deleted")]),
        ((1, 5), [("NB102", 3, None,
                   "execution counts 2-4 missing between cell 2 and cell 3: cells were re-run or deleted")]),
        ((1, None, 3), [
            ("NB104", 3, None, "cell 3 was never run, but cells around it were"),
            ("NB102", 4, None,
             "execution count 2 missing between cell 2 and cell 4: cells were re-run or deleted"),
        ]),
        # count 2 is further down: it was not lost, it ran late (NB101 says so, not NB102)
        ((1, 3, 2), [("NB101", 4, None, "cell 4 ran (count 2) before cell 3 above it (count 3)")]),
        ((1, 4, 2, 3), [
            ("NB101", 4, None, "cell 4 ran (count 2) before cell 3 above it (count 4)"),
            ("NB101", 5, None, "cell 5 ran (count 3) before cell 3 above it (count 4)"),
        ]),
    ],
)  # fmt: skip
def test_execution_counts_must_run_one_by_one_from_the_top(tmp_path, counts, expected):
    assert order(tmp_path, *counts) == expected


def test_an_empty_cell_that_never_ran_is_not_a_finding(tmp_path):
    assert order(tmp_path, 1, None, 2, empty=(1,)) == []


# ----------------------------------------------------------------------------- NB105, NB107


def test_a_stored_exception_is_reported_with_its_type_and_value(tmp_path):
    error = new_output("error", ename="KeyError", evalue="'price'", traceback=["Traceback ..."])
    long = new_output("error", ename="ValueError", evalue="x" * 400, traceback=[])
    printed = new_output("stream", name="stderr", text="Warning: error in data\n")
    cells = [note(), ran("print(1)", 1), new_code_cell("frame['price']", execution_count=2, outputs=[error]),
             new_code_cell("fail()", execution_count=3, outputs=[printed, long])]  # fmt: skip
    got = lint(tmp_path, *cells, rules="NB105")
    assert got == [
        ("NB105", 3, None, "stored error: KeyError: 'price'"),
        ("NB105", 4, None, ("stored error: ValueError: " + "x" * 400)[:300]),
    ]
    assert len(got[1][3]) == 300


def test_a_cell_with_a_null_byte_is_not_python_and_has_no_line(tmp_path):
    assert lint(tmp_path, "x = 1\x00", rules="NB107") == [
        ("NB107", 1, None, "not valid Python: source code string cannot contain null bytes")
    ]


def test_a_cell_that_is_not_python_is_reported_on_its_line(tmp_path):
    got = lint(tmp_path, note(), "x = 1", "y = 2\nprint 'total', y\nz = 3", rules="NB107")
    assert got == [
        (
            "NB107",
            3,
            2,
            "not valid Python: line 2: Missing parentheses in call to 'print'. Did you mean print(...)?",
        )
    ]


# ----------------------------------------------------------------------------- NB103


def hidden(tmp_path: Path, first: str, *later: str) -> list[Found]:
    """NB103 findings of ``first`` (cell 2) when the cells after a markdown cell (cell 4, ...) follow."""
    return lint(tmp_path, note(), first, note(), *later, rules="NB103")


def used(name: str, line: int = 1, cell: int = 2, defined_in: int = 4) -> Found:
    return ("NB103", cell, line, f"'{name}' is used here but first defined in cell {defined_in} below")


DEFINES = "rows = [1]\ncutoff = 0\nlimit = 2\nscale = 3\npairs = {}\nBase = object\nMeta = type\nlater = 1"


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        ("print(rows)", [used("rows")]),
        ("rows += [2]", [used("rows")]),  # an augmented assignment reads first
        ("rows = rows + [2]", [used("rows")]),  # the value is read before the name is bound
        ("print(later)\nlater = 0", [used("later")]),  # bound here too, but only after the use
        ("total: int = len(rows)", [used("rows")]),
        ("total: int\nprint(cutoff)", [used("cutoff", 2)]),
        ("if (n := len(rows)) > cutoff:\n    print(n)", [used("rows"), used("cutoff")]),
        ("for r in rows:\n    print(r, cutoff)", [used("rows"), used("cutoff", 2)]),
        ("with open(later) as fh:\n    print(fh, limit)", [used("later"), used("limit", 2)]),
        ("with limit:\n    pass", [used("limit")]),
        # a decorator and a default run at definition; the body only when called
        ("@Meta\ndef f(x=limit, *, k=scale, j):\n    return later", [used("Meta"), used("limit", 2),
                                                                     used("scale", 2)]),
        ("async def fetch(x=limit):\n    return later", [used("limit")]),
        ("g = lambda x=limit: later", [used("limit")]),
        ("@Meta\nclass A(Base, metaclass=Meta):\n    size = limit\n    other = size\n    later2 = later",
         [used("Meta"), used("Base", 2), used("limit", 3), used("later", 5)]),
        ("xs = [r * scale for r in rows if r > cutoff]", [used("rows"), used("cutoff"), used("scale")]),
        ("xs = {r for r in rows}\nys = list(p for p in pairs)", [used("rows"), used("pairs", 2)]),
        ("xs = {k: v * scale for k, v in pairs}", [used("pairs"), used("scale")]),
        ("try:\n    print(1)\nexcept Base as err:\n    print(err, limit)",
         [used("Base", 3), used("limit", 4)]),
        ("try:\n    print(1)\nexcept:\n    print(limit)", [used("limit", 4)]),
        ("print(rows)\nprint(rows)", [used("rows")]),  # once per cell, at the first use
        ("from numpy import *\nprint(rows)", []),  # a star import defines names no one can list
        ("print(len([1]), display)", []),  # builtins and IPython's names are always there
        ("import os.path\nprint(os)", []),
    ],
)  # fmt: skip
def test_a_name_used_above_the_cell_that_defines_it(tmp_path, first, expected):
    got = hidden(
        tmp_path, first, DEFINES + "\nimport os\nos = os\ndisplay = print\nerr = None\nr = 0\nk = v = p = 0"
    )
    assert got == expected


@pytest.mark.parametrize(
    ("first", "later"),
    [
        ("def f():\n    return 1\nprint(f())", "def f():\n    return 2"),
        ("class A:\n    pass\nprint(A)", "A = 2"),
        ("async def f():\n    return 1\nprint(f)", "f = 2"),
        ("import os\nprint(os)", "import os"),
        ("from os import path as p\nprint(p)", "p = 1"),
        ("xs = [x for x in range(3)]", "x = 1"),  # the comprehension's own name
        ("xs = {k: 1 for k in range(3)}", "k = 1"),
        ("class A:\n    size = 1\n    other = size", "size = 2"),  # the class body's own name
        ("try:\n    pass\nexcept ValueError as err:\n    print(err)", "err = 1"),
        ("print(z)\nz = 1", "w = 2"),  # no cell below binds it: undefined (ruff's F821), not hidden state
    ],
)
def test_a_name_defined_in_the_same_scope_is_not_hidden_state(tmp_path, first, later):
    assert hidden(tmp_path, first, later) == []


def test_each_cell_above_the_definition_is_named_with_the_first_cell_that_defines_it(tmp_path):
    got = lint(
        tmp_path, "print(rows)", note(), "print(rows)", "rows = [1]", note(), "rows = [2]", rules="NB103"
    )
    assert got == [used("rows", cell=1, defined_in=4), used("rows", cell=3, defined_in=4)]


# ----------------------------------------------------------------------------- NB201


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("x = 1\n# x = 2\nprint(x)", [(2, "commented-out code (line): # x = 2")]),
        ("x = 1\n# x = 2\n#print(x)\n\n## x.head()", [(2, "commented-out code (2 lines): # x = 2"),
                                                       (5, "commented-out code (line): ## x.head()")]),
        ("x = 1\n#x = 2", [(2, "commented-out code (line): #x = 2")]),  # no space after '#'
        ("x = 1  # x = 2", []),  # a trailing comment sits on live code
        ("s = '# x = 2'", []),
        ("#\n# \nx = 1", []),
        ("# pylint: disable=invalid-name\nx = 1", []),
        ("# X = frame.drop(columns=['price'])\nx = 1", [(1, "commented-out code (line): "
                                                          "# X = frame.drop(columns=['price'])")]),
        ("# model.fit(X, y); model.score(X, y)\nx = 1",
         [(1, "commented-out code (line): # model.fit(X, y); model.score(X, y)")]),
        ("# see: notes; later\nx = 1", []),
        ("# threshold: float = 0.5\nx = 1", [(1, "commented-out code (line): # threshold: float = 0.5")]),
        ("# Note: important\n# try:\n# finally:\n# else:\nx = 1", []),
        ("# if x > 1:\nx = 1", [(1, "commented-out code (line): # if x > 1:")]),
        ("# frame = frame.assign(" + "a" * 100 + "=1)\nx = 1",
         [(1, "commented-out code (line): " + ("# frame = frame.assign(" + "a" * 100)[:80])]),
    ],
)  # fmt: skip
def test_commented_out_code_is_found_by_block_on_its_first_line(tmp_path, source, expected):
    assert lint(tmp_path, note(), "y = 0", source, rules="NB201") == [("NB201", 3, n, m) for n, m in expected]


def test_a_cell_that_does_not_parse_has_no_commented_out_code_finding(tmp_path):
    assert lint(tmp_path, "# x = 2\nprint 'x'", rules="NB201") == []


# ----------------------------------------------------------------------------- NB401


@pytest.mark.parametrize(
    ("source", "line"),
    [
        ("!pip install pandas", 1),
        ("x = 1\n%pip install -q pandas", 2),
        ("!conda install -y -c conda-forge numpy", 1),
        ("!uv pip install numpy", 1),
        ("!uv add numpy", 1),
        ("!poetry add numpy", 1),
        ("!apt-get install -y libgomp1", 1),
        ("!brew install libomp", 1),
        ("%%bash\ncd /tmp\npip3 install numpy", 3),
        ("import os\nos.system('pip install numpy')", 2),
        ("import subprocess\nsubprocess.check_call('mamba install numpy', shell=True)", 2),
    ],
)
def test_installing_packages_from_the_notebook_is_found_on_its_line(tmp_path, source, line):
    text = source.splitlines()[line - 1]
    assert lint(tmp_path, note(), source, rules="NB401") == [
        ("NB401", 2, line, f"installs packages from the notebook: {text.strip()}")
    ]


@pytest.mark.parametrize(
    "source",
    ["# pip install pandas", "print('pip install pandas')", "!pip list", "!pip download pandas",
     "%%html\npip install pandas", "%%capture\nprint('pip install x')"],
)  # fmt: skip
def test_text_that_mentions_an_install_without_running_one_is_not_a_finding(tmp_path, source):
    assert lint(tmp_path, source, rules="NB401") == []


def test_a_long_install_line_is_shown_to_100_characters(tmp_path):
    source = "!pip install " + " ".join(f"package{i}" for i in range(30))
    assert lint(tmp_path, source, rules="NB401") == [
        ("NB401", 1, 1, f"installs packages from the notebook: {source[:100]}")
    ]


# ----------------------------------------------------------------------------- NB402, NB403


@pytest.mark.parametrize(
    "path",
    ["/home/ana/data.csv", "/Users/ana/data.csv", "/root/x", "/mnt/d/x", "/media/usb/x", "/Volumes/usb/x",
     "/content/drive/x", "/kaggle/input/x", "~/data.csv", "~\\data.csv", "C:\\Users\\ana\\x.csv", "d:/x.csv"],
)  # fmt: skip
def test_a_path_on_the_authors_machine_is_found(tmp_path, path):
    source = f"import pandas as pd\nframe = pd.read_csv({path!r})"
    assert lint(tmp_path, note(), source, rules="NB40") == [("NB402", 2, 2, f"absolute local path '{path}'")]


def test_an_absolute_path_is_shown_to_120_characters(tmp_path):
    path = "/home/ana/" + "d" * 200
    assert lint(tmp_path, f"x = {path!r}", rules="NB40") == [
        ("NB402", 1, 1, f"absolute local path '{path[:120]}'")
    ]


@pytest.mark.parametrize(
    "source",
    ["import os\nx = os.path.expanduser('~/.cache/x')",
     "from os.path import expanduser\nx = expanduser('~/x')",
     "import os\nx = os.path.expandvars('~/x')",
     "from pathlib import Path\nx = Path('~/.cache').expanduser()",
     "x = '/tmp/scratch.csv'", "x = '/etc/hosts'", "x = 'data/x.csv'", "x = 'C:'"],
)  # fmt: skip
def test_a_home_path_expanded_for_the_running_user_or_a_system_path_is_not_a_finding(tmp_path, source):
    assert lint(tmp_path, source, root=tmp_path, rules="NB40") == []


def test_a_home_path_not_passed_to_expanduser_is_still_found(tmp_path):
    source = "loaders = [open]\nf = loaders[0]('~/x.csv')\ng = str('~/y.csv').upper()"
    assert lint(tmp_path, source, rules="NB40") == [
        ("NB402", 1, 2, "absolute local path '~/x.csv'"),
        ("NB402", 1, 3, "absolute local path '~/y.csv'"),
    ]


def outside(tmp_path: Path, literal: str) -> list[Found]:
    repo = tmp_path / "repo"
    return lint(repo / "notebooks", note(), "x = 1", f"path = {literal!r}", root=repo, rules="NB40")


@pytest.mark.parametrize("literal", ["../../data.csv", "..\\..\\data.csv", "../notebooks/../../x/y.csv"])
def test_a_relative_path_that_leaves_the_repository_is_found(tmp_path, literal):
    target = (tmp_path / "repo" / "notebooks" / literal.replace("\\", "/")).resolve()
    assert outside(tmp_path, literal) == [
        ("NB403", 3, 1, f"'{literal}' resolves to {target}, outside the repository {tmp_path / 'repo'}")
    ]


@pytest.mark.parametrize(
    "literal",
    [
        "../data.csv",
        "..\\data\\x.csv",
        "data/x.csv",
        "..",
        "...",
        "...saved to ../../x\nDone",
        "../../data is not shipped:\nask for it",
    ],
)
def test_a_relative_path_inside_the_repository_or_not_a_path_is_not_a_finding(tmp_path, literal):
    assert outside(tmp_path, literal) == []  # ".." and "...": no separator; a multi-line string is text


def test_a_string_of_400_characters_or_more_is_text_not_a_path(tmp_path):
    assert [f[0] for f in outside(tmp_path, "../" * 133)] == ["NB403"]  # 399 characters
    assert outside(tmp_path, "../" * 133 + "x") == []  # 400


def test_relative_paths_are_not_checked_without_a_repository(tmp_path):
    assert lint(tmp_path / "notebooks", "path = '../../data.csv'", root=None, rules="NB40") == []


# ----------------------------------------------------------------------------- NB501


def randomness(tmp_path: Path, *cells: str) -> list[tuple[int, int | None, str]]:
    return [(cell, line, message) for _, cell, line, message in lint(tmp_path, *cells, rules="NB501")]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import numpy.random as npr\nrng = npr.default_rng()", [(2, "default_rng() without a seed")]),
        (
            "from numpy import random as nr\nrng = nr.RandomState(seed=None)",
            [(2, "RandomState() without a seed")],
        ),
        ("import numpy\nrng = numpy.random.RandomState()", [(2, "RandomState() without a seed")]),
        ("import numpy as np\nrng = np.random.default_rng(seed=s)", []),
        ("import numpy as np\nrng = np.random.default_rng(s)", []),
        ("from . import numpy\nrng = numpy.random.default_rng()", []),  # a relative import is not numpy
        ("import numpy as np\nx = np.random.normal()\nnp.random.seed(0)", []),  # seeded anywhere
        (
            "import numpy as np\nx = np.linalg.norm([1])\ny = np.random.uniform()",
            [(3, "np.random.uniform() and no np.random.seed(...) in the notebook")],
        ),
        (
            "import random\nx = random.randint(1, 2)\ny = random.gauss(0, 1)",
            [(2, "random.randint() and no random.seed(...) in the notebook")],
        ),
        ("import random\nx = random.Random(3).random()", []),
        (
            "import torch\nx = torch.zeros(3)\ny = torch.rand(3)\nz = torch.randn(3)",
            [(3, "torch.rand() and no torch.manual_seed(...) in the notebook")],
        ),
        ("import torch\ntorch.random.manual_seed(0)\ny = torch.rand(3)", []),
        ("from sklearn.model_selection import StratifiedKFold as S\ncv = S(5, shuffle=False)", []),
        (
            "from sklearn.model_selection import GroupKFold\ncv = GroupKFold(5, shuffle=True)",
            [(2, "GroupKFold(...) without random_state")],
        ),
        ("from sklearn.model_selection import KFold\ncv = KFold(5, shuffle=flag)", []),
        (
            "from sklearn.cluster import KMeans\nimport numpy as np\n"
            "m = KMeans(3)\nnp.random.seed(0)\nn = KMeans(3)",
            [(3, "KMeans(...) without random_state")],
        ),  # numpy's seed covers only the calls after it
        ("import sklearn\nm = sklearn.utils.shuffle([1, 2])", [(2, "shuffle(...) without random_state")]),
        ("from sklearn.metrics import r2_score\ns = r2_score([1], [1])", []),
    ],
)
def test_each_random_source_seeded_or_not(tmp_path, source, expected):
    assert randomness(tmp_path, source) == [(1, line, message) for line, message in expected]


KERAS_MESSAGE = (
    "Keras/TensorFlow {}(...) and no tf.random.set_seed(...) or keras.utils.set_random_seed(...) "
    "in the notebook: weights start random"
)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import keras\nm = keras.Sequential([keras.layers.Dense(3)])", [(2, "Sequential")]),
        ("import keras\nx = keras.optimizers.Adam()\nl = keras.layers.Dense(3)", [(3, "Dense")]),
        ("from tensorflow import keras\nm = keras.Model()", [(2, "Model")]),
        ("import tensorflow as tf\nm = tf.keras.Model()\nn = tf.keras.layers.LSTM(2)", [(2, "Model")]),
        ("import tf_keras\nm = tf_keras.layers.Conv2D(2, 3)", [(2, "Conv2D")]),
        ("import keras\nx = keras.layers.concatenate([a, b])\ny = keras.utils.to_categorical([1])", []),
        ("import keras\nx = keras.losses.MeanSquaredError()", []),
        ("import keras\nkeras.utils.set_random_seed(1)\nm = keras.Sequential()", []),
        ("import tensorflow as tf\ntf.random.set_seed(1)\nm = tf.keras.Sequential()", []),
        ("import tensorflow as tf\ntf.compat.v1.set_random_seed(1)\nm = tf.keras.Sequential()", []),
        ("import tensorflow as tf\ntf.keras.utils.set_random_seed(1)\nm = tf.keras.Sequential()", []),
        ("import tensorflow as tf\ntf.set_random_seed(1)\nm = tf.keras.Sequential()", []),
    ],
)
def test_keras_weights_need_a_seed(tmp_path, source, expected):
    got = randomness(tmp_path, source)
    assert got == [(1, line, KERAS_MESSAGE.format(name)) for line, name in expected]


def test_random_sources_are_reported_in_cell_and_line_order(tmp_path):
    cells = (
        "import numpy as np\nimport random\nimport torch",
        "y = torch.rand(2)\nx = np.random.rand(2)",
        "z = random.random()\nw = np.random.default_rng()",
    )
    assert randomness(tmp_path, *cells) == [
        (2, 1, "torch.rand() and no torch.manual_seed(...) in the notebook"),
        (2, 2, "np.random.rand() and no np.random.seed(...) in the notebook"),
        (3, 1, "random.random() and no random.seed(...) in the notebook"),
        (3, 2, "default_rng() without a seed"),
    ]


def test_a_numpy_seed_in_an_earlier_cell_covers_scikit_learn_below_it(tmp_path):
    cells = (
        "from sklearn.cluster import KMeans\nm = KMeans(2)",
        "import numpy as np\nnp.random.seed(0)",
        "n = KMeans(2)",
    )
    assert randomness(tmp_path, *cells) == [(1, 2, "KMeans(...) without random_state")]


# ----------------------------------------------------------------------------- NB601, NB602

AWS = "AKIAIOSFODNN7EXAMPLE"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (f"key = '{AWS}'", [(1, "AWS access key in the code (AKIA…)")]),
        ("password = 'hunter2!!'", [(1, "'password' is set to a literal (hunt…)")]),  # 9 characters
        (
            "password = 'hunter22'",
            [(1, "'password' is set to a literal (…)")],
        ),  # 8: credible, too short to show
        ("password = 'hunter2'", []),  # 7
        ("password = 'two words'", []),
        ("api_key = '<your key here>'\nAPI_KEY = 'changeme'\ntoken = '${TOKEN}'\nsecret = 'xxxxxxxxxx'", []),
        ("token_count = 'abcdefghijk'", []),
        (
            "import os\nos.environ['MY_API_KEY'] = 's3cr3t-value'",
            [(2, "'MY_API_KEY' is set to a literal (s3cr…)")],
        ),
        ("config = {}\nconfig['region'] = 's3cr3t-value'", []),
        (
            "login(\n    user='ana',\n    password='s3cr3t-value',\n)",
            [(1, "'password' is set to a literal (s3cr…)")],
        ),
        (f"aws_access_key = '{AWS}'", [(1, "AWS access key in the code (AKIA…)")]),  # once, by its format
        ("url = 'postgres://ana:s3cretpass@db:5432/x'", [(1, "password in a URL in the code (s3cr…)")]),
    ],
)
def test_a_secret_in_the_code_is_found_on_its_line_and_redacted(tmp_path, source, expected):
    assert lint(tmp_path, note(), source, rules="NB60") == [("NB601", 2, n, m) for n, m in expected]


def with_output(*outputs: Any) -> Any:
    return new_code_cell("show()", execution_count=1, outputs=list(outputs))


@pytest.mark.parametrize(
    ("output", "kind"),
    [
        (new_output("stream", name="stdout", text=f"key is {AWS}\n"), "AWS access key"),
        (
            new_output(
                "execute_result", data={"text/html": "<b>keys</b>", "text/plain": AWS}, execution_count=1
            ),
            "AWS access key",
        ),
        (
            new_output("execute_result", data={"text/plain": f"'keys':\n{AWS}"}, execution_count=1),
            "AWS access key",
        ),
        (new_output("display_data", data={"application/json": {"key": AWS}}), "AWS access key"),
        (new_output("error", ename="AuthError", evalue=f"bad key {AWS}", traceback=[]), "AWS access key"),
    ],
)
def test_a_secret_in_a_stored_output_is_found_and_redacted(tmp_path, output, kind):
    assert lint(tmp_path, note(), with_output(output), rules="NB60") == [
        ("NB602", 2, None, f"{kind} in the stored output (AKIA…)")
    ]


def test_an_image_is_not_read_for_secrets(tmp_path):
    image = new_output("display_data", data={"image/png": AWS, "text/plain": "<Figure>"})
    assert lint(tmp_path, with_output(image), rules="NB60") == []


# ----------------------------------------------------------------------------- NB701, NB702


@pytest.mark.parametrize(
    "source",
    [
        "frame",
        "frame.shape",
        "frame['a']",
        "'done'",
        "frame, model",
        "frame.head()",
        "frame.describe().T",
        "display(frame)",
        "frame.plot()",
        "frame['a'].hist()",
        "plt.show()",
        "fig, ax = plt.subplots()\nax.set_title('x')",
        "sns.heatmap(frame)",
        "frame.plot.scatter('a', 'b')",
    ],
)
def test_a_cell_that_only_displays_is_clutter(tmp_path, source):
    cells = ["import seaborn as sns\nimport matplotlib.pyplot as plt\nframe = model = 1", source]
    assert lint(tmp_path, note(), *cells, rules="NB70") == [
        ("NB701", 3, None, f"only displays: {source.splitlines()[0].strip()[:60]}")
    ]


@pytest.mark.parametrize(
    "source",
    [
        "",
        "x = frame.head()",
        "frame.head().to_csv('x.csv')",
        "fig.savefig('x.png')",
        "fig.write_image('x.png')",
        "fig.write_html('x.html')",
        "frame, 1 + 2",
        "-frame",
        "%matplotlib inline\nframe",
        "ax = grid.fit(frame)",
        "grid.fit(frame)",
        "loaders[0]()",
        "'done'.upper()",
    ],
)
def test_a_cell_that_does_something_is_not_clutter(tmp_path, source):
    cells = ["import seaborn as sns\nframe = fig = grid = g = loaders = 1", source]
    assert lint(tmp_path, note(), *cells, rules="NB70") == []


@pytest.mark.parametrize(
    "source",
    ["x = g.plot()", "h = frame.hist()", "b = frame.boxplot()", "im = g.imshow(frame)",
     "p = g.scatter(frame, frame)",
     "frame.plot(kind='bar').set_title('x')", "lines = plt.gca()"],
)  # fmt: skip
def test_a_cell_that_keeps_only_what_a_plot_returns_is_clutter(tmp_path, source):
    cells = ["import matplotlib.pyplot as plt\nframe = g = 1", source]
    assert lint(tmp_path, *cells, rules="NB70") == [("NB701", 2, None, f"only displays: {source}")]


def test_a_long_display_line_is_shown_to_60_characters(tmp_path):
    source = "frame." + "a" * 80
    assert lint(tmp_path, "frame = 1", source, rules="NB70") == [
        ("NB701", 2, None, f"only displays: {source[:60]}")
    ]


def test_outputs_over_the_size_limit_are_reported_in_kib(tmp_path):
    big = new_code_cell(
        "print(1)", execution_count=1, outputs=[new_output("stream", name="stdout", text="x" * 3000)]
    )
    cells = [note(), big]
    size = len(__import__("json").dumps(read_outputs(tmp_path, cells)).encode()) / 1024
    assert 2.9 < size < 3.1
    assert lint(tmp_path, *cells, rules="NB70", max_output_kb=2.5) == [
        ("NB702", 2, None, "stored outputs are 3 KiB (limit 2.5 KiB)")
    ]
    assert lint(tmp_path, *cells, rules="NB70", max_output_kb=size) == []  # at the limit
    assert lint(tmp_path, *cells, rules="NB70", max_output_kb=size - 0.001) != []


def read_outputs(folder: Path, cells: list[Any]) -> list[dict[str, Any]]:
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(new_notebook(cells=cells), folder / "sized.ipynb")
    return read(folder / "sized.ipynb").code[0].outputs


def test_each_random_call_is_judged_on_its_own_after_any_call_that_is_passed_over(tmp_path):
    """A cell that does not parse, **params, Keras, an unshuffled split, a non-random estimator and
    a call after numpy's seed are passed over, and the calls after them are still checked."""
    cells = (
        "import numpy as np\nimport numpy.random\nimport keras\nfrom sklearn.model_selection import KFold\n"
        "from sklearn.linear_model import Ridge\nfrom sklearn.cluster import KMeans\nparams = {}",
        "print 'no'",
        "m = KMeans(**params)\nk = keras.Sequential()\ncv = KFold(3)\nr = Ridge()\n"
        "a = numpy.random.default_rng()",
        "np.random.seed(0)\nb = KMeans(2)\nc = np.random.default_rng()",
    )
    assert randomness(tmp_path, *cells) == [
        (3, 2, KERAS_MESSAGE.format("Sequential")),
        (3, 5, "default_rng() without a seed"),
        (4, 3, "default_rng() without a seed"),
    ]


def test_a_secret_name_set_through_an_attribute_or_a_computed_key_is_left_alone(tmp_path):
    source = (
        "settings = {}\nkey = 'password'\nsettings[key] = 's3cr3t-value'\nsettings.password = 's3cr3t-value'"
    )
    assert lint(tmp_path, source, rules="NB60") == []
