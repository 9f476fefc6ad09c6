"""Build the image with the docker SDK, stream its progress, and describe the result in ``image.json``."""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mlrelease.errors import CheckFailed, EnvironmentUnavailable
from mlrelease.image.context import BuildPlan, assemble
from mlrelease.image.dockerfile import APP, USER_ID, VENV
from mlrelease.image.record import ImageRecord

# One decoded progress event of the engine's JSON stream (build or push): stream, status, aux, error...
EngineEvent = Mapping[str, object]

# Walks the installed environment and the app inside the image: path -> sha256 (links by target).
_MANIFEST = f"""
import hashlib, json, os, stat
out = {{}}
for root in ({VENV!r}, {APP!r}):
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                out[path] = "link:" + os.readlink(path)
            else:
                with open(path, "rb") as fh:
                    out[path] = hashlib.sha256(fh.read()).hexdigest() + ":" + oct(st.st_mode & 0o777)
print(json.dumps(out, sort_keys=True))
"""


def ping(client: Any) -> None:
    """Fail with exit 3 when the engine does not answer."""
    try:
        client.ping()
    except Exception as exc:  # docker raises requests' and its own errors alike
        raise EnvironmentUnavailable(
            f"the Docker engine does not answer: {exc}",
            hint="start it (dockerd, Docker Desktop) or point DOCKER_HOST at one",
        ) from None


def stream_build(
    client: Any, ctx: Path, build: BuildPlan, *, nocache: bool, on_event: Callable[[EngineEvent], None]
) -> str:
    """Run the build, passing each decoded progress event on; return the image id."""
    image_id = None
    last_lines: list[str] = []
    # No network inside the build: every wheel is in the context. Only a CUDA base, which has to
    # install Python from Ubuntu's archive, needs the network.
    network = "default" if build.spec.base.python_from_apt else "none"
    events = client.api.build(
        path=str(ctx),
        tag=build.tag,
        buildargs={"SOURCE_DATE_EPOCH": str(build.source.epoch)},
        decode=True,
        rm=True,
        forcerm=True,
        nocache=nocache,
        pull=False,
        network_mode=network,
    )
    for event in events:
        on_event(event)
        if "stream" in event:
            last_lines = (last_lines + str(event["stream"]).splitlines())[-30:]
        if "error" in event:
            detail = "\n".join(line for line in last_lines if line.strip())
            raise CheckFailed(
                f"the image build failed: {str(event['error']).strip()}\n{detail}",
                hint="the lines above are the end of the build log",
            )
        aux = event.get("aux")
        if isinstance(aux, dict) and "ID" in aux:
            image_id = aux["ID"]
    if image_id is None:
        image_id = client.images.get(build.tag).id
    return str(image_id)


def content_manifest(client: Any, reference: str) -> dict[str, str]:
    """Every file the image installed (under the venv and /app): path -> sha256 and mode."""
    output = client.containers.run(
        reference,
        entrypoint=[f"{VENV}/bin/python", "-c", _MANIFEST],
        network_mode="none",
        read_only=True,
        user=f"{USER_ID}:{USER_ID}",
        remove=True,
        stdout=True,
        stderr=False,
    )
    manifest: dict[str, str] = json.loads(output)  # the script prints one JSON object of strings
    return manifest


def manifest_digest(manifest: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()


def build_image(
    client: Any,
    build: BuildPlan,
    *,
    wheel_cache: Path | None = None,
    mlrelease_wheel: Path | None = None,
    nocache: bool = False,
    on_event: Callable[[EngineEvent], None] = lambda event: None,
) -> ImageRecord:
    """Assemble the context, build, and describe the image (``image.json`` is the caller's to write)."""
    ping(client)
    with tempfile.TemporaryDirectory(prefix="mlrelease-build-") as tmp:
        ctx = Path(tmp) / "context"
        ctx.mkdir()
        build = assemble(build, ctx, wheel_cache=wheel_cache, mlrelease_wheel=mlrelease_wheel)
        image_id = stream_build(client, ctx, build, nocache=nocache, on_event=on_event)
    image = client.images.get(image_id)
    manifest = content_manifest(client, image_id)
    return ImageRecord(
        reference=build.tag,
        image_id=image.id,
        size_bytes=int(image.attrs.get("Size") or 0),
        gpu=build.spec.gpu,
        base_image=build.spec.base.reference,
        labels=dict(image.labels or {}),
        port=build.spec.port,
        content_sha256=manifest_digest(manifest),
    )
