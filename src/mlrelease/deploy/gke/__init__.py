"""The GKE target (any Kubernetes): the objects, the rollout, the rollback and the canary.

- ``sizing``: the HPA's arithmetic (per-replica throughput, the lunchtime peak, the replicas it
  needs) and the container's requests and limits from the evaluate figures.
- ``manifests``: renders the Kubernetes objects (Deployment, Service, HPA, PDB, ServiceAccount,
  a canary Deployment) and writes them as files, with an optional kustomization, or a diff.
- ``rollout``: server-side apply through the kubernetes client, the rollout watch and the
  rollback to the previous release by digest.
- ``canary``: the new release beside the stable one, judged on both versions' ``/metrics``
  (error rate, p99, outlier rate, the PSI of their predictions), then promoted or removed.
"""
