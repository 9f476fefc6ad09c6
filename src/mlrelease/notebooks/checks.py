"""The rules no engine covers, written here. Each says what ruff and vulture miss.

ruff and vulture see one Python module; they know nothing of execution counts, stored outputs,
comments that hold code, the machine the notebook was written on, or which library calls are
random. Everything in this module reads the notebook itself (counts, outputs, comments, literals).
"""

from __future__ import annotations

import ast
import builtins
import io
import json
import re
import tokenize
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from mlrelease.notebooks.rules import Hit
from mlrelease.notebooks.source import CodeCell, Notebook

IPYTHON_NAMES = {"get_ipython", "display", "In", "Out", "exit", "quit", "_", "__", "___", "_i", "_ii", "_iii"}
IPYTHON_NAMES |= {"_ih", "_oh", "_dh"}
BUILTIN_NAMES = set(dir(builtins)) | IPYTHON_NAMES


# ----------------------------------------------------------------------------- execution order
# No engine reads execution counts: they live in the notebook's JSON, not in its code.


def execution_order(nb: Notebook) -> Iterator[Hit]:
    if not nb.executed:
        return  # a notebook saved without outputs (nbstripout) has no order to check
    all_counts = {c.execution_count for c in nb.code if c.execution_count is not None}
    last: tuple[CodeCell, int] | None = None  # the executed cell above, and its count
    highest: tuple[CodeCell, int] | None = None  # the executed cell above with the highest count
    seen: dict[int, CodeCell] = {}
    for cell in nb.code:
        count = cell.execution_count
        if count is None:
            if cell.source.strip():
                yield Hit(
                    "NB104", cell.index, None, f"cell {cell.number} was never run, but cells around it were"
                )
            continue
        absent = [n for n in range(last[1] + 1, count) if n not in all_counts] if last else []
        if count in seen:
            yield Hit(
                "NB101",
                cell.index,
                None,
                f"cell {cell.number} has the same execution count ({count}) as cell {seen[count].number}",
            )
        elif highest is not None and count < highest[1]:
            yield Hit(
                "NB101",
                cell.index,
                None,
                f"cell {cell.number} ran (count {count}) before cell {highest[0].number} above it "
                f"(count {highest[1]})",
            )
        elif last is None and count > 1:
            yield Hit(
                "NB102",
                cell.index,
                None,
                f"the first executed cell has count {count}: {count - 1} runs are not in the notebook",
            )
        elif last is not None and absent:
            lo, hi = absent[0], absent[-1]
            missing = f"{lo}" if lo == hi else f"{lo}-{hi}"
            yield Hit(
                "NB102",
                cell.index,
                None,
                f"execution count{'s' if lo != hi else ''} {missing} missing between cell {last[0].number} "
                f"and cell {cell.number}: cells were re-run or deleted",
            )
        seen[count] = cell
        last = (cell, count)
        if highest is None or count > highest[1]:
            highest = (cell, count)


def error_outputs(nb: Notebook) -> Iterator[Hit]:
    for cell in nb.code:
        for out in cell.outputs:
            if out.get("output_type") == "error":
                yield Hit(
                    "NB105",
                    cell.index,
                    None,
                    f"stored error: {out['ename']}: {out['evalue']}"[:300],  # both required by nbformat
                )


def syntax_errors(nb: Notebook) -> Iterator[Hit]:
    for cell in nb.code:
        if cell.syntax_error:
            line = int(m.group(1)) if (m := re.match(r"line (\d+)", cell.syntax_error)) else None
            yield Hit("NB107", cell.index, line, f"not valid Python: {cell.syntax_error}")


# ----------------------------------------------------------------------------- hidden state
# pyflakes (ruff F821) sees "undefined name" only; it cannot tell a name that no cell defines
# from one that a cell *below* defines, which is the out-of-order state this rule is about.


class _Flow(ast.NodeVisitor):
    """Visits a cell in execution order, recording loads and stores of module-level names."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, int]] = []  # (kind, name, line)

    def _store(self, name: str, line: int) -> None:
        self.events.append(("store", name, line))

    def visit_Name(self, node: ast.Name) -> None:
        kind = "load" if isinstance(node.ctx, ast.Load) else "store"
        self.events.append((kind, node.id, node.lineno))

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for t in node.targets:
            self.visit(t)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
            self.visit(node.target)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.target, ast.Name):
            self.events.append(("load", node.target.id, node.lineno))
        self.visit(node.value)
        self.visit(node.target)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self.visit(node.target)

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self.visit(node.iter)
        self.visit(node.target)
        for stmt in [*node.body, *node.orelse]:
            self.visit(stmt)

    visit_AsyncFor = visit_For

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self.visit(item.optional_vars)
        for stmt in node.body:
            self.visit(stmt)

    visit_AsyncWith = visit_With

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name == "*":
                self.events.append(("star", "*", node.lineno))
            else:
                self._store((alias.asname or alias.name).split(".")[0], node.lineno)

    visit_ImportFrom = visit_Import

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        # decorators and defaults run now; the body runs when the function is called
        for d in getattr(node, "decorator_list", []):
            self.visit(d)
        for d in [*node.args.defaults, *node.args.kw_defaults]:
            if d is not None:
                self.visit(d)
        if not isinstance(node, ast.Lambda):
            self._store(node.name, node.lineno)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._function(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._function(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for d in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]:
            self.visit(d)
        inner = _Flow()
        for stmt in node.body:
            inner.visit(stmt)
        self._outer_loads(inner)
        self._store(node.name, node.lineno)

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp) -> None:
        inner = _Flow()
        for gen in node.generators:
            inner.visit(gen.iter)
            inner.visit(gen.target)
            for cond in gen.ifs:
                inner.visit(cond)
        if isinstance(node, ast.DictComp):
            inner.visit(node.key)
            inner.visit(node.value)
        else:
            inner.visit(node.elt)
        self._outer_loads(inner)

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _comprehension

    def _outer_loads(self, inner: _Flow) -> None:
        """Names a nested scope (class body, comprehension) reads from outside it: the loads of
        names it has not stored itself by then."""
        local = set()
        for kind, name, line in inner.events:
            if kind == "store":
                local.add(name)
            elif kind == "load" and name not in local:
                self.events.append((kind, name, line))

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:
            self.visit(node.type)
        if node.name:
            self._store(node.name, node.lineno)
        for stmt in node.body:
            self.visit(stmt)

    def visit_Global(self, node: ast.Global) -> None:
        return


def module_names(nb: Notebook) -> dict[int, list[tuple[str, str, int]]]:
    """Per code cell (by index): its loads and stores of module-level names, in execution order."""
    flows = {}
    for cell in nb.code:
        flow = _Flow()
        if cell.tree is not None:
            for stmt in cell.tree.body:
                flow.visit(stmt)
        flows[cell.index] = flow.events
    return flows


def hidden_state(nb: Notebook, flows: dict[int, list[tuple[str, str, int]]]) -> Iterator[Hit]:
    stored_in: dict[str, list[int]] = {}  # name: the cells that bind it, top to bottom
    for cell in nb.code:
        for kind, name, _ in flows[cell.index]:
            if kind == "store" and cell.index not in stored_in.setdefault(name, []):
                stored_in[name].append(cell.index)
    if any(kind == "star" for events in flows.values() for kind, _, _ in events):
        return  # `from x import *` defines names no one can list
    defined = set(BUILTIN_NAMES)
    for cell in nb.code:
        reported: set[str] = set()
        for kind, name, line in flows[cell.index]:
            if kind == "store":
                defined.add(name)
            elif kind == "load" and name not in defined and name not in reported:
                # the first cell below that binds it: `rows += [2]` reads rows before binding it
                later = next((i for i in stored_in.get(name, []) if i > cell.index), None)
                if later is not None:
                    reported.add(name)
                    yield Hit(
                        "NB103",
                        cell.index,
                        line,
                        f"'{name}' is used here but first defined in cell {later + 1} below",
                        name,
                    )


# ----------------------------------------------------------------------------- commented-out code
# Neither ruff nor vulture reads comments as code in notebooks (ruff's ERA001 exists but is a
# regex heuristic that flags prose such as "# Note: important" and URLs; we parse each comment).

_NOT_CODE_PREFIX = re.compile(r"^(?:mlrelease:|noqa|type:|pragma|fmt:|isort:|pylint:|ruff:|-\*-|!|%)", re.I)
_BLOCK_HEAD = re.compile(r"^(?:if|elif|for|while|with|def|class|try|except|finally|else)\b.*:$")


def is_code_comment(text: str) -> bool:
    """Whether the text of a comment (without '#') is a Python statement rather than prose.

    Extra hashes are part of the marker: ``##print(x)`` is ``print(x)`` switched off twice."""
    body = text.strip().lstrip("#").strip()
    if not body or _NOT_CODE_PREFIX.match(body):
        return False
    # a block head ("for row in rows:") is a statement once it has a body; a lone "else:",
    # "try:" or "finally:" has none to complete it and stays prose
    candidate = body + "\n    pass" if _BLOCK_HEAD.match(body) else body
    try:
        tree = ast.parse(candidate)
    except (SyntaxError, ValueError):
        return False
    # "# x = load(); x.head()" is two statements switched off at once
    return bool(tree.body) and all(_code_like(stmt) for stmt in tree.body)


def _code_like(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Expr):
        # "# see df" or "# not ready" parse as expressions; only calls, attributes and subscripts
        # ("# df.head()", "# model.fit(X, y)") are code-like enough
        return isinstance(stmt.value, ast.Call | ast.Attribute | ast.Subscript | ast.Await)
    # "Note: important" parses as an annotation without a value
    return not (isinstance(stmt, ast.AnnAssign) and stmt.value is None)


def comments(cell: CodeCell) -> Iterator[tuple[int, str]]:
    """(line, text after '#') of each comment that is alone on its line (not '#' inside strings).

    A trailing comment (``model = fit(X, y)  # model = fit(X)``) sits on live code: the line is
    code whatever the comment says, so it is never commented-out code."""
    if cell.tree is None:
        return
    try:
        for tok in tokenize.generate_tokens(io.StringIO(cell.python).readline):
            if tok.type == tokenize.COMMENT and tok.line[: tok.start[1]].strip() == "":
                yield tok.start[0], tok.string[1:]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return


def commented_out_lines(cell: CodeCell) -> list[int]:
    return [line for line, text in comments(cell) if is_code_comment(text)]


def commented_out(nb: Notebook) -> Iterator[Hit]:
    for cell in nb.code:
        lines = commented_out_lines(cell)
        # one finding per block of consecutive commented-out lines
        block: list[int] = []
        for line in [*lines, None]:
            if line is not None and (not block or line == block[-1] + 1):
                block.append(line)
                continue
            if block:
                n = len(block)
                what = "line" if n == 1 else f"{n} lines"
                yield Hit(
                    "NB201",
                    cell.index,
                    block[0],
                    f"commented-out code ({what}): {cell.lines[block[0] - 1].strip()[:80]}",
                )
            block = [line] if line is not None else []


# ----------------------------------------------------------------------------- environment leaks
# Engines check Python; installs live in shell lines and magics, and paths live in string literals
# whose meaning (this is a file on someone's laptop) no linter knows.

_INSTALL = re.compile(
    r"\b(?:pip3?|conda|mamba|micromamba|apt(?:-get)?|brew)\s+(?:-\S+\s+)*install\b|\buv\s+(?:pip\s+install|add)\b|\bpoetry\s+add\b"
)
_ABSOLUTE = re.compile(
    r"^(?:/home/|/Users/|/root/|/mnt/|/media/|/Volumes/|/content/|/kaggle/|~[/\\]|[A-Za-z]:[\\/])"
)
# calls that make a ``~/...`` path mean "this user's home" on whichever machine runs the code
_HOME_CALLS = frozenset({"expanduser", "expandvars"})


def environment_leaks(nb: Notebook, root: Path | None) -> Iterator[Hit]:
    for cell in nb.code:
        shell_lines = {m.line for m in cell.magics if m.kind in {"shell", "line-magic"}}
        for n, text in enumerate(cell.lines, 1):
            if (
                cell.shell_cell or n in shell_lines or "os.system" in text or "subprocess" in text
            ) and _INSTALL.search(text):
                yield Hit(
                    "NB401", cell.index, n, f"installs packages from the notebook: {text.strip()[:100]}"
                )
        for lit, line in _string_literals(cell):
            if _ABSOLUTE.match(lit):
                yield Hit("NB402", cell.index, line, f"absolute local path '{lit[:120]}'")
            elif root is not None and _looks_relative_path(lit):
                # "..\\data\\x.csv" written on Windows leaves the folder on every system
                target = (nb.path.parent / lit.replace("\\", "/")).resolve()
                try:
                    target.relative_to(root.resolve())
                except ValueError:
                    yield Hit(
                        "NB403",
                        cell.index,
                        line,
                        f"'{lit}' resolves to {target}, outside the repository {root}",
                    )


def _string_literals(cell: CodeCell) -> Iterator[tuple[str, int]]:
    """String literals of the cell, except a ``~`` path expanded for the running user:
    ``os.path.expanduser("~/.cache")`` and ``Path("~/.cache").expanduser()`` exist everywhere."""
    if cell.tree is None:
        return
    home: set[int] = set()
    for node in ast.walk(cell.tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name in _HOME_CALLS:
            home.update(id(a) for a in node.args)
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call):
                home.update(id(a) for a in func.value.args)  # Path("~/x").expanduser()
    for node in ast.walk(cell.tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in home:
            yield node.value, node.lineno


def _looks_relative_path(text: str) -> bool:
    return text.startswith("..") and ("/" in text or "\\" in text) and "\n" not in text and len(text) < 400


# ----------------------------------------------------------------------------- non-determinism
# No linter knows which library calls draw random numbers; this table does. scikit-learn names are
# the estimators and functions whose randomness is on by default (from sklearn.utils.all_estimators
# and the model_selection/datasets functions with a random_state parameter), minus those that
# are deterministic with their defaults (Ridge, LogisticRegression(lbfgs), PCA on small data, ...).

SKLEARN_RANDOM = frozenset(
    [
        "AdaBoostClassifier",
        "AdaBoostRegressor",
        "BaggingClassifier",
        "BaggingRegressor",
        "BayesianGaussianMixture",
        "BernoulliRBM",
        "BisectingKMeans",
        "DecisionTreeClassifier",
        "DecisionTreeRegressor",
        "DictionaryLearning",
        "ExtraTreeClassifier",
        "ExtraTreeRegressor",
        "ExtraTreesClassifier",
        "ExtraTreesRegressor",
        "FactorAnalysis",
        "FastICA",
        "GaussianMixture",
        "GaussianRandomProjection",
        "GradientBoostingClassifier",
        "GradientBoostingRegressor",
        "GroupShuffleSplit",
        "HalvingGridSearchCV",
        "HalvingRandomSearchCV",
        "HistGradientBoostingClassifier",
        "HistGradientBoostingRegressor",
        "IsolationForest",
        "KMeans",
        "LatentDirichletAllocation",
        "MLPClassifier",
        "MLPRegressor",
        "MiniBatchDictionaryLearning",
        "MiniBatchKMeans",
        "MiniBatchNMF",
        "MiniBatchSparsePCA",
        "Nystroem",
        "ParameterSampler",
        "PassiveAggressiveClassifier",
        "PassiveAggressiveRegressor",
        "Perceptron",
        "RANSACRegressor",
        "RBFSampler",
        "RandomForestClassifier",
        "RandomForestRegressor",
        "RandomTreesEmbedding",
        "RandomizedSearchCV",
        "RepeatedKFold",
        "RepeatedStratifiedKFold",
        "SGDClassifier",
        "SGDOneClassSVM",
        "SGDRegressor",
        "ShuffleSplit",
        "SparsePCA",
        "SparseRandomProjection",
        "SpectralClustering",
        "SpectralEmbedding",
        "StratifiedShuffleSplit",
        "TSNE",
        "TargetEncoder",
        "TheilSenRegressor",
        "TruncatedSVD",
        "k_means",
        "kmeans_plusplus",
        "make_blobs",
        "make_classification",
        "make_regression",
        "make_moons",
        "make_circles",
        "permutation_importance",
        "resample",
        "shuffle",
        "train_test_split",
    ]
)
SKLEARN_IF_SHUFFLE = frozenset({"KFold", "StratifiedKFold", "GroupKFold", "StratifiedGroupKFold"})
NUMPY_LEGACY = frozenset(
    [
        "rand",
        "randn",
        "randint",
        "random",
        "random_sample",
        "choice",
        "shuffle",
        "permutation",
        "normal",
        "uniform",
        "binomial",
        "poisson",
        "exponential",
        "beta",
        "gamma",
        "standard_normal",
        "multivariate_normal",
        "lognormal",
    ]
)
STDLIB_RANDOM = frozenset(
    [
        "random",
        "randint",
        "randrange",
        "choice",
        "choices",
        "shuffle",
        "sample",
        "uniform",
        "gauss",
        "normalvariate",
    ]
)
TORCH_RANDOM = frozenset(
    ["rand", "randn", "randint", "randperm", "rand_like", "randn_like", "normal", "bernoulli", "multinomial"]
)


KERAS_SEEDS = frozenset(
    {
        "tensorflow.random.set_seed",
        "tensorflow.set_random_seed",
        "tensorflow.compat.v1.set_random_seed",
        "tensorflow.keras.utils.set_random_seed",
        "keras.utils.set_random_seed",
    }
)
# what builds a network with randomly initialised weights
KERAS_MODELS = frozenset({"Sequential", "Model", "Functional"})


def _is_keras_model(q: str) -> bool:
    """A call that creates Keras weights: a model, or any layer (``layers.Dense``, ``keras.layers.LSTM``)."""
    if not q.startswith(("keras.", "tensorflow.keras.", "tf_keras.")):
        return False
    head, _, last = q.rpartition(".")
    return last in KERAS_MODELS or (head.endswith(".layers") and last[:1].isupper())


def _aliases(nb: Notebook) -> dict[str, str]:
    """Local name -> qualified name, from every import in the notebook."""
    out: dict[str, str] = {}
    for cell in nb.code:
        if cell.tree is None:
            continue
        for node in ast.walk(cell.tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        out[a.asname] = a.name
                    else:
                        out[a.name.split(".")[0]] = a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for a in node.names:
                    out[a.asname or a.name] = f"{node.module}.{a.name}"
    return out


def qualified(func: ast.expr, aliases: dict[str, str]) -> str | None:
    parts: list[str] = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if not isinstance(func, ast.Name) or func.id not in aliases:
        return None
    return ".".join([aliases[func.id], *reversed(parts)])


# numpy's seedable sources and the name of their seed argument (also the first positional one)
NUMPY_SEEDABLE = {
    "numpy.random.default_rng": "seed",
    "numpy.random.RandomState": "seed",
    "numpy.random.PCG64": "seed",
    "numpy.random.PCG64DXSM": "seed",
    "numpy.random.MT19937": "seed",
    "numpy.random.SFC64": "seed",
    "numpy.random.SeedSequence": "entropy",
}


def _kw(call: ast.Call, name: str) -> ast.expr | None:
    for k in call.keywords:
        if k.arg == name:
            return k.value
    return None


def _is_none(node: ast.expr | None) -> bool:
    return node is None or (isinstance(node, ast.Constant) and node.value is None)


def nondeterminism(nb: Notebook) -> Iterator[Hit]:
    aliases = _aliases(nb)
    calls: list[tuple[CodeCell, ast.Call, str]] = []
    for cell in nb.code:
        if cell.tree is None:
            continue
        for node in ast.walk(cell.tree):
            if isinstance(node, ast.Call):
                q = qualified(node.func, aliases)
                if q:
                    calls.append((cell, node, q))
    seeded = {
        "numpy": any(q in {"numpy.random.seed"} for _, _, q in calls),
        "random": any(q == "random.seed" for _, _, q in calls),
        "torch": any(q in {"torch.manual_seed", "torch.random.manual_seed"} for _, _, q in calls),
        "keras": any(q in KERAS_SEEDS for _, _, q in calls),
    }
    # scikit-learn's random_state=None draws from numpy's global generator: a call that starts after
    # the seed's call has ended (a later cell, a later line, or later on the same line) repeats
    numpy_seeded_at = min(
        (
            (c.index, n.end_lineno or n.lineno, n.end_col_offset or 0)
            for c, n, q in calls
            if q == "numpy.random.seed"
        ),
        default=None,
    )
    reported_module: set[str] = set()
    for cell, call, q in sorted(calls, key=lambda c: (c[0].index, c[1].lineno)):
        if any(k.arg is None for k in call.keywords):
            continue  # **params: the seed may be in there
        head, _, last = q.rpartition(".")
        if _is_keras_model(q):
            if not seeded["keras"] and "keras" not in reported_module:
                reported_module.add("keras")
                yield Hit(
                    "NB501",
                    cell.index,
                    call.lineno,
                    f"Keras/TensorFlow {last}(...) and no tf.random.set_seed(...) or "
                    "keras.utils.set_random_seed(...) in the notebook: weights start random",
                )
            continue
        if q.startswith("sklearn."):
            if numpy_seeded_at is not None and numpy_seeded_at < (cell.index, call.lineno, call.col_offset):
                continue
            random_state = _kw(call, "random_state")
            if last in SKLEARN_IF_SHUFFLE:
                shuffle = _kw(call, "shuffle")
                if not (isinstance(shuffle, ast.Constant) and shuffle.value is True):
                    continue
            elif last not in SKLEARN_RANDOM:
                continue
            if _is_none(random_state):
                yield Hit("NB501", cell.index, call.lineno, f"{last}(...) without random_state")
        elif q in NUMPY_SEEDABLE:
            # Generator(bit_generator) is seeded by its bit generator, which is checked on its own
            seed = call.args[0] if call.args else _kw(call, NUMPY_SEEDABLE[q])
            if _is_none(seed):
                yield Hit("NB501", cell.index, call.lineno, f"{last}() without a seed")
        elif (
            head == "numpy.random"
            and last in NUMPY_LEGACY
            and not seeded["numpy"]
            and "numpy" not in reported_module
        ):
            reported_module.add("numpy")
            yield Hit(
                "NB501",
                cell.index,
                call.lineno,
                f"np.random.{last}() and no np.random.seed(...) in the notebook",
            )
        elif (
            head == "random"
            and last in STDLIB_RANDOM
            and not seeded["random"]
            and "random" not in reported_module
        ):
            reported_module.add("random")
            yield Hit(
                "NB501",
                cell.index,
                call.lineno,
                f"random.{last}() and no random.seed(...) in the notebook",
            )
        elif (
            head == "torch"
            and last in TORCH_RANDOM
            and not seeded["torch"]
            and "torch" not in reported_module
        ):
            reported_module.add("torch")
            yield Hit(
                "NB501",
                cell.index,
                call.lineno,
                f"torch.{last}() and no torch.manual_seed(...) in the notebook",
            )


# ----------------------------------------------------------------------------- secrets
# ruff's flake8-bandit S105/S106 flag only assignments to names like "password"; they miss
# provider key formats in any position and cannot read outputs at all.

_SECRET_FORMATS = [
    ("AWS access key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b")),
    ("Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b")),
    # sk-... must mix digits and capitals: scikit-learn's HTML has CSS classes like sk-toggleable__label
    ("OpenAI/Anthropic key", re.compile(r"(?<![\w-])sk-(?=[\w-]*\d)(?=[\w-]*[A-Z])[A-Za-z0-9_\-]{20,}")),
    ("Hugging Face token", re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")),
    ("private key", re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----")),
    ("password in a URL", re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:([^/\s:@]{4,})@")),
]
_SECRET_NAME = re.compile(
    r"(?i)(?:password|passwd|pwd|secret|api_?key|apikey|access_?key|auth_?token|token)$"
)
_PLACEHOLDER = re.compile(
    r"(?i)^(?:<.*>|\$\{?.*|x{3,}.*|\*+|your[_-].*|change_?me|dummy|example|test|none|null|\.\.\.)$"
)


def _redact(value: str) -> str:
    return value[:4] + "…" if len(value) > 8 else "…"


def find_secrets(text: str) -> Iterator[tuple[str, str]]:
    """(kind, redacted value) of each known key/token format in ``text``."""
    for kind, pattern in _SECRET_FORMATS:
        for m in pattern.finditer(text):
            value = m.group(1) if pattern.groups else m.group(0)
            yield kind, _redact(value)


def secrets(nb: Notebook) -> Iterator[Hit]:
    for cell in nb.code:
        for n, text in enumerate(cell.lines, 1):
            for kind, shown in find_secrets(text):
                yield Hit("NB601", cell.index, n, f"{kind} in the code ({shown})")
        if cell.tree is not None:
            for node in ast.walk(cell.tree):
                for name, value, line in _named_literals(node):
                    if (
                        _SECRET_NAME.search(name)
                        and _credible(value)
                        and not any(True for _ in find_secrets(value))
                    ):
                        yield Hit(
                            "NB601",
                            cell.index,
                            line,
                            f"'{name}' is set to a literal ({_redact(value)})",
                        )
        for out in cell.outputs:
            for kind, shown in find_secrets(_output_text(out)):
                yield Hit("NB602", cell.index, None, f"{kind} in the stored output ({shown})")


def _named_literals(node: ast.AST) -> Iterator[tuple[str, str, int]]:
    """(name, string literal, line) of each name or key set to a string literal in ``node``."""
    if (
        isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    ):
        for t in node.targets:
            if isinstance(t, ast.Name):
                yield t.id, node.value.value, node.lineno
            elif (
                isinstance(t, ast.Subscript)
                and isinstance(t.slice, ast.Constant)
                and isinstance(t.slice.value, str)
            ):
                yield t.slice.value, node.value.value, node.lineno  # os.environ["API_KEY"] = "..."
    elif isinstance(node, ast.Call):
        for k in node.keywords:
            if k.arg and isinstance(k.value, ast.Constant) and isinstance(k.value.value, str):
                yield k.arg, k.value.value, node.lineno


def _credible(value: str) -> bool:
    return len(value) >= 8 and " " not in value and not _PLACEHOLDER.match(value)


def _output_text(out: Mapping[str, Any]) -> str:
    """The text an output shows. nbformat joins multi-line strings on reading and requires an
    error's ``evalue``; JSON data (application/json, ...) stays a structure and is read as JSON."""
    parts = []
    if "text" in out:
        parts.append(str(out["text"]))
    for mime, value in (out.get("data") or {}).items():
        if mime.startswith("text/") or mime.endswith("json"):
            parts.append(value if isinstance(value, str) else json.dumps(value))
    if out.get("output_type") == "error":
        parts.append(str(out["evalue"]))
    return "\n".join(parts)


# ----------------------------------------------------------------------------- clutter
# "Only displays something" is a judgement about a whole cell in a notebook context; a linter for
# modules sees a useless expression at most (ruff B018), and never a plot.

DISPLAY_METHODS = frozenset(
    [
        "head",
        "tail",
        "describe",
        "info",
        "sample",
        "value_counts",
        "nunique",
        "unique",
        "corr",
        "cov",
        "dtypes",
        "shape",
        "columns",
        "isna",
        "isnull",
        "plot",
        "hist",
        "boxplot",
        "scatter",
        "imshow",
        "bar",
        "barh",
        "pie",
        "heatmap",
        "pairplot",
        "show",
        "display",
        "to_string",
    ]
)
PLOT_MODULES = ("matplotlib", "seaborn", "plotly", "altair", "bokeh")
# names matplotlib examples give figures and axes; "g" and "grid" are left out: they name grid
# searches (``grid.fit(X, y)``) as often as seaborn grids
PLOT_NAMES = frozenset({"fig", "ax", "axes", "axs"})


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _chain_attrs(node: ast.expr) -> list[str]:
    attrs = []
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        if isinstance(node, ast.Attribute):
            attrs.append(node.attr)
        node = node.func if isinstance(node, ast.Call) else node.value
    return attrs


def _is_plot_expr(node: ast.expr, plot_names: set[str]) -> bool:
    attrs = _chain_attrs(node)
    if "savefig" in attrs or "write_image" in attrs or "write_html" in attrs:
        return False  # writes a file: an artifact, not a display
    root = _root_name(node)
    return root in plot_names or any(a in {"plot", "hist", "boxplot", "imshow", "scatter"} for a in attrs)


def _is_display_stmt(stmt: ast.stmt, plot_names: set[str]) -> bool:
    if isinstance(stmt, ast.Expr):
        v = stmt.value
        if isinstance(v, ast.Name | ast.Attribute | ast.Subscript | ast.Constant):
            return True
        if isinstance(v, ast.Tuple):
            return all(isinstance(e, ast.Name | ast.Attribute | ast.Subscript) for e in v.elts)
        if isinstance(v, ast.Call):
            if isinstance(v.func, ast.Name) and v.func.id == "display":
                return True
            if _is_plot_expr(v, plot_names):
                return True
            attrs = _chain_attrs(v)
            return bool(attrs) and attrs[0] in DISPLAY_METHODS
        return False
    if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call):
        return _is_plot_expr(stmt.value, plot_names)
    return False


def plot_names(nb: Notebook) -> set[str]:
    names = set(PLOT_NAMES)
    for local, q in _aliases(nb).items():
        if q.split(".")[0] in PLOT_MODULES:
            names.add(local)
    return names


def is_display_only(cell: CodeCell, plots: set[str]) -> bool:
    """True when every statement of the cell only shows something (no state the rest needs)."""
    if cell.tree is None or not cell.tree.body or cell.magics:
        return False
    return all(_is_display_stmt(s, plots) for s in cell.tree.body)


def clutter(nb: Notebook, max_output_kb: float) -> Iterator[Hit]:
    plots = plot_names(nb)
    for cell in nb.code:
        if is_display_only(cell, plots):
            yield Hit("NB701", cell.index, None, f"only displays: {cell.lines[0].strip()[:60]}")
        size = len(json.dumps(cell.outputs).encode("utf-8")) / 1024
        if size > max_output_kb:
            yield Hit(
                "NB702", cell.index, None, f"stored outputs are {size:,.0f} KiB (limit {max_output_kb:g} KiB)"
            )
