"""The handoff contract, ``mlrelease.yaml``: load, validate against the published schema, fill
defaults, and turn it into typed objects the rest of the code uses.

Every problem is reported at once, each with the file, the line and the key, and what was
expected. Unknown keys get a "did you mean" hint.
"""

from __future__ import annotations

import copy
import glob
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml

from mlrelease.errors import ConfigError, Problem

CONFIG_NAME = "mlrelease.yaml"
SCHEMA_VERSION = 1

Task = Literal["regression", "classification"]
ModelFormat = Literal["skops", "joblib", "pickle", "onnx"]
Direction = Literal["lower", "higher"]
Severity = Literal["error", "warning", "info", "off"]
FailOn = Literal["error", "warning", "info", "never"]

FORMAT_BY_SUFFIX: dict[str, ModelFormat] = {
    ".skops": "skops",
    ".joblib": "joblib",
    ".pkl": "pickle",
    ".pickle": "pickle",
    ".onnx": "onnx",
}


# ----------------------------------------------------------------------------- typed config


@dataclass(frozen=True)
class Tolerance:
    """An amount that is either relative to a base value ('2%') or absolute (0.5)."""

    value: float
    relative: bool

    @classmethod
    def parse(cls, raw: str | float | int) -> Tolerance:
        if isinstance(raw, str):
            return cls(float(raw.removesuffix("%")) / 100.0, True)
        return cls(float(raw), False)

    def amount(self, base: float) -> float:
        """The absolute size of this tolerance around ``base``."""
        return abs(base) * self.value if self.relative else self.value

    def __str__(self) -> str:
        return f"{self.value * 100:g}%" if self.relative else f"{self.value:g}"


@dataclass(frozen=True)
class ModelConfig:
    name: str
    task: Task
    artifact: Path | None
    format: ModelFormat | None
    sha256: str | None
    allow_pickle: bool
    trusted_types: tuple[str, ...]
    entrypoint: str | None
    target: str | None
    id_column: str | None
    features: tuple[str, ...] | None
    version: str | None


@dataclass(frozen=True)
class SliceConfig:
    name: str
    column: str
    values: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None
    max_regression: Tolerance | None = None


@dataclass(frozen=True)
class ValidationConfig:
    data: Path
    reference: Path | None
    golden_rows: int
    slices: tuple[SliceConfig, ...]


@dataclass(frozen=True)
class LintConfig:
    fail_on: FailOn = "error"
    ignore: tuple[str, ...] = ()
    severity: dict[str, Severity] = field(default_factory=dict)
    max_output_kb: float = 200
    cell_timeout_s: float = 600
    rtol: float = 1e-6


@dataclass(frozen=True)
class MetricRule:
    better: Direction | None = None
    max_regression: Tolerance | None = None
    min: float | None = None
    max: float | None = None
    optional: bool = False


@dataclass(frozen=True)
class TradeOff:
    allow: dict[str, Tolerance]
    when: dict[str, Tolerance]


@dataclass(frozen=True)
class BootstrapConfig:
    resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0


@dataclass(frozen=True)
class GateConfig:
    metrics: dict[str, MetricRule] = field(default_factory=dict)
    trade_offs: tuple[TradeOff, ...] = ()
    bootstrap: BootstrapConfig = field(default_factory=BootstrapConfig)


@dataclass(frozen=True)
class ImageConfig:
    python: str = "3.11"
    gpu: bool = False
    base: str | None = None
    cuda: str | None = None
    registry: str | None = None
    runtime: Literal["auto", "full"] = "auto"  # auto: the compiled model alone when it compiles fully


@dataclass(frozen=True)
class Bounds:
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class BatchingConfig:
    enabled: bool = True
    max_wait_ms: float = 2
    max_rows: int = 256
    inline_max_ms: float = 1


@dataclass(frozen=True)
class OutlierConfig:
    mode: Literal["flag", "reject"] = "flag"
    prediction: Bounds | None = None
    learn_margin: float = 0.5
    input_z: float = 6
    input_range_margin: float = 0.5
    inputs: dict[str, Bounds] = field(default_factory=dict)  # per column: replaces the learned range


@dataclass(frozen=True)
class ClassificationServing:
    probabilities: bool = True  # labels and class probabilities in every protocol
    kserve_v1: Literal["labels", "probabilities"] = "labels"  # what v1 "predictions" holds by default


@dataclass(frozen=True)
class LoggingConfig:
    sample_rate: float = 1.0
    file: Path | None = None


@dataclass(frozen=True)
class ConnectionsConfig:
    max: int = 1000
    header_timeout_s: float = 10
    body_timeout_s: float = 30
    keep_alive_s: float = 5
    max_header_bytes: int = 65536


@dataclass(frozen=True)
class ServingConfig:
    port: int = 8080
    max_batch_rows: int = 1000
    max_body_bytes: int = 10 * 1024 * 1024
    compile: bool = True
    batching: BatchingConfig = field(default_factory=BatchingConfig)
    outliers: OutlierConfig = field(default_factory=OutlierConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    connections: ConnectionsConfig = field(default_factory=ConnectionsConfig)
    classification: ClassificationServing = field(default_factory=ClassificationServing)


@dataclass(frozen=True)
class GkeConfig:
    project: str
    location: str
    cluster: str
    namespace: str = "default"
    min_replicas: int = 2
    max_replicas: int | None = None  # None: what the lunchtime peak needs (deploy.gke.sizing)
    target_cpu: int = 60
    replica_rps: float = 4000  # bench/bench_replica.py on the example model
    replica_p99_ms: float = 6
    baseline_rps: float | None = None
    peak_factor: float = 10
    cpu: str = "1"
    memory: str | None = None
    service_account: str | None = None
    accelerator: str = "nvidia-l4"
    progress_deadline_s: int = 600


@dataclass(frozen=True)
class DeployConfig:
    gke: GkeConfig | None = None


@dataclass(frozen=True)
class FeatureDriftConfig:
    warn: float | None = None
    alert: float | None = None
    wasserstein_warn: float | None = None
    wasserstein_alert: float | None = None
    min_samples: int | None = None


@dataclass(frozen=True)
class DriftConfig:
    method: Literal["psi", "ks", "wasserstein", "jensenshannon"] = "psi"
    warn: float = 0.1
    alert: float = 0.2
    wasserstein_warn: float = 0.33
    wasserstein_alert: float = 0.46
    alpha: float = 0.05
    correction: Literal["holm", "bh", "none"] = "holm"
    min_samples: int = 100
    bins: int = 10
    features: dict[str, FeatureDriftConfig] = field(default_factory=dict)


@dataclass(frozen=True)
class OutlierRateConfig:
    warn: float = 0.01
    alert: float = 0.05


@dataclass(frozen=True)
class MonitoringConfig:
    drift: DriftConfig = field(default_factory=DriftConfig)
    outliers: OutlierRateConfig = field(default_factory=OutlierRateConfig)


# Every key of mlrelease.yaml that names a path. Each must resolve inside the config's folder
# (after symlinks) unless trust.outside_paths names it; the schema's enum lists the same keys.
PATH_KEYS = (
    "model.artifact",
    "model.entrypoint",
    "notebooks",
    "requirements",
    "lock",
    "validation.data",
    "validation.reference",
    "serving.logging.file",
)


@dataclass(frozen=True)
class TrustConfig:
    """Explicit opt-ins: path keys that may leave the handoff's folder, and the requirements.in
    options that may change where packages come from."""

    outside_paths: frozenset[str] = frozenset()
    requirements_options: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RegistryConfig:
    location: str = ".mlrelease/registry"  # a folder (resolved against the config's folder) or oci://...


@dataclass(frozen=True)
class WatchConfig:
    max_error_rate: float = 0.01
    max_p99_ms: float = 500
    max_outlier_rate: float = 0.05
    min_requests: int = 20
    duration_s: float = 300
    interval_s: float = 5


@dataclass(frozen=True)
class Config:
    """A validated ``mlrelease.yaml``. Paths are absolute, resolved against the file's folder,
    and inside it (after symlinks) unless ``trust.outside_paths`` names their key."""

    path: Path
    root: Path
    model: ModelConfig
    notebooks: tuple[str, ...]
    requirements: Path
    lock: Path
    validation: ValidationConfig | None
    lint: LintConfig
    gate: GateConfig
    image: ImageConfig
    serving: ServingConfig
    deploy: DeployConfig
    monitoring: MonitoringConfig
    trust: TrustConfig = field(default_factory=TrustConfig)
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)
    registry: RegistryConfig = field(default_factory=RegistryConfig)
    watch: WatchConfig = field(default_factory=WatchConfig)

    def notebook_paths(self) -> list[Path]:
        """The notebooks the glob patterns match, sorted, without duplicates; each inside the
        handoff's folder unless ``trust.outside_paths`` lists 'notebooks'."""
        found: set[Path] = set()
        for pattern in self.notebooks:
            for p in glob.glob(str(self.root / pattern), recursive=True):
                found.add(self.confine(Path(p), "notebooks"))
        return sorted(found)

    def confine(self, path: Path, key: str) -> Path:
        """``path`` itself when it resolves inside the handoff's folder (or ``key`` is trusted
        to leave it); else a ConfigError naming the key, the file and where the path leads.

        For paths derived at run time (a notebook a glob matches now, the dev requirements beside
        requirements.in, a lock variant, an -r include): load() has checked the keys themselves.
        """
        problem = _outside(path, self.root, key, self.trust.outside_paths, file=str(self.path))
        if problem is not None:
            raise ConfigError(f"{self.path}: a path leaves the handoff's folder", problems=[problem])
        return path

    def relative(self, path: Path) -> str:
        """``path`` relative to the config's folder when inside it, for messages."""
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)


# ----------------------------------------------------------------------------- schema


@cache
def schema() -> dict[str, Any]:
    """The published JSON Schema of ``mlrelease.yaml``."""
    # Beside this module, as registry/record.py reads its schema: importlib.resources would cost
    # 4-5 ms of imports (tempfile among them) on every command, for a package never run from a zip.
    text = (Path(__file__).parent / "schema" / "mlrelease.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _resolve_ref(node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if not ref:
        return node
    target: Any = schema()
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    resolved: dict[str, Any] = target
    return resolved


def _fill_defaults(instance: Any, node: dict[str, Any]) -> Any:
    """Fill the schema's defaults into ``instance``, recursively, without overwriting values."""
    node = _resolve_ref(node)
    if isinstance(instance, dict):
        props = node.get("properties", {})
        for key, sub in props.items():
            sub_r = _resolve_ref(sub)
            if key not in instance and "default" in sub_r:
                instance[key] = copy.deepcopy(sub_r["default"])
            if key in instance:
                instance[key] = _fill_defaults(instance[key], sub_r)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            for key in instance:
                if key not in props:
                    instance[key] = _fill_defaults(instance[key], extra)
    elif isinstance(instance, list) and isinstance(node.get("items"), dict):
        return [_fill_defaults(item, node["items"]) for item in instance]
    return instance


# ----------------------------------------------------------------------------- YAML with lines


class _LineMap:
    """Maps a key path (('model', 'task')) to the line in the YAML source where it stands."""

    def __init__(self, root: yaml.Node | None):
        self.root = root

    def line(self, path: tuple[Any, ...], *, key: bool = False) -> int | None:
        node = self.root
        if node is None:
            return None
        line = node.start_mark.line + 1
        for i, part in enumerate(path):
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if k.value == part:
                        last = i == len(path) - 1
                        line = (k if key and last else v).start_mark.line + 1
                        node = v
                        break
                else:
                    return line
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                return line
        return line


def _duplicate_keys(node: yaml.Node | None, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], int]]:
    found: list[tuple[tuple[Any, ...], int]] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            if k.value in seen:
                found.append(((*path, k.value), k.start_mark.line + 1))
            seen.add(k.value)
            found += _duplicate_keys(v, (*path, k.value))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found += _duplicate_keys(item, (*path, i))
    return found


def _key_name(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        part = part if isinstance(part, int) else cut(str(part))
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _type_name(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
        type(None): "nothing (null)",
    }.get(type(value), type(value).__name__)


_EXPECTED_TYPE = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
}


def _describe(error: Any, lines: _LineMap, file: str) -> list[Problem]:
    """Turn one jsonschema error into located, human problems."""
    import difflib

    path = tuple(error.absolute_path)
    validator = error.validator
    value = error.instance
    if validator == "additionalProperties":
        allowed = sorted(_resolve_ref(error.schema)["properties"])
        extra = [k for k in value if k not in allowed]
        problems = []
        for key in extra:
            close = difflib.get_close_matches(str(key)[:100], allowed)
            # Every object the schema closes names its keys, so there is always a list to offer.
            offer = f"did you mean '{close[0]}'?" if close else "expected one of: " + ", ".join(allowed)
            problems.append(
                Problem(
                    "unknown key",
                    file=file,
                    line=lines.line((*path, key), key=True),
                    key=_key_name((*path, key)),
                    hint=offer,
                )
            )
        return problems
    if validator == "required":
        name = re.findall(r"'([^']+)' is a required property", error.message)[0]
        return [
            Problem(
                "required key is missing",
                file=file,
                line=lines.line(path),
                key=_key_name((*path, name)),
            )
        ]
    line = lines.line(path)
    key = _key_name(path)  # the top level is a mapping: every other problem lies below it
    if validator == "type":
        want = _EXPECTED_TYPE[error.validator_value]  # the schema names one type per key
        return [
            Problem(
                f"expected {want}, got {_type_name(value)} {shorten(value)}", file=file, line=line, key=key
            )
        ]
    if validator == "enum":
        options = ", ".join(repr(o) for o in error.validator_value)
        close = difflib.get_close_matches(str(value)[:100], [str(o) for o in error.validator_value])
        hint = f"did you mean '{close[0]}'?" if close else None
        return [
            Problem(
                f"expected one of {options}, got {shorten(value)}", file=file, line=line, key=key, hint=hint
            )
        ]
    if validator == "const":
        return [
            Problem(
                f"expected {error.validator_value!r}, got {shorten(value)}", file=file, line=line, key=key
            )
        ]
    if validator == "pattern":
        return [
            Problem(
                f"{shorten(value)} does not match the expected form {error.validator_value}",
                file=file,
                line=line,
                key=key,
                hint=_pattern_hint(path),
            )
        ]
    if validator == "oneOf" and path and path[-1] == "model":
        return [
            Problem(
                "set exactly one of 'artifact' (a model file) or 'entrypoint' (module:factory)",
                file=file,
                line=line,
                key=key,
            )
        ]
    if validator == "oneOf":
        return [
            Problem(
                f"expected a percentage like '2%' or a number, got {shorten(value)}",
                file=file,
                line=line,
                key=key,
            )
        ]
    if validator in {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}:
        word = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[validator]
        return [
            Problem(
                f"expected a value {word} {error.validator_value}, got {shorten(value)}",
                file=file,
                line=line,
                key=key,
            )
        ]
    if validator in {"minLength", "maxLength"}:  # jsonschema applies these to strings only
        word = "at least" if validator == "minLength" else "at most"
        return [
            Problem(
                f"expected {word} {error.validator_value} characters, got {len(value):,}",
                file=file,
                line=line,
                key=key,
            )
        ]
    return [Problem(cut(error.message, 200), file=file, line=line, key=key)]


def _pattern_hint(path: tuple[Any, ...]) -> str | None:
    return _PATTERN_HINTS.get(path)


_PATTERN_HINTS = {
    (
        "model",
        "name",
    ): "lower-case letters, digits and '-', starting and ending with a letter or digit (DNS-1123)",
    ("model", "sha256"): "64 lower-case hex digits, as printed by `sha256sum`",
    ("model", "entrypoint"): "'path/to/module.py:factory' or 'package.module:factory'",
}


# ----------------------------------------------------------------------------- loading


def find_config(path: str | Path | None = None) -> Path:
    """The config file: ``path`` itself, ``path/mlrelease.yaml``, or ``./mlrelease.yaml``."""
    p = Path(path) if path else Path.cwd()
    if p.is_dir():
        p = p / CONFIG_NAME
    if not p.is_file():
        raise ConfigError(
            f"{p}: no such file",
            hint=f"run `mlrelease init` in the handoff folder to write a {CONFIG_NAME}",
        )
    return p


# A config is a few KB; these bound the time and memory any file can take to load. An alias
# bomb (each level a list of aliases to the one before) is a few KB of text that expands to
# billions of nodes: nine levels of nine took the duplicate-key walk past a minute. The walk
# below counts nodes as they would be expanded, without expanding them, and refuses past
# MAX_NODES; nesting past MAX_DEPTH is refused before anything recurses that deep.
MAX_BYTES = 1024 * 1024
MAX_NODES = 100_000
MAX_DEPTH = 64
MAX_SHOWN = 80  # characters of a value shown in a message


def cut(text: str, limit: int = MAX_SHOWN) -> str:
    """``text`` cut to ``limit`` characters, the full length stated: a message never echoes a
    5 MB value into a terminal, a CI log or an annotation."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text):,} characters)"


def shorten(value: Any) -> str:
    """``repr(value)``, cut to MAX_SHOWN characters."""
    return cut(repr(value))


def _check_size(root: yaml.Node, file: str) -> None:
    """Refuse a node graph that expands past MAX_NODES, nests past MAX_DEPTH, or refers to itself.

    Sizes are memoised per node, so the walk visits each distinct node once however often
    aliases repeat it: an alias bomb is measured in microseconds and never expanded.
    """
    sizes: dict[int, int] = {}
    depths: dict[int, int] = {}
    open_nodes: set[int] = set()
    aliases = 0

    def refuse(message: str, node: yaml.Node, hint: str) -> ConfigError:
        return ConfigError(
            f"{file}: {message}",
            problems=[Problem(message, file=file, line=node.start_mark.line + 1)],
            hint=hint,
        )

    # Iterative post-order walk: the Python stack never grows with the document's nesting.
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if done:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            depths[key] = 1 + max((depths[id(c)] for c in children), default=0)
            if sizes[key] > MAX_NODES:
                raise refuse(
                    f"expands to more than {MAX_NODES:,} values (through {aliases:,} YAML aliases)",
                    node,
                    "write the values out; YAML anchors and aliases are for a few shared blocks",
                )
            if depths[key] > MAX_DEPTH:
                raise refuse(
                    f"nests deeper than {MAX_DEPTH} levels",
                    node,
                    "mlrelease.yaml is a few levels deep; remove the extra nesting",
                )
            continue
        if key in sizes:
            aliases += 1
            continue
        if key in open_nodes:
            raise refuse(
                "a YAML alias refers to a node that contains it (a recursive structure)",
                node,
                "remove the alias; mlrelease.yaml cannot contain itself",
            )
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children)
        if len(open_nodes) > MAX_DEPTH * 4:
            raise refuse(
                f"nests deeper than {MAX_DEPTH} levels",
                node,
                "mlrelease.yaml is a few levels deep; remove the extra nesting",
            )


def parse_text(text: str, file: str) -> tuple[dict[str, Any], _LineMap]:
    """Parse YAML text into data and a line map; YAML syntax errors carry their line.

    The text is composed into nodes once, measured (size after alias expansion, depth), and only
    then turned into Python objects, so no size of file or alias bomb can stall the loader.
    """
    if len(text) > MAX_BYTES:
        raise ConfigError(
            f"{file}: the file is larger than {MAX_BYTES // 1024} KB, the most mlrelease reads "
            "as configuration",
            hint="a handoff config is a few KB: keep data in data files, not in mlrelease.yaml",
        )
    loader = None
    try:
        loader = yaml.SafeLoader(text)  # refuses a control character before it reads anything
        node = loader.get_single_node()
        if node is not None:
            _check_size(node, file)
        data = loader.construct_document(node) if node is not None else None
    except yaml.reader.ReaderError as exc:  # no mark: the position of the character instead
        raise ConfigError(
            f"{file}: not valid YAML",
            problems=[
                Problem(
                    f"character #x{exc.character:04x} is not allowed: {exc.reason}",
                    file=file,
                    line=text.count("\n", 0, exc.position) + 1,
                )
            ],
            hint="remove the control character (a copy and paste from a terminal or a word processor "
            "brings them)",
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            f"{file}: not valid YAML",
            problems=[Problem(str(problem)[:500], file=file, line=line)],
        ) from None
    except RecursionError:
        # PyYAML's composer recurses once per level of nesting, before the walk can measure it.
        raise ConfigError(
            f"{file}: nests deeper than {MAX_DEPTH} levels",
            hint="mlrelease.yaml is a few levels deep; remove the extra nesting",
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
    if data is None:
        raise ConfigError(f"{file}: the file is empty", hint="it needs at least a 'model' section")
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: expected a mapping at the top level, got {_type_name(data)}")
    lines = _LineMap(node)
    dupes = _duplicate_keys(node)
    if dupes:
        raise ConfigError(
            f"{file}: duplicate keys",
            problems=[Problem("key is given twice", file=file, line=ln, key=_key_name(p)) for p, ln in dupes],
        )
    return data, lines


def validate_data(data: dict[str, Any], lines: _LineMap, file: str) -> list[Problem]:
    """Every schema problem in ``data``, sorted by line.

    The schema compiled to Python (``schema/config_check.py``, fastjsonschema's code) answers
    first: a valid config costs well under a millisecond, against some 50 ms of importing
    jsonschema and building its validator on every command. When it finds anything off, or
    fails on a value it cannot handle, jsonschema validates again and names every problem; so
    the messages are jsonschema's as before. tests/config/test_config_check.py holds the
    compiled check to passing nothing jsonschema refuses.
    """
    from mlrelease.schema import config_check

    compiled: Callable[[dict[str, Any]], None] = config_check.validate
    try:
        compiled(data)
    except Exception:  # any refusal, or a value it cannot handle: jsonschema decides and explains
        pass
    else:
        return []
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema())
    problems: list[Problem] = []
    for error in validator.iter_errors(data):
        # A oneOf failure on a tolerance repeats as errors of each branch; report the oneOf once.
        problems += _describe(error, lines, file)
    unique = {(p.line, p.key, p.message): p for p in problems}
    return sorted(unique.values(), key=lambda p: (p.line or 0, p.key or ""))


def _exists(path: Path, *, file: bool = False) -> bool:
    """Whether ``path`` exists (is a file); a name the system cannot even look up does not."""
    try:
        return path.is_file() if file else path.exists()
    except OSError:  # a name too long, for one
        return False


def _check_files(data: dict[str, Any], root: Path, lines: _LineMap, file: str) -> list[Problem]:
    problems: list[Problem] = []

    def problem(message: str, path: tuple[str | int, ...], hint: str | None = None) -> None:
        problems.append(Problem(message, file=file, line=lines.line(path), key=_key_name(path), hint=hint))

    def need(path: tuple[str, ...], what: str) -> None:
        value: Any = data
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str) and not _exists(root / value):
            problem(f"{what} '{cut(value)}' does not exist (relative to {root})", path)

    need(("model", "artifact"), "model file")
    need(("requirements",), "requirements file")
    need(("validation", "data"), "validation data")
    need(("validation", "reference"), "reference data")
    module_file = _entry_module(data["model"])
    if module_file is not None and not _exists(root / module_file, file=True):
        problem(f"entrypoint module '{cut(module_file)}' does not exist", ("model", "entrypoint"))
    for i, pattern in enumerate(data.get("notebooks") or []):
        if not glob.glob(str(root / pattern), recursive=True):
            problem(f"pattern '{cut(pattern)}' matches no notebook", ("notebooks", i))
    model = data["model"]
    fmt = _model_format(model)
    if fmt in {"joblib", "pickle"} and not (model.get("allow_pickle") and model.get("sha256")):
        problem(
            f"a {fmt} artifact can run code when loaded",
            ("model", "artifact"),
            hint="save it with skops, or set model.allow_pickle: true together with model.sha256",
        )
    return problems


def _outside(
    path: Path,
    root: Path,
    key: str,
    allowed: frozenset[str] | set[str],
    *,
    file: str,
    line: int | None = None,
    shown: str | None = None,
    hint: str | None = None,
) -> Problem | None:
    """A Problem when ``path`` resolves (symlinks followed) outside ``root`` and ``key`` may not."""
    trust_key = key.split("[", 1)[0]  # notebooks[2] is trusted as notebooks
    if trust_key in allowed:
        return None
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        return Problem(f"cannot resolve {cut(str(path))}: {exc}", file=file, line=line, key=key)
    if resolved.is_relative_to(root):
        return None
    what = f"'{cut(shown)}'" if shown is not None else cut(str(path))
    return Problem(
        f"{what} resolves to {cut(str(resolved), 200)}, outside the handoff's folder {root}",
        file=file,
        line=line,
        key=key,
        hint=hint or f"keep it inside the folder, or list '{trust_key}' in trust.outside_paths to allow it",
    )


def _glob_base(pattern: str) -> str:
    """The part of a glob pattern before its first wildcard: ``data/../x/*.ipynb`` -> ``data/../x``."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return str(Path(*fixed))  # Path() is "."


def _check_paths(data: dict[str, Any], root: Path, lines: _LineMap, file: str) -> list[Problem]:
    """Every path key (defaults filled in) that resolves outside ``root`` without an opt-in."""
    allowed = set(data["trust"]["outside_paths"])
    problems: list[Problem] = []

    def check(path: tuple[Any, ...], value: Any, key: str, shown: str | None = None) -> None:
        if value is None:
            return
        problem = _outside(
            root / value, root, key, allowed, file=file, line=lines.line(path), shown=shown or value
        )
        if problem is not None:
            problems.append(problem)

    model = data["model"]
    check(("model", "artifact"), model.get("artifact"), "model.artifact")
    check(("model", "entrypoint"), _entry_module(model), "model.entrypoint", model.get("entrypoint"))
    check(("requirements",), data.get("requirements"), "requirements")
    check(("lock",), data.get("lock"), "lock")
    validation = data.get("validation") or {}
    check(("validation", "data"), validation.get("data"), "validation.data")
    check(("validation", "reference"), validation.get("reference"), "validation.reference")
    logging_file = data["serving"]["logging"].get("file")
    check(("serving", "logging", "file"), logging_file, "serving.logging.file")
    for i, pattern in enumerate(data["notebooks"]):
        key = f"notebooks[{i}]"
        before = len(problems)
        check(("notebooks", i), _glob_base(pattern), key, pattern)
        if len(problems) > before:  # the folder leads out: what it matches is not listed too
            continue
        for match in glob.glob(str(root / pattern), recursive=True):
            problem = _outside(
                Path(match),
                root,
                key,
                allowed,
                file=file,
                line=lines.line(("notebooks", i)),
                shown=os.path.relpath(match, root),
            )
            if problem is not None:
                problems.append(problem)
    return problems


def _entry_module(model: dict[str, Any]) -> str | None:
    """The file of an entrypoint 'path/to/module.py:factory'; None for a package's module or none."""
    entry = model.get("entrypoint")
    if entry is None:
        return None
    module_file: str = entry.partition(":")[0]  # the schema allows one ':' only
    return module_file if module_file.endswith(".py") else None


def _model_format(model: Any) -> ModelFormat | None:
    if not isinstance(model, dict):
        return None
    if model.get("format"):
        given: ModelFormat = model["format"]  # the schema allows only the formats of ModelFormat
        return given
    artifact = model.get("artifact")
    if isinstance(artifact, str):
        return FORMAT_BY_SUFFIX.get(Path(artifact).suffix.lower())
    return None


def load(path: str | Path | None = None, *, check_files: bool = True) -> Config:
    """Load and validate ``mlrelease.yaml``; raise ConfigError listing every problem."""
    cfg_path = find_config(path)
    file = str(cfg_path)
    outside = _outside(
        cfg_path,
        cfg_path.parent.resolve(),
        "(the config file)",
        set(),
        file=file,
        hint="copy the file into the handoff's folder instead of linking to it",
    )
    if outside is not None:  # a symlink to another file would print that file's keys in messages
        raise ConfigError(f"{file}: a symlink out of the handoff's folder", problems=[outside])
    try:
        with cfg_path.open(encoding="utf-8") as f:
            text = f.read(MAX_BYTES + 1)  # never more than the limit into memory
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read: {exc}") from None
    data, lines = parse_text(text, file)
    problems = validate_data(data, lines, file)
    root = cfg_path.parent.resolve()
    filled = _fill_defaults(copy.deepcopy(data), schema()) if not problems else data
    if not problems:
        # Paths are confined whether or not the files must exist: a lock or a log file that is
        # about to be written must not lead out of the folder either.
        problems = _check_paths(filled, root, lines, file)
    if not problems and check_files:
        problems = _check_files(data, root, lines, file)
        if data["model"].get("artifact") and not _model_format(data["model"]):
            problems.append(
                Problem(
                    "cannot tell the model format from the file name",
                    file=file,
                    line=lines.line(("model", "artifact")),
                    key="model.artifact",
                    hint="set model.format to one of skops, joblib, pickle, onnx",
                )
            )
    if problems:
        count = len(problems)
        raise ConfigError(f"{file}: {count} problem{'s' if count != 1 else ''}", problems=problems)
    return _build(filled, cfg_path.resolve(), root)


def _tol(raw: Any) -> Tolerance | None:
    return None if raw is None else Tolerance.parse(raw)


def _build(d: dict[str, Any], path: Path, root: Path) -> Config:
    # Every optional section and key has a schema default, filled in by _fill_defaults: read
    # the values as they are, so the schema stays the one place that states a default.
    return Config(
        path=path,
        root=root,
        model=_model(d["model"], root),
        notebooks=tuple(d["notebooks"]),
        requirements=root / d["requirements"],
        lock=root / d["lock"],
        validation=_validation(d["validation"], root) if "validation" in d else None,
        lint=_lint(d["lint"]),
        gate=_gate(d["gate"]),
        image=_image(d["image"]),
        serving=_serving(d["serving"], root),
        deploy=DeployConfig(gke=_gke(d["deploy"]["gke"]) if d["deploy"].get("gke") else None),
        monitoring=_monitoring(d["monitoring"]),
        trust=TrustConfig(
            outside_paths=frozenset(d["trust"]["outside_paths"]),
            requirements_options=frozenset(d["trust"]["requirements_options"]),
        ),
        raw=d,
        registry=RegistryConfig(
            location=d["registry"]["location"]
            if "://" in d["registry"]["location"]
            else str(root / d["registry"]["location"])
        ),
        watch=WatchConfig(**d["watch"]),
    )


def _model(m: dict[str, Any], root: Path) -> ModelConfig:
    return ModelConfig(
        name=m["name"],
        task=m["task"],
        artifact=(root / m["artifact"]) if m.get("artifact") else None,
        format=_model_format(m),
        sha256=m.get("sha256"),
        allow_pickle=m["allow_pickle"],
        trusted_types=tuple(m["trusted_types"]),
        entrypoint=m.get("entrypoint"),
        target=m.get("target"),
        id_column=m.get("id_column"),
        features=tuple(m["features"]) if m.get("features") else None,
        version=m.get("version"),
    )


def _validation(v: dict[str, Any], root: Path) -> ValidationConfig:
    return ValidationConfig(
        data=root / v["data"],
        reference=(root / v["reference"]) if v.get("reference") else None,
        golden_rows=v["golden_rows"],
        slices=tuple(
            SliceConfig(
                name=s["name"],
                column=s["column"],
                values=tuple(s["values"]) if "values" in s else None,
                min=s.get("min"),
                max=s.get("max"),
                max_regression=_tol(s.get("max_regression")),
            )
            for s in v["slices"]
        ),
    )


def _lint(lint_d: dict[str, Any]) -> LintConfig:
    return LintConfig(
        fail_on=lint_d["fail_on"],
        ignore=tuple(lint_d["ignore"]),
        severity=dict(lint_d["severity"]),
        max_output_kb=lint_d["max_output_kb"],
        cell_timeout_s=lint_d["cell_timeout_s"],
        rtol=lint_d["rtol"],
    )


def _gate(g: dict[str, Any]) -> GateConfig:
    return GateConfig(
        metrics={
            name: MetricRule(
                better=r.get("better"),
                max_regression=_tol(r.get("max_regression")),
                min=r.get("min"),
                max=r.get("max"),
                optional=r["optional"],
            )
            for name, r in g["metrics"].items()
        },
        trade_offs=tuple(
            TradeOff(
                allow={k: Tolerance.parse(x) for k, x in t["allow"].items()},
                when={k: Tolerance.parse(x) for k, x in t["when"].items()},
            )
            for t in g["trade_offs"]
        ),
        bootstrap=BootstrapConfig(**g["bootstrap"]),
    )


def _image(im: dict[str, Any]) -> ImageConfig:
    return ImageConfig(
        python=im["python"],
        gpu=im["gpu"],
        base=im.get("base"),
        cuda=im.get("cuda"),
        registry=im.get("registry"),
        runtime=im["runtime"],
    )


def _serving(s: dict[str, Any], root: Path) -> ServingConfig:
    out = s["outliers"]
    pred = out.get("prediction")
    log = s["logging"]
    return ServingConfig(
        port=s["port"],
        max_batch_rows=s["max_batch_rows"],
        max_body_bytes=s["max_body_bytes"],
        compile=s["compile"],
        batching=BatchingConfig(**s["batching"]),
        outliers=OutlierConfig(
            mode=out["mode"],
            prediction=Bounds(pred.get("min"), pred.get("max")) if pred else None,
            learn_margin=out["learn_margin"],
            input_z=out["input_z"],
            input_range_margin=out["input_range_margin"],
            inputs={k: Bounds(b.get("min"), b.get("max")) for k, b in out["inputs"].items()},
        ),
        logging=LoggingConfig(
            sample_rate=log["sample_rate"],
            file=(root / log["file"]) if log.get("file") else None,
        ),
        connections=ConnectionsConfig(**s["connections"]),
        classification=ClassificationServing(**s["classification"]),
    )


def _gke(gk: dict[str, Any]) -> GkeConfig:
    return GkeConfig(
        project=gk["project"],
        location=gk["location"],
        cluster=gk["cluster"],
        namespace=gk["namespace"],
        min_replicas=gk["replicas"]["min"],
        max_replicas=gk["replicas"].get("max"),
        target_cpu=gk["target_cpu"],
        replica_rps=gk["replica_rps"],
        replica_p99_ms=gk["replica_p99_ms"],
        baseline_rps=gk.get("baseline_rps"),
        peak_factor=gk["peak_factor"],
        cpu=gk["cpu"],
        memory=gk.get("memory"),
        service_account=gk.get("service_account"),
        accelerator=gk["accelerator"],
        progress_deadline_s=gk["progress_deadline_s"],
    )


def _monitoring(mon: dict[str, Any]) -> MonitoringConfig:
    drift = dict(mon["drift"])
    drift["features"] = {k: FeatureDriftConfig(**v) for k, v in drift["features"].items()}
    return MonitoringConfig(drift=DriftConfig(**drift), outliers=OutlierRateConfig(**mon["outliers"]))
