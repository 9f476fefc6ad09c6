"""The integration harness works: base image, Docker engine and both registries, end to end."""

from __future__ import annotations

import io
import uuid

import docker
import pytest

pytestmark = pytest.mark.docker


def _build(client: docker.DockerClient, base_image: str, tag: str) -> docker.models.images.Image:
    dockerfile = (
        f"FROM {base_image}\n"
        "RUN python -c 'import venv, ensurepip, ssl' && pip --version\n"
        'CMD ["python", "-c", "import sys; print(\'hello from python\', sys.version_info[0])"]\n'
    )
    image, _ = client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True, forcerm=True)
    return image


def _push(client: docker.DockerClient, repository: str, tag: str, auth_config: dict[str, str] | None) -> str:
    """Push and return the manifest digest; raise with the engine's message when it is refused."""
    digest = None
    for event in client.images.push(repository, tag=tag, auth_config=auth_config, stream=True, decode=True):
        if "error" in event:
            raise docker.errors.APIError(event["error"])
        digest = event.get("aux", {}).get("Digest", digest)
    assert digest, f"push of {repository}:{tag} reported no digest"
    return digest


def test_base_image_has_python_and_python3_on_path(docker_client, base_image):
    assert base_image.startswith("mlrelease-test/base:bookworm-py311-")
    output = docker_client.containers.run(
        base_image,
        ["sh", "-c", "python --version && python3 -m venv /tmp/v && /tmp/v/bin/pip --version && echo $PATH"],
        remove=True,
    ).decode()
    assert "Python 3.11." in output
    assert "/usr/local/bin:" in output


def test_image_round_trips_through_authenticated_registry_by_digest(docker_client, base_image, registry_auth):
    repository = f"{registry_auth.host}/harness/hello"
    tag = uuid.uuid4().hex[:12]
    built = _build(docker_client, base_image, f"{repository}:{tag}")
    try:
        digest = _push(docker_client, repository, tag, registry_auth.auth_config)
    finally:
        docker_client.images.remove(f"{repository}:{tag}", force=True)
    reference = f"{repository}@{digest}"

    pulled = docker_client.images.pull(reference, auth_config=registry_auth.auth_config)
    try:
        assert pulled.id == built.id
        output = docker_client.containers.run(reference, remove=True).decode()
        assert output.strip() == "hello from python 3"
    finally:
        docker_client.images.remove(reference, force=True)


def test_authenticated_registry_refuses_anonymous_push_that_open_registry_accepts(
    docker_client, base_image, registry, registry_auth
):
    # A fresh client: no credentials that another test may have logged in with.
    anonymous = docker.from_env(timeout=300)
    tag = uuid.uuid4().hex[:12]
    open_repository = f"{registry.host}/harness/anonymous"
    auth_repository = f"{registry_auth.host}/harness/anonymous"
    image = _build(anonymous, base_image, f"{open_repository}:{tag}")
    image.tag(auth_repository, tag)
    try:
        assert _push(anonymous, open_repository, tag, None).startswith("sha256:")
        with pytest.raises(docker.errors.APIError, match=r"(?i)auth|unauthorized"):
            _push(anonymous, auth_repository, tag, None)
    finally:
        for repository in (open_repository, auth_repository):
            anonymous.images.remove(f"{repository}:{tag}", force=True)
        anonymous.close()
