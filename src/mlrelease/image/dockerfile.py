"""The Dockerfile of a model image, rendered from an ``ImageSpec``.

Two stages. The builder creates a virtual environment and installs the locked wheels into it from
``wheels/`` in the build context, with ``--require-hashes --no-index`` (nothing is downloaded
inside the build), then mlrelease itself (``--no-deps``, a separate command because
``--require-hashes`` applies to a whole install), and cuts what serving never reads (test suites,
C headers, then ``mlrelease.image.slim``). The runtime stage copies only that environment
and ``app/`` (the model, a trimmed ``mlrelease.yaml``, ``signature.json``), runs as uid 10001 and
checks its health with the standard library (no curl in slim images).

A compiled-only image (``ImageSpec.runtime``, see ``mlrelease.image.runtime``) adds three builder
steps: the build-only packages move out of the environment (``mlrelease.image.prune``), and after the
model's ``COPY`` the builder compiles it and proves it (``mlrelease.serve.freeze``); the runtime
stage copies the environment less those packages and the compiled model, and serves it alone.

Layer order is what makes a model-only change rebuild in seconds: the dependency layers come
first and depend only on the lock and the wheels; the model ``COPY`` and the labels come last, and
nothing else follows them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Literal

from mlrelease.errors import UsageError

USER_ID = 10001
VENV = "/opt/venv"
APP = "/app"
COMPILED = f"{APP}/compiled"  # a compiled-only image's compiled model (mlrelease.serve.artifact)
BUILD_ONLY = "/opt/build-only"  # where the builder keeps the packages the runtime stage leaves out
DEFAULT_CUDA = "12.4.1"
# What pip's venv bootstrap adds that the lock does not ask for: removed so that the image
# holds exactly the locked packages plus mlrelease.
BOOTSTRAP_PACKAGES = ("pip", "setuptools", "wheel")

_REFERENCE = re.compile(
    r"^(?P<name>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


@dataclass(frozen=True)
class BaseImage:
    """The base both stages build FROM, and what it takes to get Python into it."""

    reference: str
    python_from_apt: bool  # an nvidia/cuda base has no Python 3.X of its own

    @property
    def pinned(self) -> bool:
        return "@sha256:" in self.reference


def resolve_base(requested: str | None, *, python: str, gpu: bool, cuda: str | None) -> BaseImage:
    """``requested`` (``--base-image`` or image.base) or the default ``python:<python>-slim``.

    ``nvidia/cuda`` without a tag expands to ``nvidia/cuda:<image.cuda>-runtime-ubuntu22.04``. A GPU
    image needs no CUDA base: PyTorch's CUDA wheels in the lock carry the CUDA runtime.
    """
    ref = (requested or f"python:{python}-slim").strip()
    if ref == "nvidia/cuda":
        ref = f"nvidia/cuda:{cuda or DEFAULT_CUDA}-runtime-ubuntu22.04"
    match = _REFERENCE.match(ref)
    if not match:
        raise UsageError(
            f"'{ref}' is not an image reference",
            hint="use NAME[:TAG][@sha256:DIGEST], for example python:3.11-slim",
        )
    if not match.group("tag") and not match.group("digest"):
        raise UsageError(
            f"base image '{ref}' has neither a tag nor a digest",
            hint="name a tag (python:3.11-slim) or, better, pin a digest (python:3.11-slim@sha256:...)",
        )
    if match.group("tag") == "latest" and not match.group("digest"):
        raise UsageError(f"base image '{ref}' uses :latest", hint="name a version tag or a digest")
    name = match.group("name")
    return BaseImage(reference=ref, python_from_apt=name.split("/")[-2:] == ["nvidia", "cuda"])


@dataclass(frozen=True)
class ImageSpec:
    """Everything the Dockerfile depends on. Equal specs render equal bytes."""

    model_name: str
    model_version: str
    python: str
    base: BaseImage
    gpu: bool
    port: int
    lock_packages: frozenset[str]  # normalized names in the lock
    signature: bool  # app/signature.json is present
    labels: dict[str, str] = field(default_factory=dict)
    mlrelease_version: str = ""
    runtime: Literal["compiled", "full"] = (
        "full"  # compiled: the runtime stage serves the compiled model alone
    )
    build_only: tuple[
        str, ...
    ] = ()  # compiled: locked packages left in the builder (mlrelease.image.runtime)

    @property
    def remove_after_install(self) -> tuple[str, ...]:
        return tuple(p for p in BOOTSTRAP_PACKAGES if p not in self.lock_packages)

    def entrypoint(self) -> list[str]:
        argv = [f"{VENV}/bin/mlrelease", "serve", "-c", f"{APP}/mlrelease.yaml"]
        if self.runtime == "compiled":
            argv += ["--compiled-model", COMPILED]
        elif self.signature:
            argv += ["--signature", f"{APP}/signature.json"]
        return [*argv, "--host", "0.0.0.0", "--port", str(self.port)]

    def healthcheck(self) -> list[str]:
        probe = (
            "import urllib.request; "
            f"urllib.request.urlopen('http://127.0.0.1:{self.port}/healthz', timeout=2).read()"
        )
        return [f"{VENV}/bin/python", "-c", probe]


def _quote(value: str) -> str:
    """A LABEL value in double quotes; the Dockerfile parser undoes these escapes."""
    if "\n" in value or "\r" in value:
        raise UsageError(f"label value {value!r} spans lines; labels are one line")
    return json.dumps(value, ensure_ascii=False)


def _exec_form(argv: list[str]) -> str:
    return json.dumps(argv, ensure_ascii=False)


def _python_install(spec: ImageSpec, packages: str) -> list[str]:
    return [
        "# The CUDA base ships no Python of its own. Ubuntu's archive has one build of each",
        "# python3.X per release, so pinning its version adds nothing; the image's Python packages",
        "# are pinned by the lock.",
        "# hadolint ignore=DL3008",
        "RUN apt-get update \\",
        f" && apt-get install -y --no-install-recommends {packages} \\",
        " && rm -rf /var/lib/apt/lists/*",
    ]


def render(spec: ImageSpec) -> str:
    """The Dockerfile text for ``spec``."""
    py = f"python{spec.python}" if spec.base.python_from_apt else "python3"
    want = tuple(int(x) for x in spec.python.split("."))
    version_check = (
        f'{py} -c "import sys; sys.exit(0 if sys.version_info[:2] == {want!r} else '
        f"'the base image runs Python ' + sys.version.split()[0] + ', image.python is {spec.python}')\""
    )
    base = spec.base.reference
    lines = [
        f"# Rendered by mlrelease {spec.mlrelease_version} for {spec.model_name} {spec.model_version}.",
        "# Re-render with `mlrelease build --print-dockerfile`; build with `mlrelease build`.",
        "# Build context: requirements.txt (the lock), wheels/ (the locked wheels for linux x86_64,",
        f"# CPython {spec.python}), dist/ (the mlrelease wheel), app/ (model, mlrelease.yaml, signature).",
        "",
        f"FROM {base} AS builder",
        "# Any SOURCE_DATE_EPOCH makes pip byte-compile hash-checked .pyc files, equal in every",
        "# build. A constant here, so that a new commit does not invalidate the dependency layers.",
        "ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_NO_INPUT=1 \\",
        "    SOURCE_DATE_EPOCH=315532800",
    ]
    if spec.base.python_from_apt:
        lines += _python_install(spec, f"python{spec.python} python{spec.python}-venv")
    lines += [
        f"RUN {version_check} \\",
        f" && {py} -m venv {VENV}",
        "COPY requirements.txt /build/requirements.txt",
        "COPY wheels/ /build/wheels/",
        f"RUN {VENV}/bin/python -m pip install --no-index --find-links /build/wheels \\",
        "      --only-binary=:all: --require-hashes -r /build/requirements.txt",
        "COPY dist/ /build/dist/",
    ]
    install_self = f"RUN {VENV}/bin/python -m pip install --no-index --no-deps /build/dist/*.whl"
    if spec.remove_after_install:
        lines += [
            f"{install_self} \\",
            f" && {VENV}/bin/python -m pip uninstall --yes {' '.join(spec.remove_after_install)}",
        ]
    else:
        lines.append(install_self)
    if spec.runtime == "compiled":
        lines += [
            "# Compiled-only: the packages only the build needs (the model's own library) move out of",
            "# the environment the runtime stage copies (mlrelease.image.prune); the builder keeps them",
            f"# in {BUILD_ONLY} to compile the model and prove it below.",
            f"RUN {VENV}/bin/python -m mlrelease.image.prune {VENV} {BUILD_ONLY} {' '.join(spec.build_only)}",
        ]
    lines += [
        "# Nothing that serving runs: the packages' own test suites and C headers (121 MB of the",
        "# example's 757); then what no import reads (mlrelease.image.slim: the symbols and debug",
        "# information after each shared object's last loaded byte, bundled libraries shipped twice,",
        "# type stubs; 29 MB). Bytecode stays: without it the server's imports take 7 s longer at",
        "# each start on a read-only root file system, which would slow every scale-up.",
        f"RUN find {VENV}/lib -mindepth 4 -depth -type d \\( -name tests -o -name include \\) \\",
        "      -path '*/site-packages/*' -exec rm -rf {} + \\",
        f" && {VENV}/bin/python -m mlrelease.image.slim {VENV}",
    ]
    if spec.runtime == "compiled":
        lines += [
            "# The model compiled with the image's own scikit-learn and proven bit-identical to its",
            "# predictions on the checked inputs (compile/samples.json); any difference fails the build.",
            f"COPY app/ {APP}/",
            "COPY compile/ /build/compile/",
            f"RUN PYTHONPATH={BUILD_ONLY} PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1 \\",
            f"    {VENV}/bin/python -m mlrelease.serve.freeze --config {APP}/mlrelease.yaml \\",
            f"      --signature {APP}/signature.json --samples /build/compile/samples.json \\",
            "      --prebuilt /build/compile --out /build/compiled",
        ]
    lines += [
        "",
        f"FROM {base}",
    ]
    if spec.base.python_from_apt:
        lines += _python_install(spec, f"python{spec.python}")
    env = [
        f"PATH={VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "PYTHONDONTWRITEBYTECODE=1",
        "PYTHONUNBUFFERED=1",
        "HOME=/tmp",
    ]
    if spec.gpu:
        env += ["NVIDIA_VISIBLE_DEVICES=all", "NVIDIA_DRIVER_CAPABILITIES=compute,utility"]
    lines.append("ENV " + " \\\n    ".join(env))
    lines += [
        "# The dependencies: this layer changes only when the lock or mlrelease changes.",
        f"COPY --from=builder {VENV} {VENV}",
        # Everything that does not depend on the model comes before it: the classic builder runs
        # and commits a container for each instruction, so each one left after the model COPY
        # is paid again by every model-only rebuild.
        f"WORKDIR {APP}",
        f"USER {USER_ID}:{USER_ID}",
        f"EXPOSE {spec.port}",
        "HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \\",
        f"  CMD {_exec_form(spec.healthcheck())}",
        f"ENTRYPOINT {_exec_form(spec.entrypoint())}",
        "# The model: a model-only change rebuilds from here on (this COPY and the labels), in seconds.",
        f"COPY app/ {APP}/",
    ]
    if spec.runtime == "compiled":
        lines.append(f"COPY --from=builder /build/compiled {COMPILED}")
    lines += [
        # The commit time, for builders that honour it (BuildKit); declared after the dependency
        # layers, so that it changes none of them.
        "ARG SOURCE_DATE_EPOCH",
    ]
    if spec.labels:
        items = [f"{key}={_quote(value)}" for key, value in sorted(spec.labels.items())]
        lines.append("LABEL " + " \\\n      ".join(items))
    lines.append("")
    return "\n".join(lines)
