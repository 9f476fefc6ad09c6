"""The release registry: what was released, what ran where, and what to roll back to.

- ``record``: the ``Release`` record (immutable) and the ``Event`` history beside it, typed and
  validated against ``release.schema.json``.
- ``base``: the one interface both backends implement, and the ``Index`` (newest version, bad
  versions, deployed per target) that lookups and rollback decisions read instead of history.
- ``directory``: the embedded default; an append-only log and content-addressed blobs in a folder.
- ``oci``: the same in an OCI registry (the one that holds the images), lock-free by claim-then-look.
- ``releases``: the domain operations the CLI calls (record a build, list, show, diff, mark bad, resolve).

``open_backend`` turns a location into a backend: a folder path, ``oci://HOST/NAMESPACE``
(HTTPS) or ``oci+http://HOST/NAMESPACE`` (plain HTTP, for a registry on localhost).
"""

from __future__ import annotations

from pathlib import Path

from mlrelease.registry.base import Backend, Index
from mlrelease.registry.record import Event, RegistryError, Release

__all__ = ["Backend", "Event", "Index", "RegistryError", "Release", "open_backend"]


def open_backend(
    location: str | Path, *, username: str | None = None, password: str | None = None
) -> Backend:
    text = str(location)
    for scheme, insecure in (("oci://", False), ("oci+http://", True)):
        if text.startswith(scheme):
            from mlrelease.registry.oci import OciBackend

            host, _, namespace = text[len(scheme) :].partition("/")
            if not host or not namespace:
                raise RegistryError(
                    f"{text!r}: an OCI registry location needs a host and a namespace",
                    hint=f"write it as {scheme}HOST[:PORT]/NAMESPACE",
                )
            return OciBackend(host, namespace, insecure=insecure, username=username, password=password)
    if "://" in text:
        raise RegistryError(f"{text!r}: unknown registry scheme", hint="use a folder, oci:// or oci+http://")
    from mlrelease.registry.directory import DirectoryBackend

    return DirectoryBackend(Path(text))
