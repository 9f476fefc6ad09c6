"""Deploy a release to a target, check it, watch it, and roll it back.

- ``bundle``: a release's files fetched from the registry and checked by sha256, laid out for a
  server (the serving part of its config, the model, the signature, the golden rows).
- ``verify``: asks a running server its ``/version`` and sends it the golden rows.
- ``proxy``: the local target's front door, a small TCP proxy on the public port; switching
  a deploy is one atomic write of the backend port it forwards new connections to.
- ``local``: the local target: the release's image by digest on the Docker engine, or the server
  as a process; blue/green behind the proxy, the previous instance kept runnable.
- ``watch``: reads ``/metrics`` (Prometheus text) and judges error rate, p99 latency and outlier
  rate against the limits of ``mlrelease.yaml``.
- ``rollout``: deploy, rollback (with its plan) and watch-then-rollback, recorded as events.
- ``release``: ``DeployRelease``, what to deploy to a cluster (model, version, image by digest,
  the measured figures), made from the config alone, from ``image.json`` + ``metrics.json``, or
  from a registry release record. It travels inside the rendered objects as an annotation.
- ``gke``: Google Kubernetes Engine (any Kubernetes): objects, rollout, rollback, canary.
"""
