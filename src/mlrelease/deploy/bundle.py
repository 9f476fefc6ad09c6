"""A release's files from the registry, checked by sha256 and laid out for a server to run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlrelease.artifacts import write_bytes, write_text
from mlrelease.registry import Backend, Release

# The parts of mlrelease.yaml the server reads (as the image build keeps them).
SERVING_KEYS = ("version", "model", "serving", "monitoring", "image")
NEEDED = ("model", "config", "golden")


@dataclass(frozen=True)
class Bundle:
    release: Release
    folder: Path
    config: Path
    signature: Path | None
    golden: Path


def check(backend: Backend, release: Release) -> None:
    """Every file a deploy needs is in the registry and matches its sha256 (RegistryError otherwise)."""
    for name in (*NEEDED, "signature"):
        if name in release.artifacts or name in NEEDED:
            backend.read_artifact(release, name)


def fetch(backend: Backend, release: Release, into: Path) -> Bundle:
    """Lay the release out under ``into``: mlrelease.yaml (serving part), model, signature, golden rows."""
    folder = into / release.model / release.tag
    raw: dict[str, Any] = {k: release.config[k] for k in SERVING_KEYS if k in release.config}
    model_cfg = dict(raw["model"])
    name = Path(str(model_cfg.get("artifact") or "model.bin")).name
    write_bytes(folder / "model" / name, backend.read_artifact(release, "model"))
    model_cfg["artifact"] = f"model/{name}"
    model_cfg.pop("sha256", None)  # checked here already, by the registry's record
    model_cfg.pop("version", None)  # the server reports the release's version (MLRELEASE_MODEL_VERSION)
    raw["model"] = model_cfg
    serving = raw.get("serving")
    if (
        isinstance(serving, dict)
        and isinstance(serving.get("logging"), dict)
        and serving["logging"].get("file")
    ):
        serving["logging"] = {**serving["logging"], "file": str(folder / "requests.log")}
    header = (
        f"# The serving part of {release.model} {release.tag}'s mlrelease.yaml, from the release registry.\n"
    )
    write_text(folder / "mlrelease.yaml", header + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True))
    signature = None
    if "signature" in release.artifacts:
        signature = folder / "signature.json"
        write_bytes(signature, backend.read_artifact(release, "signature"))
    golden = folder / "golden.parquet"
    write_bytes(golden, backend.read_artifact(release, "golden"))
    return Bundle(release, folder, folder / "mlrelease.yaml", signature, golden)
