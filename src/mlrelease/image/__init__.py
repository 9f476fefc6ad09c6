"""The model's container image: Dockerfile (CPU/GPU), wheelhouse, build, test and push.

- ``lockfile``: the hash-locked requirements.txt the image installs, parsed once.
- ``dockerfile``: renders the multi-stage Dockerfile from an ``ImageSpec``.
- ``runtime``: what the runtime stage holds: the compiled model alone (``image.runtime: auto`` and a
  model that compiles fully) or every locked package, why, and which packages stay in the builder.
- ``prune``: runs in the builder stage of a compiled-only image; moves the build-only packages out
  of the environment the runtime stage copies.
- ``slim``: runs in the builder stage; cuts what no import reads (symbols and debug information
  after each shared object's last loaded byte, bundled libraries shipped twice, type stubs).
- ``wheelhouse``: downloads the locked wheels on the host for the target platform.
- ``context``: assembles the build context (Dockerfile, wheels, model, trimmed config).
- ``build``: builds with the docker SDK, streams progress, writes ``image.json``.
- ``record``: ``image.json``, typed.
- ``verify``: ``test-image``'s verdict: golden predictions and installed packages compared, findings.
- ``container``: ``test-image``'s run: the image locked down, its health, its answers to ``verify``.
- ``push``: tags and pushes, records the digest.
"""
