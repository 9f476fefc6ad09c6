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
from mlrelease.config import CONFIG_NAME, FORMAT_BY_SUFFIX, Task
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
    task: Task
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


def infer_task(series: Any) -> Task:
    import pandas as pd

    series = series.dropna()
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    distinct = series.nunique()
    regression = numeric and (pd.api.types.is_float_dtype(series) or distinct > max(20, len(series) // 20))
    return "regression" if regression else "classification"


def infer_target(frame: Any) -> tuple[str, Task]:
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
    task: Task | None = None
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
    root = Path(root).resolve()
    if not root.is_dir():
        raise UsageError(f"{root}: not a folder")
    return _Survey(root, options or Options()).propose()


@dataclass
class _Survey:
    """One look at a handoff folder: the choices made, the questions left open, the notes."""

    root: Path
    opts: Options
    choices: list[Choice] = field(default_factory=list)
    questions: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def rel(self, path: Path) -> str:
        return path.resolve().relative_to(self.root).as_posix()

    def choose(self, key: str, value: str, reason: str, alternatives: tuple[str, ...] = ()) -> str:
        self.choices.append(Choice(key, value, reason, alternatives))
        return value

    def ask(self, key: str, message: str, hint: str | None = None) -> None:
        self.questions.append(Problem(message, key=key, hint=hint))

    def propose(self) -> Proposal:
        name = self.choose("model.name", dns_name(self.root.name), "the folder's name, as a DNS-1123 label")
        artifact, entrypoint = self.model()
        allow_pickle, sha256, untrusted = self.trust(artifact)
        validation, reference = self.data()
        target, task = self.target_and_task(validation)
        notebooks = self.notebooks()
        requirements, lock = self.requirements()
        if self.questions:
            count = len(self.questions)
            found = "".join(f"\n    {c.render()}" for c in self.choices)
            raise UsageError(
                f"{self.root}: cannot propose an {CONFIG_NAME} without an answer to "
                f"{count} question{'s' if count != 1 else ''}",
                problems=self.questions,
                hint=f"answer with the options named above; found so far:{found}",
            )
        assert task is not None  # an open question otherwise
        return Proposal(
            name=name,
            task=task,
            artifact=artifact,
            entrypoint=entrypoint,
            target=target,
            notebooks=notebooks,
            requirements=requirements,
            lock=lock,
            validation=validation,
            reference=reference,
            allow_pickle=allow_pickle,
            sha256=sha256,
            untrusted_types=untrusted,
            choices=self.choices,
            notes=self.notes,
        )

    # -- the model

    def model(self) -> tuple[str | None, str | None]:
        """The model file to release (or the entrypoint given): one candidate, or the user's word."""
        opts = self.opts
        if opts.model is not None and opts.entrypoint:
            raise UsageError("--model and --entrypoint both given", hint="give one of them")
        if opts.model is not None:
            return self.choose(
                "model.artifact", self.rel(_given(self.root, opts.model, "--model")), "given with --model"
            ), None
        if opts.entrypoint:
            return None, self.choose("model.entrypoint", opts.entrypoint, "given with --entrypoint")
        every = [self.rel(p) for p in _walk(self.root, tuple(FORMAT_BY_SUFFIX))]
        baselines = [m for m in every if _parts(m) & BASELINE_DIRS]
        candidates = [m for m in every if m not in baselines]
        if len(candidates) == 1:
            skipped = tuple(
                f"{m} (under a baseline folder: the model the gate compares against)" for m in baselines
            )
            return self.choose("model.artifact", candidates[0], "the only model file", skipped), None
        if candidates:
            self.ask(
                "model.artifact",
                f"{len(candidates)} model files, and no rule tells which one to release: "
                + ", ".join(candidates),
                "pass --model PATH with the one to release",
            )
        else:
            seen = f" (only {', '.join(baselines)}, under a baseline folder)" if baselines else ""
            self.ask(
                "model.artifact",
                f"no model file found ({', '.join(FORMAT_BY_SUFFIX)}){seen}",
                "put the model file in the folder and pass --model PATH, "
                "or pass --entrypoint module.py:factory",
            )
        return None, None

    def trust(self, artifact: str | None) -> tuple[bool, str | None, list[str]]:
        """allow_pickle and sha256 (only with --allow-pickle), and skops' untrusted types, to review."""
        if artifact is None:
            return False, None, []
        fmt = FORMAT_BY_SUFFIX.get(Path(artifact).suffix.lower())
        path = self.root / artifact
        if fmt in {"joblib", "pickle"}:
            if not self.opts.allow_pickle:
                self.ask(
                    "model.artifact",
                    f"{artifact} is a {fmt} file, which runs code when it is loaded",
                    "save the model with skops (skops.io.dump), or pass --allow-pickle to opt in; "
                    "the config then pins the file's sha256",
                )
                return False, None, []
            self.choose("model.allow_pickle", "true", "--allow-pickle given; sha256 pins this exact file")
            return True, artifacts.sha256_file(path), []
        if fmt == "skops":
            try:
                import skops.io as sio

                return False, None, sorted(sio.get_untrusted_types(file=path))
            except Exception as exc:  # a corrupt file: the model commands refuse it with the reason
                first = (str(exc).splitlines() or [type(exc).__name__])[0]
                self.notes.append(
                    f"{artifact}: not a readable skops file ({first}): check it before the next step"
                )
        return False, None, []

    # -- the data

    def data(self) -> tuple[str | None, str | None]:
        """The validation data and the reference data, by the words in their paths."""
        every = [self.rel(p) for p in _walk(self.root, TABLE_SUFFIXES)]
        every = [t for t in every if not (_parts(t) & BASELINE_DIRS) and not (_words(t) & OWN_OUTPUTS)]
        tables, twins = _prefer_parquet(every)
        train = [t for t in tables if _words(t) & TRAIN_WORDS]
        refs = [t for t in tables if _words(t) & REFERENCE_WORDS and t not in train]
        named = [t for t in tables if _words(t) & VALIDATION_WORDS and t not in train + refs]
        others = [t for t in tables if t not in train + refs + named]
        twin_notes = tuple(f"{csv} (the same table as {pq}, which is typed)" for csv, pq in twins.items())

        validation: str | None = None
        if self.opts.data is not None:
            validation = self.choose(
                "validation.data", self.rel(_given(self.root, self.opts.data, "--data")), "given with --data"
            )
        elif len(named) == 1:
            validation = self.choose(
                "validation.data",
                named[0],
                "named like validation data (val, valid, validation, test, holdout, eval)",
                tuple(others) + twin_notes,
            )
        elif named:
            self.ask(
                "validation.data",
                f"{len(named)} tables are named like validation data: " + ", ".join(named),
                "pass --data PATH with the one to evaluate the model on",
            )
        elif len(others) == 1:
            validation = self.choose(
                "validation.data",
                others[0],
                "the only table not named as training or reference data",
                twin_notes,
            )
        elif others:
            self.notes.append(
                "no table is named like validation data (val, valid, validation, test, holdout, eval); "
                f"seen: {', '.join(others)}: pass --data PATH to evaluate on one of them"
            )
        if validation is None and train:
            self.notes.append(f"{', '.join(train)}: training data is never used as validation data")

        if self.opts.reference is not None:
            given = self.rel(_given(self.root, self.opts.reference, "--reference"))
            return validation, self.choose("validation.reference", given, "given with --reference")
        pool = [t for t in refs if t != validation] or [t for t in train if t != validation]
        word = "reference" if set(pool) & set(refs) else "training"
        if len(pool) == 1:
            rest = tuple(t for t in train + refs if t != pool[0])
            why = f"named as {word} data: the distribution drift and the outlier guard compare against"
            return validation, self.choose("validation.reference", pool[0], why, rest)
        if pool:
            self.notes.append(
                f"{len(pool)} tables are named as {word} data ({', '.join(pool)}): "
                "pass --reference PATH to choose one"
            )
        return validation, None

    def target_and_task(self, validation: str | None) -> tuple[str | None, Task | None]:
        """The target column and the task: given, or read from the validation data."""
        target, task = self.opts.target, self.opts.task
        if task is not None:
            self.choose("model.task", task, "given with --task")
        if target is not None:
            self.choose("model.target", target, "given with --target")
        frame = self._read(validation) if validation is not None else None
        if frame is not None and target is None:
            target, _ = infer_target(frame)
            named = target.lower() in TARGET_NAMES or re.search(
                r"(^|_)(target|label|price)($|_)", target.lower()
            )
            why = (
                f"a column of {validation} named like a target"
                if named
                else f"the last column of {validation}: no column is named like a target "
                "(target, label, y, ...); pass --target COLUMN if it is another"
            )
            self.choose("model.target", target, why)
        elif frame is not None and target not in frame.columns:
            self.ask(
                "model.target",
                f"--target {target}: no such column in {validation}",
                "columns: " + ", ".join(map(str, frame.columns[:30])),
            )
            return target, task
        if frame is not None and task is None:
            task = infer_task(frame[target])
            self.choose("model.task", task, _task_reason(frame[target], task))
        if task is None:
            self.ask(
                "model.task",
                "cannot tell the task without validation data to look at",
                "pass --task regression or --task classification (and --target COLUMN), or --data PATH",
            )
        return target, task

    def _read(self, validation: str) -> Any:
        try:
            frame = _read_head(self.root / validation)
        except Exception as exc:  # any unreadable table: say which and why, and ask for another
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            self.ask("validation.data", f"cannot read {validation}: {first}", "pass --data PATH")
            return None
        if frame.columns.empty:
            self.ask("validation.data", f"{validation} has no columns", "pass --data PATH")
            return None
        return frame

    # -- notebooks and requirements

    def notebooks(self) -> list[str]:
        """One glob per folder with notebooks, escaped so a folder named ``[draft]`` matches itself."""
        found = [self.rel(p) for p in _walk(self.root, (".ipynb",))]
        folders = sorted({nb.rsplit("/", 1)[0] if "/" in nb else "" for nb in found})
        patterns = [f"{glob.escape(f)}/*.ipynb" if f else "*.ipynb" for f in folders]
        if patterns:
            self.choose("notebooks", ", ".join(patterns), f"{len(found)} notebook(s) found")
        return patterns

    def requirements(self) -> tuple[str | None, str | None]:
        """The loose requirements input, and a lock path that is only ever a lock."""
        req = self._requirements_input()
        return (req, self._lock_for(req)) if req is not None else (None, None)

    def _requirements_input(self) -> str | None:
        if self.opts.requirements is not None:
            given = _given(self.root, self.opts.requirements, "--requirements")
            if _is_our_lock(given):
                raise UsageError(
                    f"--requirements {self.opts.requirements}: this is a lock written by `mlrelease lock`, "
                    "not the loose list it was made from",
                    hint="pass the loose list (requirements.in)",
                )
            return self.choose("requirements", self.rel(given), "given with --requirements")
        found: list[Path] = []
        for d in REQUIREMENT_DIRS:
            folder = self.root / d
            if not folder.is_dir() or not _inside(folder, self.root):
                continue
            for p in sorted(folder.iterdir()):
                name = p.name.lower()
                named = name.startswith("requirements") or d == "requirements"
                if p.is_file() and named and name.endswith((".in", ".txt")) and _inside(p, self.root):
                    found.append(p)
        not_runtime = [p for p in found if _words(p.name) & NOT_RUNTIME_WORDS]
        locks = [p for p in found if p not in not_runtime and _is_our_lock(p)]
        loose = [p for p in found if p not in not_runtime and p not in locks]
        # A .txt beside a .in of the same name is the .in's lock (pip-tools' layout), not an input.
        ins = {p.with_suffix("") for p in loose if p.suffix == ".in"}
        inputs = [p for p in loose if not (p.suffix == ".txt" and p.with_suffix("") in ins)]
        if len(inputs) > 1:
            self.ask(
                "requirements",
                f"{len(inputs)} requirements files could be the model's: "
                + ", ".join(self.rel(p) for p in inputs),
                "pass --requirements PATH with the loose list of the model's runtime packages",
            )
            return None
        if not inputs:
            others = [n for n in OTHER_ENV_FILES if (self.root / n).is_file()]
            extra = f" (seen: {', '.join(others)}; lock reads a pip requirements file)" if others else ""
            self.notes.append(
                f"no requirements file found{extra}: list the model's packages in requirements.in"
            )
            return None
        seen = tuple(
            [f"{self.rel(p)} (not a runtime list)" for p in not_runtime]
            + [f"{self.rel(p)} (a lock written by `mlrelease lock`)" for p in locks]
            + [
                f"{self.rel(p)} (the lock of {self.rel(p.with_suffix('.in'))})"
                for p in loose
                if p not in inputs
            ]
        )
        return self.choose(
            "requirements", self.rel(inputs[0]), "the loose list of the model's packages", seen
        )

    def _lock_for(self, req: str) -> str:
        """``X.txt`` for ``X.in``, else ``X-lock.txt``: the first that is free or already a lock."""
        path = self.root / req
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
                self.notes.append(
                    f"{self.rel(candidate)} was not written by `mlrelease lock`: it is left alone, "
                    "and the lock goes to another file"
                )
                continue
            return self.choose("lock", self.rel(candidate), why)
        raise UsageError(
            f"no free name for the lock of {req}: "
            + ", ".join(self.rel(c) for c in candidates)
            + " all exist",
            hint="move one of them away",
        )


def _task_reason(series: Any, task: Task) -> str:
    distinct = series.dropna().nunique()
    if task == "classification":
        return f"the target has {distinct} distinct value(s) that look like classes"
    return f"the target is numeric with {distinct} distinct values"


def _prefer_parquet(tables: list[str]) -> tuple[list[str], dict[str, str]]:
    """One entry per table: ``val.parquet`` stands for ``val.csv`` beside it (the same data, typed).

    Returns the tables kept and, for each CSV left out, the Parquet file that stands for it.
    """
    by_stem: dict[str, list[str]] = {}
    for t in tables:
        by_stem.setdefault(t.rsplit(".", 1)[0], []).append(t)
    kept: list[str] = []
    twins: dict[str, str] = {}
    for same in by_stem.values():
        typed = [t for t in same if not t.endswith(".csv")]
        keep = typed[0] if typed else same[0]
        kept.append(keep)
        twins.update({t: keep for t in same if t != keep})
    return sorted(kept), twins


def _is_our_lock(path: Path) -> bool:
    from mlrelease.deps.lock import parse_header

    try:
        return parse_header(path.read_text("utf-8")) is not None
    except (OSError, UnicodeDecodeError):
        return False


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
    try:
        check(root.resolve(), found)
        if write:
            artifacts.create_text(target, found.to_yaml())
    except FileExistsError:
        raise UsageError(f"{target} appeared while init ran: init never replaces it") from None
    except OSError as exc:
        raise UsageError(
            f"{root}: cannot write there ({exc.strerror or exc})",
            hint="run init in a folder you can write to; --print needs a scratch file there too",
        ) from None
    return target, found
