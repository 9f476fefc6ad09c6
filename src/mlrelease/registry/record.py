"""The release record and its events: typed, immutable, one reader and one writer each.

A ``Release`` is what was shipped: model, version, the sha256 of every artifact, the image by
digest, the metrics and the gate verdict it passed with. It never changes once written. What
happens to it afterwards (deployed, superseded, rolled back, marked bad) is an ``Event``, appended
beside it. Both are validated against ``release.schema.json`` (published as
``schemas/release.schema.json``) when read, so a damaged or foreign file is named, not trusted.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal

from mlrelease.errors import UsageError

SCHEMA_VERSION = 1
SCHEMA_FILE = Path(__file__).with_name("release.schema.json")
VERSION_RE = re.compile(r"^v([1-9][0-9]{0,8})$")

EventKind = Literal["released", "deployed", "superseded", "rolled_back", "marked_bad"]
EVENT_KINDS: tuple[str, ...] = ("released", "deployed", "superseded", "rolled_back", "marked_bad")

# The files a release carries, by name. Each is stored content-addressed and checked by sha256.
ARTIFACT_NAMES = ("model", "lock", "golden", "metrics", "gate", "config", "signature", "predictions")


class RegistryError(UsageError):
    """The registry is unreachable, damaged, or asked for something it does not hold."""

    title = "release registry"


def parse_version(text: str | int) -> int:
    """``v3``, ``3`` or 3 -> 3; anything else is a usage error naming the value."""
    if isinstance(text, int) and text > 0:
        return text
    raw = str(text).strip()
    m = VERSION_RE.match(raw if raw.startswith("v") else f"v{raw}")
    if not m:
        raise UsageError(f"{text!r} is not a release version", hint="write it as v1, v2, ... (or 1, 2, ...)")
    return int(m.group(1))


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Artifact:
    sha256: str
    size: int
    media_type: str


@dataclass(frozen=True)
class Image:
    reference: str  # REPO@sha256:..., what deploy runs
    digest: str | None  # sha256:... of the manifest in the image registry; None for a local-only image
    image_id: str  # sha256:... of the image config (what the local engine knows)
    port: int


@dataclass(frozen=True)
class GateVerdict:
    verdict: Literal["pass", "fail", "none"]
    headline: str
    baseline: str | None  # "release:v3", a path, or None when gated on absolute rules only


@dataclass(frozen=True)
class Release:
    model: str
    version: int
    created: str
    model_sha256: str
    lock_sha256: str
    golden_sha256: str
    image: Image
    metrics: dict[str, float | None]
    headline_metric: str | None
    gate: GateVerdict
    config: dict[str, Any]
    artifacts: dict[str, Artifact]
    git_commit: str | None = None
    parent: int | None = None
    forced: str | None = None  # the reason given with --force, when the release skipped a refusal
    actor: str | None = None
    run_url: str | None = None
    schema_version: int = SCHEMA_VERSION

    @property
    def tag(self) -> str:
        return f"v{self.version}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def to_bytes(self) -> bytes:
        return canonical(self.to_json())

    def numbered(self, version: int, parent: int | None) -> Release:
        """This draft as ``version``, created now: when its version is allocated, so that
        creation times follow version order even when concurrent writers drafted in another order."""
        return replace(
            self, version=version, created=now(), parent=self.parent if self.parent is not None else parent
        )

    @classmethod
    def from_json(cls, data: Any, *, source: str) -> Release:
        validate(data, "release", source)
        return cls(
            **{
                **data,
                "image": Image(**data["image"]),
                "gate": GateVerdict(**data["gate"]),
                "artifacts": {k: Artifact(**v) for k, v in data["artifacts"].items()},
            }
        )

    @classmethod
    def from_bytes(cls, raw: bytes, *, source: str) -> Release:
        return cls.from_json(_loads(raw, source), source=source)


@dataclass(frozen=True)
class Event:
    kind: EventKind
    model: str
    version: int
    time: str = field(default_factory=now)
    target: str | None = None
    from_version: int | None = None  # rolled_back: the version that was replaced; deployed: the one before
    reason: str | None = None
    actor: str | None = None
    run_url: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def to_bytes(self) -> bytes:
        return canonical(self.to_json())

    @classmethod
    def from_bytes(cls, raw: bytes, *, source: str) -> Event:
        data = _loads(raw, source)
        validate(data, "event", source)
        return cls(**data)


def canonical(data: Any) -> bytes:
    """Sorted, compact JSON: equal content gives equal bytes, so equal digests."""
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def _loads(raw: bytes, source: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise RegistryError(
            f"{source}: not valid JSON ({exc})", hint="the registry is damaged here"
        ) from None


@cache
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_FILE.read_text("utf-8"))
    return loaded


@cache
def _validator(kind: str) -> Any:
    import jsonschema

    full = schema()
    return jsonschema.Draft202012Validator({"$defs": full["$defs"], "$ref": f"#/$defs/{kind}"})


def validate(data: Any, kind: Literal["release", "event"], source: str) -> None:
    errors = sorted(_validator(kind).iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.absolute_path) or "(top)"
        raise RegistryError(f"{source}: not a valid {kind} record: {where}: {e.message}")


def actor_from_env(env: dict[str, str] | None = None) -> tuple[str | None, str | None]:
    """Who acts: the GitHub actor and run URL inside Actions, else the local user."""
    import getpass
    import os

    env = dict(os.environ) if env is None else env
    if env.get("GITHUB_ACTIONS") == "true":
        actor = env.get("GITHUB_ACTOR")
        server, repo, run = (
            env.get("GITHUB_SERVER_URL"),
            env.get("GITHUB_REPOSITORY"),
            env.get("GITHUB_RUN_ID"),
        )
        url = f"{server}/{repo}/actions/runs/{run}" if server and repo and run else None
        return actor, url
    try:
        return getpass.getuser(), None
    except (KeyError, OSError):
        return None, None
