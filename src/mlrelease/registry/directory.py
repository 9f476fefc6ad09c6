"""The directory backend: the embedded default, for a laptop or a repository.

Layout under the root::

    blobs/sha256/<hex>                 every artifact, content-addressed (written once, never changed)
    models/<model>/.lock               the writers' lock (filelock)
    models/<model>/records/v<N>.json   one release record each, immutable
    models/<model>/events/<seq>.json   the append-only event log, one file per event, numbered
    models/<model>/index.json          latest version, bad versions, deployed per target

Every file is written as a temp file in the same folder, fsync'ed, renamed into place, and the
folder fsync'ed: a reader sees a file whole or not at all, also after a crash or a SIGKILL.
Writers of one model take its file lock; readers never lock. The commit point of a release is
the rename of its record: blobs before it are harmless when orphaned, and the 'released' event
and the index after it are repaired by the next writer (``_repair``), who finds them missing by
looking at exactly one file name past what the index says (O(1), not a scan).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from filelock import FileLock, Timeout

from mlrelease.registry.base import Backend, Index, check_artifact
from mlrelease.registry.record import Event, RegistryError, Release

LOCK_TIMEOUT_S = 120


def durable_write(path: Path, data: bytes) -> None:
    """Temp file + fsync + rename + fsync of the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class DirectoryBackend(Backend):
    def __init__(self, root: Path):
        self.root = Path(root)
        self.location = str(self.root)

    # -- paths
    def _model_dir(self, model: str) -> Path:
        return self.root / "models" / model

    def _record_path(self, model: str, version: int) -> Path:
        return self._model_dir(model) / "records" / f"v{version}.json"

    def _event_path(self, model: str, seq: int) -> Path:
        return self._model_dir(model) / "events" / f"{seq:010d}.json"

    def _blob_path(self, sha256: str) -> Path:
        return self.root / "blobs" / "sha256" / sha256

    def _lock(self, model: str) -> FileLock:
        path = self._model_dir(model) / ".lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(path), timeout=LOCK_TIMEOUT_S)

    # -- writes
    def _store_blob(self, path: Path) -> str:
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        target = self._blob_path(digest)
        if not target.is_file() or hashlib.sha256(target.read_bytes()).hexdigest() != digest:
            durable_write(target, data)
        return digest

    def publish(self, draft: Release, files: dict[str, Path]) -> Release:
        for name, path in files.items():
            digest = self._store_blob(path)  # outside the lock: content-addressed, idempotent
            if digest != draft.artifacts[name].sha256:
                raise RegistryError(f"{path}: changed while being released (sha256 {digest[:12]})")
        try:
            with self._lock(draft.model):
                index = self._repair(draft.model)
                version = index.latest + 1
                release = draft.numbered(version, parent=index.latest or None)
                durable_write(self._record_path(draft.model, version), release.to_bytes())  # the commit point
                event = Event(
                    "released",
                    draft.model,
                    version,
                    time=release.created,
                    actor=release.actor,
                    run_url=release.run_url,
                    reason=release.forced,
                )
                self._append_locked(index, event)
                return release
        except Timeout:
            raise RegistryError(
                f"{self.location}: another writer holds the lock of {draft.model} for {LOCK_TIMEOUT_S} s",
                hint="wait for it to finish; a crashed writer's lock is released by the system",
            ) from None

    def append(self, event: Event) -> None:
        self.get(event.model, event.version)
        try:
            with self._lock(event.model):
                self._append_locked(self._repair(event.model), event)
        except Timeout:
            raise RegistryError(f"{self.location}: the lock of {event.model} is held too long") from None

    def _append_locked(self, index: Index, event: Event) -> None:
        durable_write(self._event_path(event.model, index.events + 1), event.to_bytes())
        index.apply(event)
        durable_write(self._model_dir(event.model) / "index.json", json.dumps(index.to_json()).encode())

    def _repair(self, model: str) -> Index:
        """The index, with what a killed writer left undone finished (called under the lock)."""
        index = self.index(model)
        changed = False
        while self._record_path(model, index.latest + 1).is_file():  # record written, event/index not
            release = self.get(model, index.latest + 1)
            event = Event(
                "released",
                model,
                release.version,
                time=release.created,
                actor=release.actor,
                run_url=release.run_url,
                reason=release.forced,
                detail={"repaired": True},
            )
            durable_write(self._event_path(model, index.events + 1), event.to_bytes())
            index.apply(event)
            changed = True
        if changed:
            durable_write(self._model_dir(model) / "index.json", json.dumps(index.to_json()).encode())
        return index

    # -- reads
    def index(self, model: str) -> Index:
        path = self._model_dir(model) / "index.json"
        try:
            index = Index.from_json(json.loads(path.read_bytes()))
        except FileNotFoundError:
            index = Index()
        except (ValueError, KeyError, TypeError):
            raise RegistryError(
                f"{path}: damaged index", hint="delete it; the next release rebuilds it"
            ) from None
        # Events written after the index (a writer killed in between): fold them in, in order.
        while (p := self._event_path(model, index.events + 1)).is_file():
            index.apply(Event.from_bytes(p.read_bytes(), source=str(p)))
        return index

    def get(self, model: str, version: int) -> Release:
        path = self._record_path(model, version)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            latest = self.index(model).latest
            known = f"releases v1..v{latest}" if latest else "no releases"
            raise RegistryError(f"{model} v{version}: no such release in {self.location} ({known})") from None
        release = Release.from_bytes(raw, source=str(path))
        if release.model != model or release.version != version:
            raise RegistryError(f"{path}: holds {release.model} v{release.version}, not {model} v{version}")
        return release

    def events(self, model: str) -> list[Event]:
        folder = self._model_dir(model) / "events"
        paths = sorted(folder.glob("[0-9]*.json")) if folder.is_dir() else []
        return [Event.from_bytes(p.read_bytes(), source=str(p)) for p in paths]

    def read_artifact(self, release: Release, name: str) -> bytes:
        spec = release.artifacts.get(name)
        data = None
        if spec is not None:
            try:
                data = self._blob_path(spec.sha256).read_bytes()
            except FileNotFoundError:
                data = None
        return check_artifact(release, name, data, self.location)

    def models(self) -> list[str]:
        folder = self.root / "models"
        return sorted(p.name for p in folder.iterdir() if (p / "records").is_dir()) if folder.is_dir() else []
