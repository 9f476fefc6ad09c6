"""Deploy targets: what to run, and where.

- ``release``: ``DeployRelease``, what to deploy (model, version, image by digest, the measured
  figures), made from the config alone, from ``image.json`` + ``metrics.json``, or from a
  registry release record. It travels inside the rendered objects as an annotation.
- ``gke``: Google Kubernetes Engine (any Kubernetes): objects, rollout, rollback, canary.
"""
