"""The one small interface both registry backends implement, and the index they keep.

The index is what makes lookups independent of history: it holds the newest version, the set
of versions marked bad and the version deployed on each target. ``previous_good`` walks back
from a version over the bad ones only, so a rollback decision reads one small object whatever
the number of releases.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlrelease.registry.record import Event, RegistryError, Release

MEDIA_TYPES = {
    "model": "application/vnd.mlrelease.model.v1",
    "lock": "application/vnd.mlrelease.lock.v1+text",
    "golden": "application/vnd.mlrelease.golden.v1+parquet",
    "metrics": "application/vnd.mlrelease.metrics.v1+json",
    "gate": "application/vnd.mlrelease.gate.v1+json",
    "config": "application/vnd.mlrelease.config.v1+yaml",
    "signature": "application/vnd.mlrelease.signature.v1+json",
    "predictions": "application/vnd.mlrelease.predictions.v1+parquet",
}
RELEASE_MEDIA_TYPE = "application/vnd.mlrelease.release.v1+json"
EVENT_MEDIA_TYPE = "application/vnd.mlrelease.event.v1+json"


@dataclass
class Index:
    """What lookups need, folded from the events; never a scan of them at read time."""

    latest: int = 0
    bad: set[int] = field(default_factory=set)
    deployed: dict[str, int] = field(default_factory=dict)  # target -> version running there
    events: int = 0  # how many events are folded in (the directory backend's staleness check)

    def apply(self, event: Event) -> None:
        self.events += 1
        if event.kind == "marked_bad":
            self.bad.add(event.version)
        elif event.kind in ("deployed", "rolled_back") and event.target:
            self.deployed[event.target] = event.version
        elif event.kind == "released":
            self.latest = max(self.latest, event.version)

    def previous_good(self, before: int) -> int | None:
        """The newest version older than ``before`` that is not marked bad."""
        v = min(before, self.latest + 1) - 1
        while v >= 1 and v in self.bad:
            v -= 1
        return v if v >= 1 else None

    def status(self, version: int) -> str:
        if version in self.bad:
            return "bad"
        targets = sorted(t for t, v in self.deployed.items() if v == version)
        return "deployed: " + ", ".join(targets) if targets else "released"

    def to_json(self) -> dict[str, object]:
        return {
            "latest": self.latest,
            "bad": sorted(self.bad),
            "deployed": self.deployed,
            "events": self.events,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Index:
        return cls(
            latest=int(data["latest"]),
            bad={int(v) for v in data["bad"]},
            deployed={str(k): int(v) for k, v in data["deployed"].items()},
            events=int(data["events"]),
        )


class Backend(ABC):
    """Where releases live. ``publish`` is the only call that allocates a version number."""

    location: str

    @abstractmethod
    def publish(self, draft: Release, files: dict[str, Path]) -> Release:
        """Store ``files`` and the record; give it the next free version of its model; record 'released'.

        ``draft.version`` is ignored. Two concurrent calls never receive the same version and
        neither is lost. ``draft.parent``, when None, becomes the newest release before it.
        """

    @abstractmethod
    def get(self, model: str, version: int) -> Release:
        """The record of one version (a RegistryError naming it when there is none)."""

    @abstractmethod
    def index(self, model: str) -> Index: ...

    @abstractmethod
    def append(self, event: Event) -> None:
        """Append one event to the model's history (never rewrites one)."""

    @abstractmethod
    def events(self, model: str) -> list[Event]:
        """The model's whole history, oldest first."""

    @abstractmethod
    def read_artifact(self, release: Release, name: str) -> bytes:
        """The bytes of one artifact, checked against the sha256 the record holds."""

    @abstractmethod
    def models(self) -> list[str]: ...

    # What a rollback decision needs, each answered without reading history. The backends override
    # these when they can answer with less than the whole index.
    def deployed_on(self, model: str, target: str) -> int | None:
        return self.index(model).deployed.get(target)

    def is_bad(self, model: str, version: int) -> bool:
        return version in self.index(model).bad

    def previous_good(self, model: str, before: int) -> int | None:
        return self.index(model).previous_good(before)

    def releases(self, model: str) -> list[Release]:
        return [self.get(model, v) for v in range(1, self.index(model).latest + 1)]


def check_artifact(release: Release, name: str, data: bytes | None, where: str) -> bytes:
    """``data`` when it matches the record's sha256; a RegistryError naming what is wrong otherwise."""
    spec = release.artifacts.get(name)
    if spec is None:
        raise RegistryError(f"{release.model} {release.tag} has no artifact {name!r}")
    if data is None:
        raise RegistryError(
            f"{release.model} {release.tag}: artifact {name!r} (sha256 {spec.sha256[:12]}) "
            f"is missing from {where}",
            hint="this release cannot be deployed; pick another with --to",
        )
    actual = hashlib.sha256(data).hexdigest()
    if actual != spec.sha256:
        raise RegistryError(
            f"{release.model} {release.tag}: artifact {name!r} fails its sha256 "
            f"(recorded {spec.sha256[:12]}, found {actual[:12]}) in {where}",
            hint="the registry copy is damaged; pick another release with --to",
        )
    return data
