"""The registry contract, run against both backends (directory and OCI with htpasswd auth)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from registry_builders import make_draft

from mlrelease.registry import Backend, Event, RegistryError, open_backend
from mlrelease.registry.record import Artifact, Release

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def test_publish_numbers_versions_and_links_parents(backend: Backend, tmp_path: Path) -> None:
    first = backend.publish(*make_draft(tmp_path, salt="a"))
    second = backend.publish(*make_draft(tmp_path, salt="b"))
    assert (first.version, first.parent) == (1, None)
    assert (second.version, second.parent) == (2, 1)
    assert backend.get("brno", 2) == second
    assert backend.get("brno", 1).model_sha256 == first.model_sha256
    assert [r.version for r in backend.releases("brno")] == [1, 2]
    assert backend.index("brno").latest == 2
    assert "brno" in backend.models()


def test_versions_are_per_model(backend: Backend, tmp_path: Path) -> None:
    backend.publish(*make_draft(tmp_path, model="brno"))
    other = backend.publish(*make_draft(tmp_path, model="survey"))
    assert other.version == 1


def test_unknown_version_is_a_clear_error(backend: Backend, tmp_path: Path) -> None:
    backend.publish(*make_draft(tmp_path))
    with pytest.raises(RegistryError, match="brno v7: no such release"):
        backend.get("brno", 7)


def test_artifacts_come_back_checked(backend: Backend, tmp_path: Path) -> None:
    release = backend.publish(*make_draft(tmp_path, salt="z"))
    assert backend.read_artifact(release, "model") == b"model bytes z"
    forged = replace(release, artifacts={**release.artifacts, "model": Artifact("0" * 64, 3, "x")})
    with pytest.raises(RegistryError, match=r"'model' .* is missing"):
        backend.read_artifact(forged, "model")


def test_events_are_appended_in_order_and_indexed(backend: Backend, tmp_path: Path) -> None:
    for salt in "abc":
        backend.publish(*make_draft(tmp_path, salt=salt))
    backend.append(Event("deployed", "brno", 3, target="local"))
    backend.append(Event("marked_bad", "brno", 2, reason="flags every row"))
    backend.append(Event("rolled_back", "brno", 1, target="local", from_version=3))
    kinds = [(e.kind, e.version) for e in backend.events("brno")]
    assert kinds == [
        ("released", 1),
        ("released", 2),
        ("released", 3),
        ("deployed", 3),
        ("marked_bad", 2),
        ("rolled_back", 1),
    ]
    index = backend.index("brno")
    assert index.bad == {2}
    assert index.deployed == {"local": 1}
    assert index.previous_good(3) == 1  # v2 is bad
    assert index.previous_good(1) is None
    # The rollback decision's own lookups, which the OCI backend answers without listing history.
    assert backend.previous_good("brno", 3) == 1 and backend.previous_good("brno", 1) is None
    assert backend.is_bad("brno", 2) and not backend.is_bad("brno", 3)
    assert backend.deployed_on("brno", "local") == 1 and backend.deployed_on("brno", "gke") is None


def test_an_event_for_an_unknown_version_is_refused(backend: Backend, tmp_path: Path) -> None:
    backend.publish(*make_draft(tmp_path))
    with pytest.raises(RegistryError):
        backend.append(Event("marked_bad", "brno", 5, reason="x"))
        backend.get("brno", 5)


def test_records_are_immutable_values(backend: Backend, tmp_path: Path) -> None:
    release = backend.publish(*make_draft(tmp_path))
    with pytest.raises(AttributeError):
        release.version = 9  # type: ignore[misc]


WRITER = """
import sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from registry_builders import make_draft
from mlrelease.registry import open_backend
b = open_backend({location!r}, **{creds!r})
draft = make_draft(Path({folder!r}), salt={salt!r})
while time.time() < {start}:
    time.sleep(0.001)
print(b.publish(*draft).version)
"""


def test_concurrent_publishes_get_distinct_versions(
    backend_location: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    """Four writers started at the same instant: versions 1..4, each once, none lost."""
    location, creds = backend_location
    start = time.time() + 2.5  # after every interpreter has started
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER.format(
                    tests=str(HERE),
                    location=location,
                    creds=creds,
                    folder=str(tmp_path / salt),
                    salt=salt,
                    start=start,
                ),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for salt in "abcd"
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in results]
    versions = sorted(int(out) for out, _ in results)
    assert versions == [1, 2, 3, 4]
    backend = open_backend(location, **creds)
    stored = {backend.get("brno", v).model_sha256 for v in versions}
    expected = {hashlib.sha256(f"model bytes {s}".encode()).hexdigest() for s in "abcd"}
    assert stored == expected  # each writer's own record under its own version


def test_a_damaged_record_is_named(tmp_path: Path) -> None:
    backend = open_backend(tmp_path / "reg")
    backend.publish(*make_draft(tmp_path))
    path = tmp_path / "reg" / "models" / "brno" / "records" / "v1.json"
    path.write_text('{"model": "brno"}')
    with pytest.raises(RegistryError, match=r"v1.json: not a valid release record"):
        backend.get("brno", 1)


def test_a_blob_that_fails_its_sha256_is_refused(tmp_path: Path) -> None:
    backend = open_backend(tmp_path / "reg")
    release = backend.publish(*make_draft(tmp_path))
    blob = tmp_path / "reg" / "blobs" / "sha256" / release.artifacts["golden"].sha256
    blob.write_bytes(b"tampered")
    with pytest.raises(RegistryError, match="'golden' fails its sha256"):
        backend.read_artifact(release, "golden")


def test_release_schema_is_published_unchanged() -> None:
    from mlrelease.registry.record import SCHEMA_FILE

    assert (ROOT / "schemas" / "release.schema.json").read_text() == SCHEMA_FILE.read_text()


def test_a_release_round_trips_through_its_schema(tmp_path: Path) -> None:
    draft, _ = make_draft(tmp_path)
    assert Release.from_bytes(draft.to_bytes(), source="x") == draft
    with pytest.raises(RegistryError, match="image/digest"):
        Release.from_json(
            {**draft.to_json(), "image": {**draft.to_json()["image"], "digest": "md5:1"}}, source="x"
        )


def test_a_claim_left_by_a_killed_oci_writer_does_not_block_the_next_release(registry_auth, tmp_path: Path):
    """A bid for v1 pushed long ago and never committed (its writer died) is stale: v1 goes to the next."""
    from mlrelease.registry.base import RELEASE_MEDIA_TYPE
    from mlrelease.registry.oci import OciBackend

    backend = open_backend(
        f"oci+http://{registry_auth.host}/stale{os.getpid()}",
        username=registry_auth.username,
        password=registry_auth.password,
    )
    assert isinstance(backend, OciBackend)
    dead, _ = make_draft(tmp_path / "dead", salt="dead")
    config = backend._push_blob("brno", dead.to_bytes())
    backend._push_blob("brno", b"{}")
    bid = backend._manifest(
        RELEASE_MEDIA_TYPE, config, [], {"dev.mlrelease.claimed": "2020-01-01T00:00:00.000000Z"}
    )
    backend._put_manifest("brno", bid, "claim-v1-deadbeef0000")
    started = time.monotonic()
    release = backend.publish(*make_draft(tmp_path / "live", salt="live"))
    assert release.version == 1 and time.monotonic() - started < 10
    assert "claim-v1-deadbeef0000" in backend.tags("brno")  # left alone: it is not ours to delete


def test_who_acted_is_the_github_actor_and_run_url_inside_actions():
    from mlrelease.registry.record import actor_from_env

    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_ACTOR": "octocat",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/brno",
        "GITHUB_RUN_ID": "42",
    }
    assert actor_from_env(env) == ("octocat", "https://github.com/acme/brno/actions/runs/42")
    assert actor_from_env({"GITHUB_ACTIONS": "false"})[1] is None
