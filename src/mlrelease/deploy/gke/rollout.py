"""``mlrelease deploy --target gke``: apply, watch the rollout, roll back to the previous release.

Every object goes out by server-side apply (field manager ``mlrelease``, ``force``): the API
server merges our fields with those other writers own, and takes back any field we own that
someone changed by hand (an edited image, probe or resource), while a field only the other
writer set (an extra annotation, say) stays theirs. The client is made at the CLI edge and passed
in, so tests hand in one pointed at an emulator.

The watch reads what the Deployment controller writes, as ``kubectl rollout status`` does: the
observed generation, the updated, total and available replicas, and the Progressing condition
(``ProgressDeadlineExceeded`` is a failure). Pods of the model that crash-loop or cannot pull
their image fail it early. On failure the pods' events and last log lines are collected, the
previous release (by digest) is applied again and watched, and the outcome says so.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import urllib3

from mlrelease.config import Config
from mlrelease.deploy.gke import manifests as gke
from mlrelease.deploy.release import ANNOTATION, DeployRelease
from mlrelease.errors import EnvironmentUnavailable, UsageError

FIELD_MANAGER = "mlrelease"
APPLY = "application/apply-patch+yaml"
# Waiting reasons of a container that will not get better by itself.
BAD_WAITING = frozenset(
    {"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CreateContainerConfigError"}
)
LOG_LINES = 20
# What a client raises when no API server answers (urllib3's errors are not OSErrors).
UNREACHABLE: tuple[type[BaseException], ...] = (OSError, urllib3.exceptions.HTTPError)

Progress = Callable[[str], None]


class ClusterError(UsageError):
    """The API server refused a request (exit 2): credentials, permissions, an invalid object."""

    title = "cluster"


@dataclass(frozen=True)
class RolloutResult:
    ok: bool
    reason: str  # the Progressing reason, CrashLoopBackOff, ..., or "timed out"
    message: str = ""
    diagnostics: tuple[str, ...] = ()  # pods' events and last log lines


@dataclass(frozen=True)
class DeployOutcome:
    status: Literal["deployed", "rolled_back", "failed"]
    release: DeployRelease
    previous: DeployRelease | None
    rollout: RolloutResult
    rollback: RolloutResult | None = None
    applied: tuple[str, ...] = field(default_factory=tuple)  # Kind/name, in order

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "release": self.release.to_json(),
            "previous": self.previous.to_json() if self.previous else None,
            "rollout": _result_json(self.rollout),
            "rollback": _result_json(self.rollback) if self.rollback else None,
            "applied": list(self.applied),
        }


def _result_json(r: RolloutResult) -> dict[str, Any]:
    return {"ok": r.ok, "reason": r.reason, "message": r.message, "diagnostics": list(r.diagnostics)}


class Cluster:
    """The few API calls a deploy makes, as plain JSON, over one ``kubernetes`` ApiClient."""

    def __init__(self, api_client: Any):
        import kubernetes

        self.k8s = kubernetes.client
        self.core = kubernetes.client.CoreV1Api(api_client)
        self.apps = kubernetes.client.AppsV1Api(api_client)
        self.autoscaling = kubernetes.client.AutoscalingV2Api(api_client)
        self.policy = kubernetes.client.PolicyV1Api(api_client)

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> dict[str, Any]:
        try:
            resp = fn(*args, **kw, _preload_content=False)
        except self.k8s.ApiException as exc:
            raise ClusterError(
                f"{what}: the API server answered {exc.status} {exc.reason}: {_status_message(exc)}",
                hint=_hint(exc.status),
            ) from None
        except UNREACHABLE as exc:
            raise EnvironmentUnavailable(
                f"{what}: cannot reach the API server: {exc}", hint=_hint(None)
            ) from None
        answer: dict[str, Any] = json.loads(resp.data or b"{}")
        return answer

    def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        kind, meta = body["kind"], body["metadata"]
        patch = {
            "ServiceAccount": self.core.patch_namespaced_service_account,
            "Service": self.core.patch_namespaced_service,
            "Deployment": self.apps.patch_namespaced_deployment,
            "HorizontalPodAutoscaler": self.autoscaling.patch_namespaced_horizontal_pod_autoscaler,
            "PodDisruptionBudget": self.policy.patch_namespaced_pod_disruption_budget,
        }[kind]
        return self._call(
            f"apply {kind}/{meta['name']}",
            patch,
            meta["name"],
            meta["namespace"],
            body,
            field_manager=FIELD_MANAGER,
            force=True,
            _content_type=APPLY,
        )

    def deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            resp = self.apps.read_namespaced_deployment(name, namespace, _preload_content=False)
        except self.k8s.ApiException as exc:
            if exc.status == 404:
                return None
            raise ClusterError(
                f"read Deployment/{name}: the API server answered {exc.status} {exc.reason}",
                hint=_hint(exc.status),
            ) from None
        except UNREACHABLE as exc:
            raise EnvironmentUnavailable(
                f"read Deployment/{name}: cannot reach the API server: {exc}", hint=_hint(None)
            ) from None
        # with _preload_content=False the client returns the raw urllib3 response, not the model it names
        deployment: dict[str, Any] = json.loads(cast("urllib3.BaseHTTPResponse", resp).data)
        return deployment

    def delete_deployment(self, namespace: str, name: str) -> None:
        try:
            self.apps.delete_namespaced_deployment(name, namespace, _preload_content=False)
        except self.k8s.ApiException as exc:
            if exc.status != 404:
                raise ClusterError(
                    f"delete Deployment/{name}: {exc.status} {exc.reason}", hint=_hint(exc.status)
                ) from None
        except UNREACHABLE as exc:
            raise EnvironmentUnavailable(
                f"delete Deployment/{name}: cannot reach the API server: {exc}"
            ) from None

    def metrics(self, namespace: str, pod: str, port: int) -> str:
        """A pod's ``/metrics``, through the API server's proxy (no route into the cluster needed)."""
        resp = self._raw(
            f"read /metrics of pod/{pod}",
            self.core.connect_get_namespaced_pod_proxy_with_path,
            f"{pod}:{port}",
            namespace,
            "metrics",
        )
        return resp.decode("utf-8", "replace")

    def _raw(self, what: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> bytes:
        try:
            data: bytes = fn(*args, **kw, _preload_content=False).data
            return data
        except self.k8s.ApiException as exc:
            raise ClusterError(
                f"{what}: the API server answered {exc.status} {exc.reason}", hint=_hint(exc.status)
            ) from None
        except UNREACHABLE as exc:
            raise EnvironmentUnavailable(
                f"{what}: cannot reach the API server: {exc}", hint=_hint(None)
            ) from None

    def pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        """Pods matching ``selector`` (k=v,k=v), checked here too: a proxy may drop the selector."""
        found = self._call("list pods", self.core.list_namespaced_pod, namespace, label_selector=selector)
        want = dict(part.split("=", 1) for part in selector.split(",") if part)
        return [
            p
            for p in found["items"]
            if all(((p.get("metadata") or {}).get("labels") or {}).get(k) == v for k, v in want.items())
        ]

    def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        found = self._call(
            "list events",
            self.core.list_namespaced_event,
            namespace,
            field_selector=f"involvedObject.name={name}",
        )["items"]
        # a server that ignores the field selector still gives only this object's events
        return [e for e in found if e.get("involvedObject", {}).get("name") == name]

    def log_tail(self, namespace: str, pod: str, container: str) -> list[str]:
        missing: tuple[type[BaseException], ...] = (self.k8s.ApiException, *UNREACHABLE)
        try:
            resp = self.core.read_namespaced_pod_log(
                pod,
                namespace,
                container=container,
                tail_lines=LOG_LINES,
                previous=True,
                _preload_content=False,
            )
        except missing:
            return []  # no previous container yet, or logs not served: the events still tell
        # with _preload_content=False the client returns the raw urllib3 response, not the str it names
        return (
            cast("urllib3.BaseHTTPResponse", resp).data.decode("utf-8", "replace").splitlines()[-LOG_LINES:]
        )


def _status_message(exc: Any) -> str:
    try:
        return json.loads(exc.body).get("message") or str(exc.reason)
    except (TypeError, ValueError, AttributeError):
        return str(exc.reason)


def _hint(status: int | None) -> str:
    if status in (401, 403):
        return (
            "check the credentials: `gcloud container clusters get-credentials`"
            " (google-github-actions/get-gke-credentials in CI)"
        )
    if status is None:
        return "check the kubeconfig's current context and that the cluster's endpoint is reachable"
    return "see the message above; `mlrelease render --target gke` shows what was sent"


def rollout_state(dep: dict[str, Any], generation: int) -> tuple[bool | None, str, str]:
    """(done, reason, message) of a Deployment: True done, False failed, None still going.

    The same reading as ``kubectl rollout status``.
    """
    status = dep.get("status") or {}
    if (status.get("observedGeneration") or 0) < generation:
        return None, "Pending", f"waiting for the controller to see generation {generation}"
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return False, "ProgressDeadlineExceeded", cond.get("message") or "the rollout made no progress"
    want = (dep.get("spec") or {}).get("replicas")
    want = 1 if want is None else int(want)
    updated = status.get("updatedReplicas") or 0
    total = status.get("replicas") or 0
    available = status.get("availableReplicas") or 0
    if updated < want:
        return None, "Progressing", f"{updated} of {want} updated replicas"
    if total > updated:
        return None, "Progressing", f"{total - updated} old replicas pending termination"
    if available < updated:
        return None, "Progressing", f"{available} of {updated} updated replicas available"
    return True, _progressing_reason(status) or "Complete", f"{available} replicas available"


def _progressing_reason(status: dict[str, Any]) -> str | None:
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing":
            reason: str | None = cond.get("reason")
            return reason
    return None


def _broken_pods(pods: list[dict[str, Any]], image: str) -> list[tuple[str, str, str]]:
    """(pod, reason, message) of the pods of ``image`` whose container will not start."""
    broken = []
    for pod in pods:
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if cs.get("image") == image and waiting.get("reason") in BAD_WAITING:
                broken.append((pod["metadata"]["name"], waiting["reason"], waiting.get("message", "")))
    return broken


def watch(
    cluster: Cluster,
    release: DeployRelease,
    namespace: str,
    generation: int,
    *,
    timeout_s: float,
    poll_s: float = 2.0,
    progress: Progress = lambda _: None,
    track: str = "stable",
) -> RolloutResult:
    """Wait for the rollout of ``generation``; on a failure, gather the pods' events and logs."""
    name = gke.deployment_name(release, track)
    selector = ",".join(f"{k}={v}" for k, v in gke.selector(release, track).items())
    deadline = time.monotonic() + timeout_s
    last = ""
    while True:
        dep = cluster.deployment(namespace, name)
        if dep is None:
            return RolloutResult(False, "Deleted", f"Deployment/{name} is gone")
        done, reason, message = rollout_state(dep, generation)
        if message != last:
            progress(f"Deployment/{name}: {reason}: {message}")
            last = message
        if done:
            return RolloutResult(True, reason, message)
        broken = _broken_pods(cluster.pods(namespace, selector), release.reference)
        if done is False or broken:
            if broken:
                reason, message = broken[0][1], f"pod {broken[0][0]}: {broken[0][2]}".rstrip(": ")
            return RolloutResult(
                False, reason, message, diagnose(cluster, namespace, name, broken, release.model)
            )
        if time.monotonic() >= deadline:
            return RolloutResult(
                False,
                "TimedOut",
                f"no complete rollout after {timeout_s:g} s ({message})",
                diagnose(cluster, namespace, name, [], release.model),
            )
        time.sleep(poll_s)


def diagnose(
    cluster: Cluster, namespace: str, name: str, broken: list[tuple[str, str, str]], container: str
) -> tuple[str, ...]:
    lines = []
    for pod, _, _ in broken:
        for ev in cluster.events(namespace, pod):
            lines.append(
                f"event pod/{pod}: {ev.get('type', '')} {ev.get('reason', '')}: {ev.get('message', '')}"
            )
        lines += [f"log pod/{pod}: {line}" for line in cluster.log_tail(namespace, pod, container)]
    for ev in cluster.events(namespace, name):
        lines.append(
            f"event deployment/{name}: {ev.get('type', '')} {ev.get('reason', '')}: {ev.get('message', '')}"
        )
    return tuple(lines)


def current_release(cluster: Cluster, namespace: str, name: str) -> DeployRelease | None:
    """The release the cluster runs now, from the Deployment's annotation; None when none."""
    dep = cluster.deployment(namespace, name)
    text = ((dep or {}).get("metadata") or {}).get("annotations", {}).get(ANNOTATION)
    if not text:
        return None
    return DeployRelease.from_annotation(text, source=f"Deployment/{name} in {namespace}")


def _apply_all(
    cluster: Cluster, cfg: Config, release: DeployRelease, progress: Progress
) -> tuple[int, list[str]]:
    generation, applied = 0, []
    for manifest in gke.render(cfg, release):
        got = cluster.apply(manifest.body)
        ref = f"{manifest.kind}/{manifest.body['metadata']['name']}"
        applied.append(ref)
        progress(f"applied {ref}")
        if manifest.kind == "Deployment":
            generation = int((got.get("metadata") or {}).get("generation") or 0)
    return generation, applied


def deploy(
    cluster: Cluster,
    cfg: Config,
    release: DeployRelease,
    *,
    previous: DeployRelease | None = None,
    timeout_s: float | None = None,
    poll_s: float = 2.0,
    progress: Progress = lambda _: None,
) -> DeployOutcome:
    """Apply ``release``, watch it; on failure apply ``previous`` again and watch that.

    ``previous`` is what to roll back to; by default the release the cluster runs now (its
    annotation). The registry passes its own record of the last good release here.
    """
    if release.placeholder:
        raise UsageError(
            "the release's image digest is a placeholder: nothing to pull",
            hint="pass --image-json after `mlrelease push`",
        )
    gk = gke.gke_config(cfg)
    ns = gk.namespace
    if previous is None:
        previous = current_release(cluster, ns, release.model)
    if previous is not None and previous.digest == release.digest:
        previous = None  # a re-apply of what runs: nothing different to go back to
    wait = timeout_s if timeout_s is not None else gk.progress_deadline_s + 60
    progress(f"deploying {release.model} {release.version} ({release.reference}) to {gk.cluster}/{ns}")
    generation, applied = _apply_all(cluster, cfg, release, progress)
    result = watch(cluster, release, ns, generation, timeout_s=wait, poll_s=poll_s, progress=progress)
    if result.ok:
        return DeployOutcome("deployed", release, previous, result, applied=tuple(applied))
    progress(f"rollout failed: {result.reason}: {result.message}")
    for line in result.diagnostics:
        progress(f"  {line}")
    if previous is None:
        return DeployOutcome("failed", release, None, result, applied=tuple(applied))
    progress(f"rolling back to {previous.version} ({previous.reference})")
    generation, _ = _apply_all(cluster, cfg, previous, progress)
    back = watch(cluster, previous, ns, generation, timeout_s=wait, poll_s=poll_s, progress=progress)
    return DeployOutcome(
        "rolled_back" if back.ok else "failed", release, previous, result, back, tuple(applied)
    )


def rollback(
    cluster: Cluster,
    cfg: Config,
    release: DeployRelease,
    *,
    timeout_s: float | None = None,
    poll_s: float = 2.0,
    progress: Progress = lambda _: None,
) -> DeployOutcome:
    """Apply a named earlier ``release`` again and watch it; no fallback if that fails too.

    The release comes from the registry (or the caller), never from the cluster's ReplicaSet
    history: it works after ``revisionHistoryLimit`` has pruned that release's ReplicaSet and
    after someone edited the Deployment by hand (server-side apply takes our fields back).
    """
    gk = gke.gke_config(cfg)
    running = current_release(cluster, gk.namespace, release.model)
    wait = timeout_s if timeout_s is not None else gk.progress_deadline_s + 60
    progress(f"rolling back {release.model} to {release.version} ({release.reference})")
    generation, applied = _apply_all(cluster, cfg, release, progress)
    result = watch(
        cluster, release, gk.namespace, generation, timeout_s=wait, poll_s=poll_s, progress=progress
    )
    status: Literal["rolled_back", "failed"] = "rolled_back" if result.ok else "failed"
    return DeployOutcome(status, release, running, result, applied=tuple(applied))


def connect(kubeconfig: str | None, context: str | None) -> Any:
    """A ``kubernetes`` ApiClient: in-cluster credentials inside a pod, else the kubeconfig."""
    import os

    import kubernetes

    try:
        if kubeconfig is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            kubernetes.config.load_incluster_config()
            return kubernetes.client.ApiClient()
        return kubernetes.config.new_client_from_config(config_file=kubeconfig, context=context)
    except (kubernetes.config.ConfigException, OSError) as exc:
        raise EnvironmentUnavailable(
            f"no Kubernetes credentials: {exc}",
            hint="run `gcloud container clusters get-credentials CLUSTER --location LOCATION` "
            "(google-github-actions/get-gke-credentials in CI), or pass --kubeconfig",
        ) from None
