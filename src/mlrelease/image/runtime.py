"""What the image's runtime stage holds: the compiled model alone, or every locked package.

``image.runtime: auto`` (the default) builds a compiled-only image when the model compiles fully
(``mlrelease.serve.freeze.blueprint``: trees, ordinal column encodings and plain-arithmetic
output steps; no scikit-learn call at request time): the builder stage compiles and proves it,
and the runtime stage holds only what the compiled server imports. Anything else (``full``, a
custom entrypoint, an ONNX file, a GPU image, ``serving.compile: false``, a model that does not
compile fully) builds the full image, and :func:`choose` says why.

The packages the runtime needs are the closure of :data:`SERVING_ROOTS` over the locked wheels'
own ``Requires-Dist`` (markers evaluated for linux x86_64 and the image's CPython). Every other
locked package is *build-only*: installed in the builder, moved out of the environment before the
runtime stage copies it (``mlrelease.image.prune``), and named in the image's
``io.mlrelease.build-only`` label, so that ``test-image`` holds the image to exactly the lock less
that named set.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path
from typing import Literal

from mlrelease.config import Config
from mlrelease.image.lockfile import Lock, normalize

# What `mlrelease serve --compiled-model` imports beyond the standard library and mlrelease:
# the CLI (click), the config (pyyaml; jsonschema explains a config problem), the arrays, the
# HTTP stack and the metrics. tests/serve/test_compiled_only.py holds the import path to it.
SERVING_ROOTS = (
    "click",
    "pyyaml",
    "jsonschema",
    "numpy",
    "uvicorn",
    "httptools",
    "uvloop",
    "orjson",
    "prometheus-client",
)
RUNTIME_LABEL = "io.mlrelease.runtime"
REASON_LABEL = "io.mlrelease.runtime.reason"
BUILD_ONLY_LABEL = "io.mlrelease.build-only"

Kind = Literal["compiled", "full"]


@dataclass(frozen=True)
class RuntimeChoice:
    kind: Kind
    reason: str

    def describe(self) -> str:
        what = "compiled-only (the compiled model alone)" if self.kind == "compiled" else "full"
        return f"image runtime: {what}: {self.reason}"


def choose(cfg: Config, *, gpu: bool, signature: Path | None) -> RuntimeChoice:
    """Whether the image serves the compiled model alone, and why (or why not)."""
    if cfg.image.runtime == "full":
        return RuntimeChoice("full", "image.runtime is full")
    if gpu:
        return RuntimeChoice("full", "a GPU image serves its model's own library")
    if not cfg.serving.compile:
        return RuntimeChoice("full", "serving.compile is false")
    if cfg.model.entrypoint or cfg.model.artifact is None:
        return RuntimeChoice("full", "a custom entrypoint runs the handoff's own code")
    if (cfg.model.format or "") not in ("skops", "joblib", "pickle"):
        return RuntimeChoice("full", f"a {cfg.model.format} model is not compiled")
    if signature is None:
        return RuntimeChoice(
            "full", "no signature.json (pass --evaluation) to compile the model's columns against"
        )
    from mlrelease.errors import MlreleaseError
    from mlrelease.model import load_model
    from mlrelease.serve.compiled import NotCompilable
    from mlrelease.serve.freeze import blueprint
    from mlrelease.signature import Signature

    try:
        sig = Signature.read(signature)
        model = load_model(cfg.model, root=cfg.root)
        plan = blueprint(model.estimator, sig.names, cfg.model.task == "classification")
    except NotCompilable as exc:
        return RuntimeChoice("full", f"the model does not compile fully: {exc}")
    except MlreleaseError as exc:
        return RuntimeChoice("full", f"the model could not be compiled here: {exc.message}")
    return RuntimeChoice("compiled", f"the whole model compiles ({plan.steps})")


def _requirements(wheel: Path) -> tuple[str, list[str]]:
    """A wheel's distribution name and its Requires-Dist lines."""
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
        meta = Parser().parsestr(zf.read(name).decode("utf-8"))
    return normalize(str(meta["Name"])), [str(r) for r in meta.get_all("Requires-Dist") or []]


def runtime_packages(
    wheels: Sequence[Path], python: str, roots: Sequence[str] = SERVING_ROOTS
) -> frozenset[str]:
    """The locked distributions the compiled server needs: ``roots`` and everything they require."""
    from packaging.requirements import Requirement

    env = {
        "python_version": python,
        "python_full_version": f"{python}.0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
        "os_name": "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "extra": "",
    }
    graph: dict[str, list[str]] = {}
    for wheel in wheels:
        name, requires = _requirements(wheel)
        needs = []
        for line in requires:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate(env):
                needs.append(normalize(req.name))
        graph[name] = needs
    keep: set[str] = set()
    todo = [normalize(r) for r in roots if normalize(r) in graph]
    while todo:
        name = todo.pop()
        if name not in keep:
            keep.add(name)
            todo += [n for n in graph.get(name, []) if n in graph]
    return frozenset(keep)


def build_only(lock: Lock, wheels: Sequence[Path], python: str) -> tuple[str, ...]:
    """The locked packages a compiled-only image leaves in the builder, sorted."""
    keep = runtime_packages(wheels, python)
    return tuple(sorted(p.name for p in lock.pins if p.name not in keep and p.name != "mlrelease"))
