"""Drafts of releases made from small real files, for the registry tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

from mlrelease.registry.base import MEDIA_TYPES
from mlrelease.registry.record import Artifact, GateVerdict, Image, Release, now

DIGEST = "sha256:" + "ab" * 32


def make_draft(
    folder: Path, model: str = "brno", salt: str = "a", rmse: float = 1.0
) -> tuple[Release, dict[str, Path]]:
    """A release draft and its files (model, lock, golden, metrics), written under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    contents = {
        "model": f"model bytes {salt}".encode(),
        "lock": f"numpy==1.26.4 \\\n    --hash=sha256:{salt}\n".encode(),
        "golden": f"golden rows {salt}".encode(),
        "metrics": f'{{"rmse_error": {rmse}}}'.encode(),
    }
    files: dict[str, Path] = {}
    artifacts: dict[str, Artifact] = {}
    for name, data in contents.items():
        path = folder / f"{name}-{salt}"
        path.write_bytes(data)
        files[name] = path
        artifacts[name] = Artifact(hashlib.sha256(data).hexdigest(), len(data), MEDIA_TYPES[name])
    draft = Release(
        model=model,
        version=1,
        created=now(),
        model_sha256=artifacts["model"].sha256,
        lock_sha256=artifacts["lock"].sha256,
        golden_sha256=artifacts["golden"].sha256,
        image=Image(reference=f"127.0.0.1:5000/{model}@{DIGEST}", digest=DIGEST, image_id=DIGEST, port=8080),
        metrics={"rmse_error": rmse},
        headline_metric="rmse_error",
        gate=GateVerdict("pass", "all rules pass", None),
        config={"model": {"name": model}},
        artifacts=artifacts,
        git_commit="0" * 40,
    )
    return draft, files
