"""Loading a handed-over model safely and predicting with it.

skops is the default and loads only trusted types: an untrusted type is an error that names it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlrelease.config import ModelConfig, ModelFormat
from mlrelease.errors import DataError, ModelLoadError


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class LoadedModel:
    """A model ready to predict, with what is known about it."""

    estimator: Any
    format: ModelFormat
    path: Path | None
    sha256: str | None
    features: list[str] | None

    def check_columns(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The feature columns of ``frame`` in the model's order; all missing ones are named."""
        if not self.features:
            return frame
        missing = [c for c in self.features if c not in frame.columns]
        if missing:
            raise DataError(
                f"the data lacks {len(missing)} column(s) the model needs: {', '.join(missing)}",
                hint=f"the model expects: {', '.join(self.features)}",
            )
        return frame[self.features]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.estimator.predict(self.check_columns(frame)))


def load_skops(path: Path, trusted_types: tuple[str, ...] = ()) -> Any:
    """Load a skops file, trusting skops' own safe set plus ``trusted_types`` and nothing else."""
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # skops raises plain exceptions for corrupt files
        raise ModelLoadError(f"{path}: not a readable skops file: {exc}") from None
    refused = [t for t in untrusted if t not in trusted_types]
    if refused:
        raise ModelLoadError(
            f"{path}: the model contains types that are not trusted: {', '.join(refused)}",
            hint="review them, then list them under model.trusted_types in mlrelease.yaml",
        )
    return sio.load(path, trusted=list(untrusted))


def load_model(cfg: ModelConfig) -> LoadedModel:
    """Load the model that ``cfg`` names."""
    if cfg.artifact is None or cfg.format is None:
        raise ModelLoadError(f"model '{cfg.name}': no artifact to load")
    path = cfg.artifact
    if not path.is_file():
        raise ModelLoadError(f"{path}: no such model file")
    digest = sha256_file(path)
    if cfg.sha256 and cfg.sha256 != digest:
        raise ModelLoadError(
            f"{path}: sha256 is {digest}, but mlrelease.yaml expects {cfg.sha256}",
            hint="the file changed since the sha256 was recorded; check where it came from",
        )
    if cfg.format == "skops":
        estimator = load_skops(path, cfg.trusted_types)
    else:
        raise ModelLoadError(f"{path}: loading {cfg.format} models is not supported yet; save it with skops")
    features = list(cfg.features) if cfg.features else _feature_names(estimator)
    return LoadedModel(estimator=estimator, format=cfg.format, path=path, sha256=digest, features=features)


def _feature_names(estimator: Any) -> list[str] | None:
    names = getattr(estimator, "feature_names_in_", None)
    return [str(n) for n in names] if names is not None else None
