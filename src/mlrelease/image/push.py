"""``push``: tag the built image for a registry, push it, and record the digest.

Credentials: ``MLRELEASE_REGISTRY_USERNAME`` / ``MLRELEASE_REGISTRY_PASSWORD`` when both are set
(masked in GitHub Actions the moment they are read); otherwise the Docker config
(``~/.docker/config.json``, credential helpers included), which the docker SDK reads itself.
No secret is ever printed: progress events carry only layer ids and states.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mlrelease import github
from mlrelease.errors import CheckFailed, UsageError
from mlrelease.image.build import EngineEvent
from mlrelease.image.record import ImageRecord

USERNAME_ENV = "MLRELEASE_REGISTRY_USERNAME"
PASSWORD_ENV = "MLRELEASE_REGISTRY_PASSWORD"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class Target:
    repository: str  # registry/path/name
    tag: str

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}"


def target_for(record: ImageRecord, registry: str | None) -> Target:
    """``<registry>/<model name>:<tag>``, the tag being the one ``build`` gave the image."""
    if not registry:
        raise UsageError(
            "no registry to push to",
            hint="set image.registry in mlrelease.yaml or pass --registry HOST[/PATH]",
        )
    registry = registry.strip().rstrip("/")
    if "://" in registry:
        raise UsageError(f"registry '{registry}' has a scheme", hint="give HOST[:PORT][/PATH], no http(s)://")
    name, _, tag = record.reference.rpartition(":")
    if "/" in tag or not name:
        name, tag = record.reference, "latest"
    return Target(repository=f"{registry}/{name.rsplit('/', 1)[-1]}", tag=tag)


def credentials(env: Mapping[str, str] | None = None) -> dict[str, str] | None:
    """Credentials from the environment (masked at once), or None to use the Docker config."""
    environ = os.environ if env is None else env
    username, password = environ.get(USERNAME_ENV), environ.get(PASSWORD_ENV)
    if password:
        github.mask(password)
    if bool(username) != bool(password):
        raise UsageError(f"set both {USERNAME_ENV} and {PASSWORD_ENV}, or neither (to use the Docker config)")
    if username and password:
        return {"username": username, "password": password}
    return None


def push_image(
    client: Any,
    record: ImageRecord,
    registry: str | None,
    *,
    env: Mapping[str, str] | None = None,
    on_event: Callable[[EngineEvent], None] = lambda event: None,
) -> ImageRecord:
    """Tag, push, and return the record with the pushed reference and the manifest digest."""
    target = target_for(record, registry)
    auth = credentials(env)
    import docker

    try:
        image = client.images.get(record.image_id)
    except docker.errors.ImageNotFound:
        raise UsageError(
            f"image {record.reference} ({record.image_id[:19]}) is not in the local engine",
            hint="run `mlrelease build` on this machine first",
        ) from None
    image.tag(target.repository, tag=target.tag)
    digest = None
    try:
        events = client.api.push(
            target.repository, tag=target.tag, auth_config=auth, stream=True, decode=True
        )
        for event in events:
            on_event(event)
            if "error" in event:
                message = str(event["error"]).strip()
                if auth and auth["password"] in message:  # never echo a secret, even from the engine
                    message = message.replace(auth["password"], "***")
                hint = None
                lowered = message.lower()
                if any(w in lowered for w in ("denied", "unauthorized", "authentication", "credentials")):
                    host = target.repository.split("/")[0]
                    hint = f"log in (docker login {host}) or set {USERNAME_ENV}/{PASSWORD_ENV}"
                raise CheckFailed(f"pushing {target.reference} failed: {message}", hint=hint)
            aux = event.get("aux")
            if isinstance(aux, dict) and _DIGEST.fullmatch(str(aux.get("Digest", ""))):
                digest = aux["Digest"]
    except docker.errors.APIError as exc:
        raise CheckFailed(f"pushing {target.reference} failed: {exc.explanation or exc}") from None
    if digest is None:
        raise CheckFailed(f"pushing {target.reference} reported no digest")
    return record.with_push(target.reference, digest)
