"""The OCI backend: releases and events as OCI artifacts in the registry that holds the images.

One repository per model, ``<registry>/<namespace>/<model>``. Everything is content-addressed; the
tags are the index:

- a release is a manifest whose config blob is the record (``application/vnd.mlrelease.release.v1+json``)
  and whose layers are its artifacts (model, lock, golden rows, ..., each with its own media type);
- ``v<N>``: the committed release N. Only the single winner of a claim (below) ever writes it, so it
  is written once and never moved;
- ``claim-v<N>-<nonce>``: a writer's bid for N, pointing at its record; removed after the bid;
- ``ev-v<N>-<sha12>``: one event about version N (config blob = the event), named by its content,
  so two writers never collide and nothing is overwritten;
- ``bad-v<N>``: present when N is marked bad; ``at-<target>``: the last deploy/rollback event of a
  target (a cache of the newest such event; deploys of one model are serialised by the workflow's
  ``concurrency``, and the events themselves stay whole either way).

A registry has no locks and no compare-and-swap on tags, so the version is allocated by
*claim, then look*: a writer picks N = newest committed + 1, pushes its record under its own
``claim-v<N>-<nonce>`` tag (unique, so never overwritten), then lists the tags. It commits
(``v<N>``) only when it sees no other live claim for N and no ``v<N>``; otherwise it withdraws its
claim, waits a random moment and starts again with a fresh N. Of two writers A and B, the one
that lists later sees the other's claim (each pushes before it lists, and a claim is removed only
after the ``v<N>`` it led to exists), so at most one commits N: a version is never produced twice,
and a loser retries rather than vanishing, so none is lost. Both may lose a round; the random
back-off breaks the tie. A claim left by a killed writer is ignored once older than
``CLAIM_STALE_S`` (20 s); a writer whose own bid took longer than ``CLAIM_COMMIT_S`` (10 s)
withdraws instead of committing, so a claim treated as stale can never commit afterwards (the
10 s between them absorb clocks that disagree). A writer killed mid-bid thus delays the next
release of that model by at most ``CLAIM_STALE_S`` and never blocks it.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlrelease.registry.base import (
    EVENT_MEDIA_TYPE,
    MEDIA_TYPES,
    RELEASE_MEDIA_TYPE,
    Backend,
    Index,
    check_artifact,
)
from mlrelease.registry.record import Event, RegistryError, Release, now

if TYPE_CHECKING:
    from requests import Response

CLAIM_STALE_S = 20.0  # CLAIM_COMMIT_S plus 10 s for clocks that disagree
CLAIM_COMMIT_S = 10.0
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"  # of b"{}"
MAX_ROUNDS = 200


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class OciBackend(Backend):
    """``oci://HOST[:PORT]/NAMESPACE``; ``insecure`` speaks plain HTTP (a local registry)."""

    def __init__(
        self,
        host: str,
        namespace: str,
        *,
        insecure: bool = False,
        username: str | None = None,
        password: str | None = None,
    ):
        import oras.provider

        self.host, self.namespace = host, namespace.strip("/")
        self.location = f"oci://{host}/{self.namespace}"
        self.client = oras.provider.Registry(hostname=host, insecure=insecure, auth_backend="basic")
        self._auth: dict[str, str] = {}
        if username and password:
            self.client.auth.set_basic_auth(username, password)
            self._auth = self.client.auth.get_auth_header()  # sent up front: no 401 round trip per call

    # -- low level
    def _repo(self, model: str) -> str:
        return f"{self.host}/{self.namespace}/{model}"

    def _container(self, model: str, ref: str | None = None) -> Any:
        import oras.container

        name = self._repo(model) + (f"@{ref}" if ref and ref.startswith("sha256:") else f":{ref or 'latest'}")
        return oras.container.Container(name)

    def _request(self, method: str, url: str, **kw: Any) -> Response:
        import requests

        kw["headers"] = {**self._auth, **kw.get("headers", {})}
        try:
            response: Response = self.client.do_request(url, method, **kw)  # oras is untyped
        except (requests.RequestException, ValueError) as exc:
            raise RegistryError(
                f"{self.location}: {method} {url} failed: {exc}",
                hint="check the registry address and credentials",
            ) from None
        if response.status_code in (401, 403):
            raise RegistryError(
                f"{self.location}: access denied ({response.status_code})",
                hint="set the registry credentials (MLRELEASE_REGISTRY_USERNAME/PASSWORD)",
            )
        return response

    def _url(self, model: str, kind: str, ref: str = "") -> str:
        return f"{self.client.prefix}://{self.host}/v2/{self.namespace}/{model}/{kind}/{ref}"

    def _push_blob(self, model: str, data: bytes) -> dict[str, Any]:
        digest = _digest(data)
        if self._request("HEAD", self._url(model, "blobs", digest)).status_code != 200:
            start = self._request("POST", self._url(model, "blobs", "uploads/"))
            if start.status_code != 202:
                raise RegistryError(
                    f"{self.location}: blob upload refused ({start.status_code}: {start.text[:200]})"
                )
            location = start.headers["Location"]
            if location.startswith("/"):
                location = f"{self.client.prefix}://{self.host}{location}"
            sep = "&" if "?" in location else "?"
            done = self._request(
                "PUT",
                f"{location}{sep}digest={digest}",
                data=data,
                headers={"Content-Type": "application/octet-stream"},
            )
            if done.status_code not in (201, 204):
                raise RegistryError(
                    f"{self.location}: blob upload failed ({done.status_code}: {done.text[:200]})"
                )
        return {"digest": digest, "size": len(data)}

    def _put_manifest(self, model: str, manifest: bytes, tag: str) -> None:
        r = self._request(
            "PUT",
            self._url(model, "manifests", tag),
            data=manifest,
            headers={"Content-Type": MANIFEST_MEDIA_TYPE},
        )
        if r.status_code not in (200, 201):
            raise RegistryError(
                f"{self.location}: pushing {model}:{tag} failed ({r.status_code}: {r.text[:200]})"
            )

    def _get_manifest(self, model: str, ref: str) -> dict[str, Any] | None:
        r = self._request("GET", self._url(model, "manifests", ref), headers={"Accept": MANIFEST_MEDIA_TYPE})
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise RegistryError(f"{self.location}: reading {model}:{ref} failed ({r.status_code})")
        manifest: dict[str, Any] = r.json()
        return manifest

    def _get_blob(self, model: str, digest: str) -> bytes | None:
        r = self._request("GET", self._url(model, "blobs", digest))
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise RegistryError(
                f"{self.location}: reading blob {digest[:19]} of {model} failed ({r.status_code})"
            )
        return r.content

    def _delete_tag(self, model: str, tag: str) -> None:
        """Remove a tag: the distribution API deletes by digest, so only sole-owner tags go this way."""
        r = self._request("HEAD", self._url(model, "manifests", tag), headers={"Accept": MANIFEST_MEDIA_TYPE})
        digest = r.headers.get("Docker-Content-Digest")
        if r.status_code == 200 and digest:
            self._request("DELETE", self._url(model, "manifests", digest))

    def tags(self, model: str) -> list[str]:
        url = self._url(model, "tags", "list") + "?n=1000"
        out: list[str] = []
        while url:
            r = self._request("GET", url)
            if r.status_code == 404:
                return out
            if r.status_code != 200:
                raise RegistryError(f"{self.location}: listing tags of {model} failed ({r.status_code})")
            out += r.json().get("tags") or []
            link = r.headers.get("Link", "")
            url = f"{self.client.prefix}://{self.host}{link.split(';')[0].strip('<> ')}" if link else ""
        return out

    def _manifest(
        self,
        config_type: str,
        config: dict[str, Any],
        layers: list[dict[str, Any]],
        annotations: dict[str, str],
    ) -> bytes:
        import json

        if not layers:
            layers = [{"mediaType": EMPTY_MEDIA_TYPE, "digest": EMPTY_DIGEST, "size": 2}]
        doc = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "artifactType": config_type,
            "config": {"mediaType": config_type, **config},
            "layers": layers,
            "annotations": annotations,
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    # -- the interface
    def publish(self, draft: Release, files: dict[str, Path]) -> Release:
        model = draft.model
        self._push_blob(model, b"{}")
        layers = []
        for name, path in sorted(files.items()):
            ref = self._push_blob(model, Path(path).read_bytes())
            if ref["digest"] != "sha256:" + draft.artifacts[name].sha256:
                raise RegistryError(f"{path}: changed while being released")
            layers.append(
                {
                    "mediaType": MEDIA_TYPES.get(name, "application/octet-stream"),
                    **ref,
                    "annotations": {"org.opencontainers.image.title": name},
                }
            )
        nonce = secrets.token_hex(6)
        for _round in range(MAX_ROUNDS):
            tags = set(self.tags(model))
            latest = max((int(t[1:]) for t in tags if t[:1] == "v" and t[1:].isdigit()), default=0)
            version = latest + 1
            release = draft.numbered(version, parent=latest or None)
            record = release.to_bytes()
            config = self._push_blob(model, record)
            created = {"org.opencontainers.image.created": release.created}
            manifest = self._manifest(RELEASE_MEDIA_TYPE, config, layers, created)
            # The claim's own manifest differs from the commit's (its annotations), so deleting the
            # claim by digest never touches v<N>.
            claim = f"claim-v{version}-{nonce}"
            bid = self._manifest(
                RELEASE_MEDIA_TYPE,
                config,
                layers,
                {**created, "dev.mlrelease.claimed": now(), "dev.mlrelease.claim": claim},
            )
            started = time.monotonic()
            self._put_manifest(model, bid, claim)
            seen = set(self.tags(model))
            rivals = [t for t in seen if t.startswith(f"claim-v{version}-") and t != claim]
            live = f"v{version}" in seen or any(not self._stale(model, t) for t in rivals)
            if not live and time.monotonic() - started < CLAIM_COMMIT_S:
                self._put_manifest(model, manifest, f"v{version}")  # the commit point
                self._delete_tag(model, claim)
                self.append(
                    Event(
                        "released",
                        model,
                        version,
                        time=release.created,
                        actor=release.actor,
                        run_url=release.run_url,
                        reason=release.forced,
                    )
                )
                return release
            self._delete_tag(model, claim)
            time.sleep(random.uniform(0.01, 0.05 * (1 + min(_round, 10))))
        raise RegistryError(
            f"{self.location}: could not allocate a version of {model} in {MAX_ROUNDS} rounds",
            hint="too many writers at once; try again",
        )

    def _stale(self, model: str, tag: str) -> bool:
        manifest = self._get_manifest(model, tag)
        if manifest is None:  # withdrawn between the listing and now
            return True
        claimed = (manifest.get("annotations") or {}).get("dev.mlrelease.claimed", "")
        try:
            age = datetime.now().astimezone() - datetime.fromisoformat(claimed.replace("Z", "+00:00"))
        except ValueError:
            return True
        return age.total_seconds() > CLAIM_STALE_S

    def _config_of(self, model: str, ref: str) -> tuple[bytes, dict[str, Any]] | None:
        manifest = self._get_manifest(model, ref)
        if manifest is None:
            return None
        blob = self._get_blob(model, manifest["config"]["digest"])
        if blob is None or _digest(blob) != manifest["config"]["digest"]:
            raise RegistryError(f"{self.location}: {model}:{ref} has a missing or damaged record blob")
        return blob, manifest

    def get(self, model: str, version: int) -> Release:
        found = self._config_of(model, f"v{version}")
        if found is None:
            raise RegistryError(f"{model} v{version}: no such release in {self.location}")
        return Release.from_bytes(found[0], source=f"{self._repo(model)}:v{version}")

    def append(self, event: Event) -> None:
        model = event.model
        data = event.to_bytes()
        tag = f"ev-v{event.version}-{hashlib.sha256(data).hexdigest()[:12]}"
        self._push_blob(model, b"{}")
        manifest = self._manifest(
            EVENT_MEDIA_TYPE,
            self._push_blob(model, data),
            [],
            {"org.opencontainers.image.created": event.time},
        )
        self._put_manifest(model, manifest, tag)
        if event.kind == "marked_bad":
            self._put_manifest(model, manifest, f"bad-v{event.version}")
        elif event.kind in ("deployed", "rolled_back") and event.target:
            self._put_manifest(model, manifest, f"at-{event.target}")

    def _exists(self, model: str, tag: str) -> bool:
        r = self._request("HEAD", self._url(model, "manifests", tag), headers={"Accept": MANIFEST_MEDIA_TYPE})
        return r.status_code == 200

    def deployed_on(self, model: str, target: str) -> int | None:
        found = self._config_of(model, f"at-{target}")
        return (
            Event.from_bytes(found[0], source=f"{self._repo(model)}:at-{target}").version if found else None
        )

    def is_bad(self, model: str, version: int) -> bool:
        return self._exists(model, f"bad-v{version}")

    def previous_good(self, model: str, before: int) -> int | None:
        """One HEAD per step back over bad releases (versions are contiguous): no tag listing."""
        v = before - 1
        while v >= 1 and self.is_bad(model, v):
            v -= 1
        return v if v >= 1 and self._exists(model, f"v{v}") else None

    def index(self, model: str) -> Index:
        tags = self.tags(model)
        index = Index()
        for t in tags:
            if t[:1] == "v" and t[1:].isdigit():
                index.latest = max(index.latest, int(t[1:]))
            elif t.startswith("bad-v") and t[5:].isdigit():
                index.bad.add(int(t[5:]))
            elif t.startswith("at-"):
                found = self._config_of(model, t)
                if found is not None:
                    event = Event.from_bytes(found[0], source=f"{self._repo(model)}:{t}")
                    index.deployed[t[3:]] = event.version
            elif t.startswith("ev-"):
                index.events += 1
        return index

    def events(self, model: str) -> list[Event]:
        out = []
        for t in self.tags(model):
            if t.startswith("ev-"):
                found = self._config_of(model, t)
                if found is not None:
                    out.append(Event.from_bytes(found[0], source=f"{self._repo(model)}:{t}"))
        return sorted(out, key=lambda e: (e.time, e.kind != "released"))

    def read_artifact(self, release: Release, name: str) -> bytes:
        spec = release.artifacts.get(name)
        data = self._get_blob(release.model, "sha256:" + spec.sha256) if spec else None
        return check_artifact(release, name, data, f"{self._repo(release.model)}:{release.tag}")

    def models(self) -> list[str]:
        r = self._request("GET", f"{self.client.prefix}://{self.host}/v2/_catalog?n=1000")
        if r.status_code != 200:
            return []
        prefix = self.namespace + "/"
        return sorted(n[len(prefix) :] for n in r.json().get("repositories") or [] if n.startswith(prefix))
