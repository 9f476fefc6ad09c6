"""Deploy targets: what to run, how many of it, and the objects that run it.

- ``release``: ``DeployRelease``, what to deploy (model, version, image by digest, the measured
  figures), made from the config alone, from ``image.json`` + ``metrics.json``, or (later) from a
  registry release record. It travels inside the rendered objects as an annotation.
- ``sizing``: the HPA's arithmetic (per-replica throughput, the lunchtime peak, the replicas it
  needs) and the container's requests and limits from the evaluate figures.
- ``gke``: renders the Kubernetes objects (Deployment, Service, HPA, PDB, ServiceAccount) and
  writes them as files, with an optional kustomization.
- ``rollout``: server-side apply through the kubernetes client, the rollout watch and the
  rollback to the previous release by digest.
- ``canary``: the new release beside the stable one, judged on both versions' ``/metrics``
  (error rate, p99, outlier rate, the PSI of their predictions), then promoted or removed.
"""
