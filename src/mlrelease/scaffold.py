"""``mlrelease init``: propose an ``mlrelease.yaml`` for a handoff folder by looking at what is there.

Init proposes; it does not guess. Every choice it makes comes with the reason and the other
candidates it saw, both in the written file (as comments) and on stderr. Where the folder holds
several candidates and no clear rule picks one (three model files, a ``val`` and a ``test`` table,
two requirements files), it stops with exit 2, lists them and names the option that settles it.

The rules, in order:

- Model: every ``.skops``/``.joblib``/``.pkl``/``.pickle``/``.onnx`` file, except those under a
  ``baseline/`` folder (the model in production that the gate compares against). One left: taken.
  More: ``--model`` decides.
- Validation data: a ``.csv``/``.parquet`` table whose path has a word ``val``, ``valid``,
  ``validation``, ``test``, ``holdout`` or ``eval``. A path with ``train``/``training`` is never
  validation data; it is reference data (the training distribution that drift and the outlier
  guard compare against), as is one named ``reference``/``ref``, which wins over ``train``.
- Requirements: ``requirements*.in``/``.txt`` at the root or in ``env/``, ``requirements/``,
  ``environment/``, ``deps/``, ``docker/`` and a few more, leaving out dev, test, docs and lint
  lists. A ``.in`` beside a ``.txt`` is the input and the ``.txt`` its lock. The lock always goes
  to a file that is only ever a lock: never the input, never a file ``mlrelease lock`` did not write.
- Gate: a regressor gates on RMSE; a classifier on balanced accuracy, with ROC AUC and log loss
  when the model gives probabilities (accuracy alone hides a model that ignores the rare class).
- skops types outside skops' trusted set are listed as commented ``trusted_types`` for the user
  to review; init never trusts them. joblib and pickle files need ``--allow-pickle``.

The file is written only when it does not exist yet (atomically, never replacing one) and only
after the same validation ``mlrelease config validate`` runs has passed on it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlrelease import artifacts
from mlrelease.config import CONFIG_NAME, FORMAT_BY_SUFFIX
from mlrelease.errors import ConfigError, Problem, UsageError

TARGET_NAMES = ("target", "label", "y", "price", "class", "outcome", "score")
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".ipynb_checkpoints", "site-packages"}
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
VALIDATION_WORDS = {"val", "valid", "validation", "test", "holdout", "eval", "evaluation"}
TRAIN_WORDS = {"train", "training"}
REFERENCE_WORDS = {"reference", "ref"}
BASELINE_DIRS = {"baseline", "baselines"}
OWN_OUTPUTS = {"predictions", "golden"}  # what `mlrelease evaluate` writes, never handoff data
REQUIREMENT_DIRS = (
    "",
    "env",
    "envs",
    "environment",
    "requirements",
    "deps",
    "dependencies",
    "docker",
    "binder",
)
NOT_RUNTIME_WORDS = {"dev", "test", "tests", "testing", "doc", "docs", "lint", "ci", "build", "lock"}
OTHER_ENV_FILES = (
    "pyproject.toml",
    "environment.yml",
    "environment.yaml",
    "Pipfile",
    "setup.py",
    "poetry.lock",
)


@dataclass(frozen=True)
class Choice:
    """One value init chose, why, and what else it saw."""

    key: str
    value: str
    reason: str
    alternatives: tuple[str, ...] = ()

    def render(self) -> str:
        text = f"{self.key}: {self.value} ({self.reason})"
        if self.alternatives:
            text += "; also seen: " + ", ".join(self.alternatives)
        return text


@dataclass
class Proposal:
    """What init found, and the ``mlrelease.yaml`` it proposes."""

    name: str
    task: str
    artifact: str | None
    entrypoint: str | None
    target: str | None
    notebooks: list[str]
    requirements: str | None
    lock: str | None
    validation: str | None
    reference: str | None
    allow_pickle: bool = False
    sha256: str | None = None
    untrusted_types: list[str] = field(default_factory=list)
    choices: list[Choice] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def why(self, key: str) -> Choice | None:
        return next((c for c in self.choices if c.key == key), None)

    def gate_metrics(self) -> dict[str, dict[str, Any]]:
        if self.task == "regression":
            return {"root_mean_squared_error": {"max_regression": "2%"}}
        return {
            "balanced_accuracy_score": {"max_regression": "2%"},
            "roc_auc_score": {"max_regression": "1%", "optional": True},
            "log_loss": {"max_regression": "5%", "optional": True},
        }

    def data(self, *, trust_listed_types: bool = False) -> dict[str, Any]:
        """The config as data: what the written YAML must load back as."""
        model: dict[str, Any] = {"name": self.name, "task": self.task}
        if self.artifact:
            model["artifact"] = self.artifact
        if self.entrypoint:
            model["entrypoint"] = self.entrypoint
        if self.allow_pickle:
            model["allow_pickle"] = True
            model["sha256"] = self.sha256
        if self.target:
            model["target"] = self.target
        if trust_listed_types and self.untrusted_types:
            model["trusted_types"] = list(self.untrusted_types)
        out: dict[str, Any] = {"version": 1, "model": model}
        if self.notebooks:
            out["notebooks"] = list(self.notebooks)
        if self.requirements:
            out["requirements"] = self.requirements
            out["lock"] = self.lock
        if self.validation:
            out["validation"] = {"data": self.validation}
            if self.reference:
                out["validation"]["reference"] = self.reference
        out["gate"] = {"metrics": self.gate_metrics()}
        return out

    def to_yaml(self, *, trust_listed_types: bool = False) -> str:
        """The YAML text, every choice commented; it loads back as exactly ``data()``."""
        data = self.data(trust_listed_types=trust_listed_types)
        out = [
            "# The handoff contract of this model, proposed by `mlrelease init`: review each choice.",
            "# Reference: schemas/mlrelease.schema.json (`mlrelease config schema`)",
            "version: 1",
            "model:",
        ]
        model = data["model"]
        for key, value in model.items():
            if key == "trusted_types":
                continue
            out += self._comment(f"model.{key}", "  ")
            out.append(f"  {key}: {_scalar(value)}")
        if self.untrusted_types:
            out += _comment_lines(
                "skops refuses to load these types until they are trusted. Review each one (is it "
                "code you expect in this model?) and uncomment the ones you trust:",
                "  ",
            )
            prefix = "  " if trust_listed_types else "  # "
            out.append(f"{prefix}trusted_types:")
            out += [f"{prefix}  - {_scalar(t)}" for t in self.untrusted_types]
        if "notebooks" in data:
            out += self._comment("notebooks", "")
            out.append("notebooks:")
            out += [f"  - {_scalar(p)}" for p in data["notebooks"]]
        if "requirements" in data:
            out += self._comment("requirements", "")
            out.append(f"requirements: {_scalar(data['requirements'])}")
            out += self._comment("lock", "")
            out.append(f"lock: {_scalar(data['lock'])}")
        else:
            out += _comment_lines(
                "No requirements file found: `mlrelease lock` needs one. List the packages the "
                "model needs in requirements.in, then set:",
                "",
            )
            out += ["# requirements: requirements.in", "# lock: requirements.txt"]
        if "validation" in data:
            out.append("validation:")
            out += self._comment("validation.data", "  ")
            out.append(f"  data: {_scalar(data['validation']['data'])}")
            if "reference" in data["validation"]:
                out += self._comment("validation.reference", "  ")
                out.append(f"  reference: {_scalar(data['validation']['reference'])}")
            else:
                out += _comment_lines(
                    "No reference data found. The training data (or a sample of it) is what drift "
                    "and the outlier guard compare against; add it as:",
                    "  ",
                )
                out.append("  # reference: data/train.parquet")
        out += ["gate:", "  metrics:"]
        if self.task == "classification":
            out += _comment_lines(
                "Balanced accuracy and ROC AUC hold up under class imbalance, where accuracy alone "
                "passes a model that never predicts the rare class. ROC AUC and log loss need the "
                "model's probabilities (predict_proba); without them they are skipped.",
                "    ",
            )
        for metric, rule in data["gate"]["metrics"].items():
            inner = ", ".join(f"{k}: {_scalar(v)}" for k, v in rule.items())
            out.append(f"    {metric}: {{{inner}}}")
        text = "\n".join(out) + "\n"
        loaded = yaml.safe_load(text)
        if loaded != data:  # a rendering bug must never reach the user's folder
            raise AssertionError(f"init rendered YAML that does not load back as intended:\n{text}")
        return text

    def _comment(self, key: str, indent: str) -> list[str]:
        choice = self.why(key)
        if choice is None:
            return []
        text = choice.reason
        if choice.alternatives:
            text += "; also seen: " + ", ".join(choice.alternatives)
        return _comment_lines(text, indent)


def _scalar(value: Any) -> str:
    """One YAML scalar, quoted when YAML needs it (``'*.ipynb'``, ``'yes'``, ``'a: b'``)."""
    text = yaml.safe_dump(value, allow_unicode=True, width=1 << 30, default_flow_style=True)
    text = text.removesuffix("\n").removesuffix("\n...").rstrip("\n")
    if "\n" in text:  # a value with a line break: the JSON form is a valid YAML double-quoted scalar
        import json

        text = json.dumps(value, ensure_ascii=True)
    return text


def _comment_lines(text: str, indent: str) -> list[str]:
    text = " ".join(text.split())  # a file name with a line break must not end the comment
    return [f"{indent}# {line}" for line in textwrap.wrap(text, width=96 - len(indent))]


# ----------------------------------------------------------------------------- looking around


def _walk(root: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Files with these suffixes under ``root``, sorted, never one that resolves outside it."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.lower().endswith(suffixes) and _inside(path, root):
                found.append(path)
    return found


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
    except (ValueError, OSError):
        return False
    return True


def _words(rel: str) -> set[str]:
    """The words of a relative path, folders included: ``data/X_val-2024.parquet`` has ``val``."""
    stem = rel.rsplit(".", 1)[0].lower()
    return {w for w in re.split(r"[^a-z0-9]+|(?<=[a-z])(?=[0-9])|(?<=[0-9])(?=[a-z])", stem) if w}


def _parts(rel: str) -> set[str]:
    return {p.lower() for p in rel.split("/")[:-1]}


def dns_name(text: str) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:63].strip("-")
    return name or "model"


def infer_task(series: Any) -> str:
    import pandas as pd

    series = series.dropna()
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    distinct = series.nunique()
    regression = numeric and (pd.api.types.is_float_dtype(series) or distinct > max(20, len(series) // 20))
    return "regression" if regression else "classification"


def infer_target(frame: Any) -> tuple[str, str]:
    """Guess the target column and the task from the data; the reason goes into the notes."""
    cols = list(frame.columns)
    by_lower = {str(c).lower(): c for c in cols}
    target = next((by_lower[n] for n in TARGET_NAMES if n in by_lower), None)
    if target is None:
        target = next(
            (c for c in cols if re.search(r"(^|_)(target|label|price)($|_)", str(c).lower())), cols[-1]
        )
    return str(target), infer_task(frame[target])


def _read_head(path: Path, rows: int = 5000) -> Any:
    import pandas as pd

    if path.suffix.lower() == ".csv":
        return pd.read_csv(path, nrows=rows)
    import pyarrow.parquet as pq

    batches = pq.ParquetFile(path).iter_batches(batch_size=rows)
    first = next(batches, None)
    return first.to_pandas() if first is not None else pd.DataFrame()


@dataclass(frozen=True)
class Options:
    """What the user settled on the command line; None where init should look."""

    model: Path | None = None
    entrypoint: str | None = None
    data: Path | None = None
    reference: Path | None = None
    requirements: Path | None = None
    target: str | None = None
    task: str | None = None
    allow_pickle: bool = False


def _given(root: Path, path: Path, option: str) -> Path:
    """A path given on the command line: relative to here, or else to the handoff folder."""
    for candidate in (path, root / path) if not path.is_absolute() else (path,):
        if candidate.is_file():
            resolved = candidate.resolve()
            if not _inside(resolved, root):
                raise UsageError(
                    f"{option} {path}: {resolved} is outside the handoff folder {root}",
                    hint="every file of the handoff must be inside its folder",
                )
            return resolved
    raise UsageError(f"{option} {path}: no such file (relative to here or to {root})")


def scaffold(root: Path, options: Options | None = None) -> Proposal:
    """Look at ``root`` and propose a config; exit 2 (UsageError) with every open question."""
    opts = options or Options()
    root = Path(root).resolve()
    if not root.is_dir():
        raise UsageError(f"{root}: not a folder")

    def rel(p: Path) -> str:
        return p.resolve().relative_to(root).as_posix()

    open_questions: list[Problem] = []
    choices: list[Choice] = [
        Choice("model.name", dns_name(root.name), "the folder's name, as a DNS-1123 label")
    ]
    notes: list[str] = []

    # -- the model
    artifact: str | None = None
    entrypoint = opts.entrypoint
    if opts.model is not None and entrypoint:
        raise UsageError("--model and --entrypoint both given", hint="give one of them")
    if opts.model is not None:
        artifact = rel(_given(root, opts.model, "--model"))
        choices.append(Choice("model.artifact", artifact, "given with --model"))
    elif entrypoint:
        choices.append(Choice("model.entrypoint", entrypoint, "given with --entrypoint"))
    else:
        every = [rel(p) for p in _walk(root, tuple(FORMAT_BY_SUFFIX))]
        baselines = [m for m in every if _parts(m) & BASELINE_DIRS]
        candidates = [m for m in every if m not in baselines]
        skipped = tuple(
            f"{m} (under a baseline folder: the model the gate compares against)" for m in baselines
        )
        if len(candidates) == 1:
            artifact = candidates[0]
            choices.append(Choice("model.artifact", artifact, "the only model file", skipped))
        elif candidates:
            open_questions.append(
                Problem(
                    f"{len(candidates)} model files, and no rule tells which one to release: "
                    + ", ".join(candidates),
                    key="model.artifact",
                    hint="pass --model PATH with the one to release",
                )
            )
        else:
            looked = ", ".join(FORMAT_BY_SUFFIX)
            seen = f" (only {', '.join(baselines)}, under a baseline folder)" if baselines else ""
            open_questions.append(
                Problem(
                    f"no model file found ({looked}){seen}",
                    key="model.artifact",
                    hint="put the model file in the folder and pass --model PATH, "
                    "or pass --entrypoint module.py:factory",
                )
            )

    allow_pickle = False
    sha256 = None
    untrusted: list[str] = []
    if artifact is not None:
        fmt = FORMAT_BY_SUFFIX.get(Path(artifact).suffix.lower())
        path = root / artifact
        if fmt in {"joblib", "pickle"}:
            if not opts.allow_pickle:
                open_questions.append(
                    Problem(
                        f"{artifact} is a {fmt} file, which runs code when it is loaded",
                        key="model.artifact",
                        hint="save the model with skops (skops.io.dump), or pass --allow-pickle to "
                        "opt in; the config then pins the file's sha256",
                    )
                )
            else:
                allow_pickle = True
                sha256 = artifacts.sha256_file(path)
                choices.append(
                    Choice("model.allow_pickle", "true", "--allow-pickle given; sha256 pins this exact file")
                )
        elif fmt == "skops":
            untrusted = _untrusted_types(path, notes, artifact)

    # -- the data
    tables = [rel(p) for p in _walk(root, TABLE_SUFFIXES)]
    tables = [t for t in tables if not (_parts(t) & BASELINE_DIRS) and not (_words(t) & OWN_OUTPUTS)]
    train = [t for t in tables if _words(t) & TRAIN_WORDS]
    refs = [t for t in tables if _words(t) & REFERENCE_WORDS and t not in train]
    named_val = _prefer_parquet([t for t in tables if _words(t) & VALIDATION_WORDS and t not in train + refs])
    others = [t for t in tables if t not in train + refs + named_val]

    validation: str | None = None
    if opts.data is not None:
        validation = rel(_given(root, opts.data, "--data"))
        choices.append(Choice("validation.data", validation, "given with --data"))
    elif len(named_val) == 1:
        validation = named_val[0]
        choices.append(
            Choice(
                "validation.data",
                validation,
                "named like validation data (val, valid, validation, test, holdout, eval)",
                tuple(others),
            )
        )
    elif named_val:
        open_questions.append(
            Problem(
                f"{len(named_val)} tables are named like validation data: " + ", ".join(named_val),
                key="validation.data",
                hint="pass --data PATH with the one to evaluate the model on",
            )
        )
    elif len(others) == 1:
        validation = others[0]
        choices.append(
            Choice("validation.data", validation, "the only table not named as training or reference data")
        )
    elif others:
        notes.append(
            "no table is named like validation data (val, valid, validation, test, holdout, eval); "
            f"seen: {', '.join(others)}: pass --data PATH to evaluate on one of them"
        )
    if validation is None and train:
        notes.append(f"{', '.join(train)}: training data is never used as validation data")

    reference: str | None = None
    if opts.reference is not None:
        reference = rel(_given(root, opts.reference, "--reference"))
        choices.append(Choice("validation.reference", reference, "given with --reference"))
    else:
        pool = [t for t in _prefer_parquet(refs) if t != validation] or [
            t for t in _prefer_parquet(train) if t != validation
        ]
        word = "reference" if any(t in refs for t in pool) else "training"
        if len(pool) == 1:
            reference = pool[0]
            rest = tuple(t for t in train + refs if t != reference)
            choices.append(
                Choice(
                    "validation.reference",
                    reference,
                    f"named as {word} data: the distribution drift and the outlier guard compare against",
                    rest,
                )
            )
        elif pool:
            notes.append(
                f"{len(pool)} tables are named as {word} data ({', '.join(pool)}): "
                "pass --reference PATH to choose one"
            )

    # -- target and task
    target, task = opts.target, opts.task
    if validation is not None:
        try:
            frame = _read_head(root / validation)
        except Exception as exc:  # any unreadable table only lowers what init can infer
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            open_questions.append(
                Problem(f"cannot read {validation}: {first}", key="validation.data", hint="pass --data PATH")
            )
        else:
            if frame.columns.empty:
                open_questions.append(Problem(f"{validation} has no columns", key="validation.data"))
            elif target is None:
                target, inferred = infer_target(frame)
                task = task or inferred
                named = target.lower() in TARGET_NAMES or re.search(
                    r"(^|_)(target|label|price)($|_)", target.lower()
                )
                why = (
                    "a column named like a target"
                    if named
                    else "no column is named like a target (target, label, y, ...): the last column; "
                    "pass --target COLUMN if it is another"
                )
                choices.append(Choice("model.target", target, f"{why}, in {validation}"))
                if opts.task is None:
                    choices.append(Choice("model.task", task, _task_reason(frame[target], task)))
            elif target not in frame.columns:
                open_questions.append(
                    Problem(
                        f"--target {target}: no such column in {validation}",
                        key="model.target",
                        hint="columns: " + ", ".join(map(str, frame.columns[:30])),
                    )
                )
            elif task is None:
                task = infer_task(frame[target])
                choices.append(Choice("model.task", task, _task_reason(frame[target], task)))
    if task is None:
        open_questions.append(
            Problem(
                "cannot tell the task without validation data to look at",
                key="model.task",
                hint="pass --task regression or --task classification (and --target COLUMN), or --data PATH",
            )
        )

    # -- notebooks and requirements
    notebooks = [rel(p) for p in _walk(root, (".ipynb",))]
    folders = sorted({nb.rsplit("/", 1)[0] if "/" in nb else "" for nb in notebooks})
    patterns = [f"{glob.escape(f)}/*.ipynb" if f else "*.ipynb" for f in folders]
    if patterns:
        choices.append(Choice("notebooks", ", ".join(patterns), f"{len(notebooks)} notebook(s) found"))

    requirements, lock = _requirements(root, opts, choices, open_questions, notes)

    if open_questions:
        found = [c.render() for c in choices]
        raise UsageError(
            f"{root}: cannot propose an {CONFIG_NAME} without an answer to "
            f"{len(open_questions)} question{'s' if len(open_questions) != 1 else ''}",
            problems=open_questions,
            hint="answer with the options named above; found so far: " + ("; ".join(found) or "nothing"),
        )
    return Proposal(
        name=dns_name(root.name),
        task=task or "regression",
        artifact=artifact,
        entrypoint=entrypoint,
        target=target,
        notebooks=patterns,
        requirements=requirements,
        lock=lock,
        validation=validation,
        reference=reference,
        allow_pickle=allow_pickle,
        sha256=sha256,
        untrusted_types=untrusted,
        choices=choices,
        notes=notes,
    )


def _task_reason(series: Any, task: str) -> str:
    distinct = series.dropna().nunique()
    if task == "classification":
        return f"the target has {distinct} distinct value(s) that look like classes"
    return f"the target is numeric with {distinct} distinct values"


def _prefer_parquet(tables: list[str]) -> list[str]:
    """One entry per table: ``val.parquet`` stands for ``val.csv`` beside it (the same data, typed)."""
    stems: dict[str, str] = {}
    for t in tables:
        stem = t.rsplit(".", 1)[0]
        if stem not in stems or not stems[stem].endswith(".csv"):
            stems.setdefault(stem, t)
        else:
            stems[stem] = t
    return sorted(set(stems.values()))


def _untrusted_types(path: Path, notes: list[str], artifact: str) -> list[str]:
    try:
        import skops.io as sio

        return sorted(sio.get_untrusted_types(file=path))
    except Exception as exc:  # a corrupt file: the model commands will refuse it with the reason
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        notes.append(f"{artifact}: not a readable skops file ({first}): check it before the next step")
        return []


def _is_our_lock(path: Path) -> bool:
    from mlrelease.deps.lock import parse_header

    try:
        return parse_header(path.read_text("utf-8")) is not None
    except (OSError, UnicodeDecodeError):
        return False


def _requirements(
    root: Path, opts: Options, choices: list[Choice], questions: list[Problem], notes: list[str]
) -> tuple[str | None, str | None]:
    """The loose requirements input and a lock path that is only ever a lock."""

    def rel(p: Path) -> str:
        return p.resolve().relative_to(root).as_posix()

    if opts.requirements is not None:
        given = _given(root, opts.requirements, "--requirements")
        if _is_our_lock(given):
            raise UsageError(
                f"--requirements {opts.requirements}: this is a lock written by `mlrelease lock`, not "
                "the loose list it was made from",
                hint="pass the loose list (requirements.in)",
            )
        req = rel(given)
        choices.append(Choice("requirements", req, "given with --requirements"))
    else:
        found: list[Path] = []
        for d in REQUIREMENT_DIRS:
            folder = root / d
            if not folder.is_dir() or not _inside(folder, root):
                continue
            for p in sorted(folder.iterdir()):
                name = p.name.lower()
                named = name.startswith("requirements") or d == "requirements"
                if p.is_file() and named and name.endswith((".in", ".txt")) and _inside(p, root):
                    found.append(p)
        not_runtime = [p for p in found if _words(p.name) & NOT_RUNTIME_WORDS]
        locks = [p for p in found if p not in not_runtime and _is_our_lock(p)]
        loose = [p for p in found if p not in not_runtime and p not in locks]
        # A .txt beside a .in of the same name is the .in's lock (pip-tools' layout), not an input.
        ins = {p.with_suffix("") for p in loose if p.suffix == ".in"}
        inputs = [p for p in loose if not (p.suffix == ".txt" and p.with_suffix("") in ins)]
        seen = tuple(
            [f"{rel(p)} (not a runtime list)" for p in not_runtime]
            + [f"{rel(p)} (a lock written by `mlrelease lock`)" for p in locks]
            + [f"{rel(p)} (the lock of {rel(p.with_suffix('.in'))})" for p in loose if p not in inputs]
        )
        if len(inputs) > 1:
            questions.append(
                Problem(
                    f"{len(inputs)} requirements files could be the model's: "
                    + ", ".join(rel(p) for p in inputs),
                    key="requirements",
                    hint="pass --requirements PATH with the loose list of the model's runtime packages",
                )
            )
            return None, None
        if not inputs:
            others = [n for n in OTHER_ENV_FILES if (root / n).is_file()]
            extra = f" (seen: {', '.join(others)}; lock reads a pip requirements file)" if others else ""
            notes.append(
                "no requirements file found" + extra + ": list the model's packages in requirements.in"
            )
            return None, None
        given = inputs[0]
        req = rel(given)
        choices.append(Choice("requirements", req, "the loose list of the model's packages", seen))

    path = root / req
    stem = path.name.rsplit(".", 1)[0]
    candidates = [
        path.with_name(f"{stem}.txt"),
        path.with_name(f"{stem}-lock.txt"),
        path.with_name(f"{stem}.lock"),
    ]
    for candidate in candidates:
        if candidate.resolve() == path.resolve():
            continue
        if not candidate.exists():
            why = "does not exist yet: `mlrelease lock` writes it, and only ever a lock"
        elif candidate.is_file() and _is_our_lock(candidate):
            why = "a lock written by `mlrelease lock`"
        else:
            if candidate.exists():
                notes.append(
                    f"{rel(candidate)} was not written by `mlrelease lock`: it is left alone, "
                    "and the lock goes to another file"
                )
            continue
        lock = rel(candidate)
        choices.append(Choice("lock", lock, why))
        return req, lock
    raise UsageError(
        f"no free name for the lock of {req}: " + ", ".join(rel(c) for c in candidates) + " all exist",
        hint="move one of them away",
    )


# ----------------------------------------------------------------------------- writing


def check(root: Path, proposal: Proposal) -> None:
    """Validate the proposal exactly as ``mlrelease config validate`` does, from a scratch file.

    The listed skops types count as trusted for this check only: reviewing them is the user's
    step, and every other part of the file must already be valid.
    """
    from mlrelease import config

    text = proposal.to_yaml(trust_listed_types=True)
    fd, tmp = tempfile.mkstemp(dir=root, prefix=f".{CONFIG_NAME}.", suffix=".check.yaml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        config.load(tmp)
    except ConfigError as exc:
        raise UsageError(
            f"init found a config it cannot propose: {exc.message.replace(tmp, CONFIG_NAME)}",
            problems=[
                Problem(p.message, file=CONFIG_NAME, line=p.line, key=p.key, hint=p.hint)
                for p in exc.problems
            ],
            hint="settle the keys above with init's options, or write the file by hand",
        ) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def init(root: Path, options: Options | None = None, *, write: bool = True) -> tuple[Path, Proposal]:
    """Propose, validate and (when ``write``) create ``root/mlrelease.yaml``; never replace one."""
    root = Path(root)
    target = root / CONFIG_NAME
    if write and (target.exists() or target.is_symlink()):
        raise UsageError(
            f"{target} already exists: init never replaces it",
            hint="see what init would propose with `mlrelease init --print`, or move the file away first",
        )
    found = scaffold(root, options)
    check(root.resolve(), found)
    if write:
        try:
            artifacts.create_text(target, found.to_yaml())
        except FileExistsError:
            raise UsageError(f"{target} appeared while init ran: init never replaces it") from None
    return target, found
