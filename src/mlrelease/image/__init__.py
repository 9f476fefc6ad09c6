"""The model's container image: Dockerfile (CPU/GPU), wheelhouse, build, test and push.

- ``lockfile``: the hash-locked requirements.txt the image installs, parsed once.
- ``dockerfile``: renders the multi-stage Dockerfile from an ``ImageSpec``.
- ``wheelhouse``: downloads the locked wheels on the host for the target platform.
- ``context``: assembles the build context (Dockerfile, wheels, model, trimmed config).
- ``build``: builds with the docker SDK, streams progress, writes ``image.json``.
- ``record``: ``image.json``, typed.
- ``verify``: ``test-image``: golden predictions and installed packages inside the container.
- ``push``: tags and pushes, records the digest.
"""
