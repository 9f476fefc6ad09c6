"""Every JSON file that crosses a step boundary, with its JSON Schema.

The schemas are derived from the typed records (dataclasses) that read and write the files, so
they cannot drift from the code; ``scripts/gen_artifact_docs.py`` publishes them in ``schemas/``
and describes them in ``docs/artifacts.md`` (a test fails when either is stale).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

SCHEMA_BASE = "https://mlrelease.dev/schemas/"


@dataclass(frozen=True)
class Artifact:
    name: str  # the file's usual name, e.g. "metrics.json"
    written_by: str
    read_by: str
    version: int
    summary: str
    schema: Callable[[], dict[str, Any]]  # imported lazily: the gate's record needs numpy
    # the key that holds the version in each document (or line); None for a table, whose version
    # is in its Parquet metadata and whose schema describes one row
    version_key: str | None = "schema_version"
    stem: str = ""  # the schema file's name, when not the artifact's name without its suffix

    @property
    def schema_file(self) -> str:
        return f"{self.stem or self.name.split('.')[0]}.schema.json"

    def json_schema(self) -> dict[str, Any]:
        body = self.schema()
        key = self.version_key
        if key is not None:
            body["properties"] = {key: {"const": self.version}, **body["properties"]}
            body["required"] = [key, *[r for r in body.get("required", []) if r != key]]
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": SCHEMA_BASE + self.schema_file,
            "title": self.name,
            "description": self.summary,
            **body,
        }


# ----------------------------------------------------------------------------- dataclass -> schema


def dataclass_schema(cls: type, *, defs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON Schema of the JSON form of dataclass ``cls``: a field without a default is
    required; nested dataclasses become ``$defs``."""
    top = defs is None
    defs = {} if defs is None else defs
    hints = typing.get_type_hints(cls)
    props: dict[str, Any] = {}
    required: list[str] = []
    for f in dataclasses.fields(cls):
        props[f.name] = _type_schema(hints[f.name], defs)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    out: dict[str, Any] = {"type": "object", "properties": props, "required": required}
    if (cls.__doc__ or "").strip() and not (cls.__doc__ or "").startswith(cls.__name__ + "("):
        out["description"] = " ".join((cls.__doc__ or "").split())
    if top and defs:
        out["$defs"] = defs
    return out


def _type_schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return {}
    if tp is type(None):
        return {"type": "null"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": ["number", "null"]}  # a value that is not finite is written as null
    if tp is str:
        return {"type": "string"}
    if origin is Literal:
        return {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_type_schema(a, defs) for a in args]}
    if origin in (list, tuple):
        item = args[0] if args else Any
        return {"type": "array", "items": _type_schema(item, defs)}
    if origin is dict:
        return {"type": "object", "additionalProperties": _type_schema(args[1], defs)}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        name = tp.__name__
        if name not in defs:
            defs[name] = {}  # placeholder against recursion
            defs[name] = dataclass_schema(tp, defs=defs)
        return {"$ref": f"#/$defs/{name}"}
    raise TypeError(f"no JSON Schema for {tp!r}")


# ----------------------------------------------------------------------------- the files


def _metrics() -> dict[str, Any]:
    from mlrelease.artifacts.metrics import MetricsReport

    return dataclass_schema(MetricsReport)


def _signature() -> dict[str, Any]:
    from mlrelease.signature import Signature

    return dataclass_schema(Signature)


def _image() -> dict[str, Any]:
    from mlrelease.image.record import ImageRecord

    return dataclass_schema(ImageRecord)


def _gate() -> dict[str, Any]:
    from mlrelease.gate import GateResult

    return dataclass_schema(GateResult)


def _finding() -> dict[str, Any]:
    """One item of a findings list (``Finding.to_json``): rule-specific keys may follow."""
    return {
        "type": "object",
        "properties": {
            "rule": {"type": "string"},
            "name": {"type": "string"},
            "severity": {"enum": ["error", "warning", "info"]},
            "message": {"type": "string"},
            "file": {"type": ["string", "null"]},
            "line": {"type": ["integer", "null"]},
            "cell": {"type": ["integer", "null"]},
            "file_line": {"type": ["integer", "null"]},
            "key": {"type": "string"},
            "hint": {"type": ["string", "null"]},
        },
        "required": ["rule", "severity", "message", "file", "line", "hint"],
    }


def _counts(*severities: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {s: {"type": "integer"} for s in severities},
        "required": list(severities),
    }


def _lint() -> dict[str, Any]:
    from mlrelease.notebooks.lint import NotebookSummary

    strings = {"type": "array", "items": {"type": "string"}}
    return {
        "type": "object",
        "properties": {
            "tool": {"const": "mlrelease lint"},
            "fail_on": {"enum": ["error", "warning", "info", "never"]},
            "failed": {"type": "boolean"},
            "executed": {"type": "boolean"},
            "kernel": {"type": ["string", "null"]},
            "counts": _counts("error", "warning", "info"),
            "notebooks": {"type": "array", "items": dataclass_schema(NotebookSummary)},
            "unreadable": strings,
            "findings": {"type": "array", "items": _finding()},
        },
        "required": ["tool", "fail_on", "failed", "counts", "notebooks", "unreadable", "findings"],
    }


def _deps() -> dict[str, Any]:
    strings = {"type": "array", "items": {"type": "string"}}
    finding = _finding()
    finding["properties"]["package"] = {"type": ["string", "null"]}
    return {
        "type": "object",
        "properties": {
            "root": {"type": "string"},
            "files_scanned": {"type": "integer"},
            "declared": strings,
            "dev_declared": strings,
            "locks_checked": strings,
            "counts": _counts("error", "warning"),
            "findings": {"type": "array", "items": finding},
        },
        "required": ["root", "files_scanned", "declared", "locks_checked", "counts", "findings"],
    }


def _table_row(required: list[str], inputs: bool) -> dict[str, Any]:
    """One row of a table that evaluate writes; ``inputs``: the model's input columns follow."""
    from mlrelease.artifacts.metrics import PROBA_PREFIX, SLICE_PREFIX

    patterns: dict[str, Any] = {f"^{PROBA_PREFIX}": {"type": ["number", "null"]}}
    if not inputs:
        patterns[f"^{SLICE_PREFIX}"] = {"type": "boolean"}
    props: dict[str, Any] = {"row_id": {}, "prediction": {}}
    if "target" in required:
        props["target"] = {}
    return {
        "type": "object",
        "properties": props,
        "patternProperties": patterns,
        "additionalProperties": inputs,
        "required": required,
    }


def _predictions() -> dict[str, Any]:
    return _table_row(["row_id", "prediction", "target"], inputs=False)


def _golden() -> dict[str, Any]:
    return _table_row(["row_id", "prediction"], inputs=True)


def _lock_check() -> dict[str, Any]:
    from mlrelease.deps.lock import LockCheckReport

    return LockCheckReport.json_schema()


def _image_test() -> dict[str, Any]:
    from mlrelease.image.verify import ImageTestResult

    schema = dataclass_schema(ImageTestResult)
    schema["properties"]["ok"] = {"type": "boolean"}
    schema["required"].append("ok")
    return schema


def _request_log_line() -> dict[str, Any]:
    from mlrelease.artifacts.requestlog import json_schema

    return json_schema()


ARTIFACTS: tuple[Artifact, ...] = (
    Artifact(
        "lint.json", "lint --report", "PR annotations, gate summary", 2,
        "The notebook findings of `mlrelease lint` (the document `--json` prints).", _lint,
    ),
    Artifact(
        "deps.json", "deps check --json", "PR annotations, the registry", 1,
        "The dependency findings of `mlrelease deps check`.", _deps,
    ),
    Artifact(
        "metrics.json", "evaluate", "gate, registry", 1,
        "What `mlrelease evaluate` measured: quality by task and slice, cost with its noise, the "
        "model's and the data's sha256.", _metrics,
    ),
    Artifact(
        "signature.json", "evaluate", "build, serve, test-image", 1,
        "The model's input columns inferred from the reference data, with the spread of its "
        "validation predictions.", _signature,
    ),
    Artifact(
        "gate.json", "gate", "PR comment, job summary, registry", 1,
        "The gate's decision: every check with its rule, values, interval and verdict.", _gate,
    ),
    Artifact(
        "image.json", "build, push", "test-image, deploy, registry", 1,
        "The built image: reference, id, size, labels, content digest; after a push, the "
        "registry digest.", _image,
    ),
    Artifact(
        "lock-check.json", "lock --check --json", "PR comment", 1,
        "Each lock file checked: fresh, stale, edited, missing or foreign, with the diff of its inputs.",
        _lock_check,
    ),
    Artifact(
        "image-test.json", "test-image --json", "PR comment", 1,
        "Whether the image gives the golden predictions with the locked packages: every differing "
        "row and package, and the GPU check.", _image_test,
    ),
    Artifact(
        "predictions.parquet", "evaluate", "gate", 1,
        "Every validation row's `row_id`, `prediction`, `target`, class probabilities (`proba:<class>`) "
        "and slice membership (`slice:<name>`). A Parquet table: the schema describes one row; the "
        "version is in the file's `mlrelease` metadata key.", _predictions, version_key=None,
    ),
    Artifact(
        "golden.parquet", "evaluate", "test-image, deploy, registry", 1,
        "A seeded sample of input rows exactly as the model takes them, with `row_id`, `prediction` "
        "and a classifier's `proba:<class>`. A Parquet table: the schema describes one row; the "
        "version is in the file's `mlrelease` metadata key.", _golden, version_key=None,
    ),
    Artifact(
        "requests.jsonl", "serve (serving.logging)", "monitor", 1,
        "One JSON line per request (and per outlier row) in Cloud Logging's structured format; the "
        "version is each line's `schema` key. The schema describes one line.", _request_log_line,
        version_key="schema", stem="request-log-line",
    ),
)  # fmt: skip

BY_NAME = {a.name: a for a in ARTIFACTS}


def markdown() -> str:
    """docs/artifacts.md: one section per artifact, its fields and its schema file."""
    lines = [
        "# Artifacts",
        "",
        "<!-- generated by scripts/gen_artifact_docs.py from src/mlrelease/artifacts/catalogue.py; "
        "do not edit -->",
        "",
        "Every arrow between two steps is one of these files. Each carries its version (a JSON "
        "document its `schema_version`, a request-log line its `schema`, a Parquet table its "
        "`mlrelease` metadata key); a reader refuses a file of another version (a newer mlrelease "
        "wrote it, or an older one) with exit 2, naming the file and how to write it again. The "
        "JSON Schemas are in `schemas/` (and in the package, `mlrelease/schema/`).",
        "",
        "| file | written by | read by | version | schema |",
        "| --- | --- | --- | ---: | --- |",
    ]
    for a in ARTIFACTS:
        lines.append(
            f"| `{a.name}` | {a.written_by} | {a.read_by} | {a.version} | "
            f"[`schemas/{a.schema_file}`](../schemas/{a.schema_file}) |"
        )
    for a in ARTIFACTS:
        schema = a.json_schema()
        lines += [
            "",
            f"## `{a.name}`",
            "",
            a.summary,
            "",
            "| field | type | required |",
            "| --- | --- | --- |",
        ]
        required = set(schema.get("required", []))
        for name, prop in schema["properties"].items():
            lines.append(f"| `{name}` | {_describe(prop)} | {'yes' if name in required else ''} |")
    return "\n".join(lines) + "\n"


def _describe(prop: dict[str, Any]) -> str:
    if "const" in prop:
        return f"`{prop['const']}`"
    if "$ref" in prop:
        return str(prop["$ref"]).rsplit("/", 1)[-1]
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    if "anyOf" in prop:
        return " or ".join(_describe(p) for p in prop["anyOf"])
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_describe(prop.get('items', {}))}"
    if kind == "object" and "additionalProperties" in prop:
        return f"map to {_describe(prop['additionalProperties'])}"
    if isinstance(kind, list):
        return " or ".join(kind)
    return str(kind)
