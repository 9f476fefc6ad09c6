"""``image.json``: what ``build`` made and ``push`` published, read by test-image, deploy and the registry."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from mlrelease.artifacts import malformed, read_document, write_json

SCHEMA_VERSION = 1
HINT = "run `mlrelease build` (with this version of mlrelease) to write it"


@dataclass(frozen=True)
class ImageRecord:
    reference: str  # the local tag, NAME:TAG
    image_id: str  # sha256:... of the image config
    size_bytes: int
    gpu: bool
    base_image: str
    labels: dict[str, str]
    port: int
    content_sha256: str | None = None  # digest of the installed files (reproducibility by content)
    pushed: tuple[str, ...] = field(default_factory=tuple)  # REPO:TAG references pushed
    digest: str | None = None  # sha256:... manifest digest in the registry
    repo_digest: str | None = None  # REPO@sha256:..., what deploy pulls

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["pushed"] = list(self.pushed)
        return {"schema_version": SCHEMA_VERSION, **data}

    def write(self, path: Path) -> None:
        write_json(path, self.to_json())

    def with_push(self, reference: str, digest: str) -> ImageRecord:
        repo = reference.rsplit(":", 1)[0] if ":" in reference.rsplit("/", 1)[-1] else reference
        pushed = tuple(dict.fromkeys([*self.pushed, reference]))
        return replace(self, pushed=pushed, digest=digest, repo_digest=f"{repo}@{digest}")

    @classmethod
    def read(cls, path: Path) -> ImageRecord:
        data = read_document(path, kind="image.json", version=SCHEMA_VERSION, hint=HINT)
        try:
            return cls(
                reference=str(data["reference"]),
                image_id=str(data["image_id"]),
                size_bytes=int(data["size_bytes"]),
                gpu=bool(data["gpu"]),
                base_image=str(data["base_image"]),
                labels={str(k): str(v) for k, v in data["labels"].items()},
                port=int(data["port"]),
                content_sha256=data.get("content_sha256"),
                pushed=tuple(data.get("pushed") or ()),
                digest=data.get("digest"),
                repo_digest=data.get("repo_digest"),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise malformed(path, "image.json", exc, HINT) from None
