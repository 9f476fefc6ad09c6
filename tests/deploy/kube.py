"""A Kubernetes API server for the deploy tests: kmock's KubernetesEmulator on a real 127.0.0.1
port, in a thread of its own, with the two API-server behaviours a deploy relies on:

- server-side apply creates the object when it does not exist (a PATCH with
  ``application/apply-patch+yaml``), as a real API server does;
- ``metadata.generation`` starts at 1 and grows by one whenever ``spec`` changes.

The emulator merges patches as plain dicts (a list is replaced whole; a key another writer added
stays), and runs no controllers: a test plays the Deployment controller by writing ``status``
through the API (``Controller``), over HTTP like everything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import kubernetes
from kmock import KubernetesEmulator, Server, action
from kmock._internal import dicts, rendering

APPLY = "application/apply-patch+yaml"


class ApiServer(KubernetesEmulator):
    async def _handle(self, request: rendering.Request) -> Any:
        if (
            request.resource is not None
            and request.action == action.UPDATE
            and request.name is not None
            and request.subresource is None
            and isinstance(request.data, dict)
        ):
            key = (request.resource, request.namespace, request.name)
            content_type = request.headers.get("Content-Type", "")
            async with self._lock:
                missing = key not in self._objects or self._objects[key].deleted
                if missing and content_type.startswith(APPLY):
                    self._objects[key] = {"metadata": {"name": request.name, "namespace": request.namespace}}
                    missing = False
                    old: dict[str, Any] = {}
                else:
                    old = {} if missing else copy.deepcopy(dict(self._objects[key].raw))
                if not missing:
                    # the generation the write leads to goes into the write itself, so the
                    # response carries it, as a real API server's does
                    new = dicts.patch_dict(old, request.data)
                    generation = (old.get("metadata") or {}).get("generation") or 0
                    if new.get("spec") != old.get("spec"):
                        request.data.setdefault("metadata", {})["generation"] = generation + 1
        return await super()._handle(request)


@contextmanager
def api_server() -> Iterator[tuple[ApiServer, str]]:
    """An ``ApiServer`` listening on a free port; yields it and its URL."""
    ready: dict[str, Any] = {}
    started = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def run() -> None:
        async with ApiServer() as emulator, Server(emulator) as server:
            for plural in ("pods", "events"):  # listed before any exists
                emulator.resources[f"v1/{plural}"] = {}
            ready["emulator"], ready["url"] = emulator, str(server.url).rstrip("/")
            started.set()
            await stop.wait()

    thread = threading.Thread(target=lambda: loop.run_until_complete(run()), daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("the emulator did not start")
    try:
        yield ready["emulator"], ready["url"]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)


def client(url: str) -> kubernetes.client.ApiClient:
    """A real client, pointed at ``url`` through a real Configuration."""
    conf = kubernetes.client.Configuration(host=url)
    return kubernetes.client.ApiClient(conf)


def raw(call: Callable[..., Any], *args: Any, **kw: Any) -> dict[str, Any]:
    return json.loads(call(*args, **kw, _preload_content=False).data)


class Controller:
    """Plays the Deployment controller: watches the Deployment and writes its status.

    ``behaviour(image)`` says what the pods of that image do: "ready" (the rollout completes),
    "crash" (the new pods crash-loop: a Pod in CrashLoopBackOff, its Events), or "stuck" (the
    Progressing condition turns False with ProgressDeadlineExceeded).
    """

    def __init__(
        self, url: str, namespace: str, name: str, behaviour: Callable[[str], str], replicas: int = 2
    ):
        self.api = client(url)
        self.apps = kubernetes.client.AppsV1Api(self.api)
        self.core = kubernetes.client.CoreV1Api(self.api)
        self.namespace, self.name, self.behaviour, self.replicas = namespace, name, behaviour, replicas
        self.seen: list[tuple[int, str]] = []  # (generation, image) the controller acted on
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Controller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def wait_for(self, generation: int, timeout: float = 10) -> None:
        """Until the controller has acted on ``generation``."""
        end = time.monotonic() + timeout
        while not any(g == generation for g, _ in self.seen):
            if time.monotonic() > end:
                raise TimeoutError(f"the controller never saw generation {generation}")
            time.sleep(0.01)

    def _loop(self) -> None:
        done: set[int] = set()
        while not self._stop.is_set():
            try:
                dep = raw(self.apps.read_namespaced_deployment, self.name, self.namespace)
            except kubernetes.client.ApiException:
                time.sleep(0.02)
                continue
            generation = dep["metadata"].get("generation", 0)
            if generation and generation not in done:
                done.add(generation)
                image = dep["spec"]["template"]["spec"]["containers"][0]["image"]
                self.seen.append((generation, image))
                self.act(
                    generation, image, self.behaviour(image), dep["spec"]["template"]["metadata"]["labels"]
                )
            time.sleep(0.02)

    def write_status(self, status: dict[str, Any]) -> None:
        self.apps.patch_namespaced_deployment_status(
            self.name, self.namespace, {"status": status}, _content_type="application/merge-patch+json"
        )

    def running_pods(self, image: str, labels: dict[str, str]) -> None:
        """The Deployment's pods, Running (names: <deployment>-<digest[:12]>-<i>)."""
        version = image.rsplit(":", 1)[-1][:12]
        for i in range(self.replicas):
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{self.name}-{version}-{i}",
                    "namespace": self.namespace,
                    "labels": labels,
                },
                "spec": {"containers": [{"name": labels["app.kubernetes.io/name"], "image": image}]},
                "status": {"phase": "Running"},
            }
            with contextlib.suppress(kubernetes.client.ApiException):  # already there
                self.core.create_namespaced_pod(
                    self.namespace, kubernetes.client.V1Pod.from_dict(pod), _preload_content=False
                )

    def act(self, generation: int, image: str, what: str, labels: dict[str, str]) -> None:
        n = self.replicas
        version = image.rsplit(":", 1)[-1][:12]
        # first the controller notices the new spec, then the pods come (or do not)
        progressing = {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}
        self.write_status(
            {
                "observedGeneration": generation,
                "replicas": n + 1,
                "updatedReplicas": 1,
                "availableReplicas": n,
                "conditions": [progressing],
            }
        )
        if what == "ready":
            done = {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
            available = {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}
            self.running_pods(image, labels)
            self.write_status(
                {
                    "observedGeneration": generation,
                    "replicas": n,
                    "updatedReplicas": n,
                    "readyReplicas": n,
                    "availableReplicas": n,
                    "conditions": [available, done],
                }
            )
        elif what == "crash":
            pod = f"{self.name}-{version}-x1"
            # the event first: a watcher that sees the pod finds its event too
            self.core.create_namespaced_event(
                self.namespace,
                kubernetes.client.CoreV1Event.from_dict(
                    {
                        "apiVersion": "v1",
                        "kind": "Event",
                        "metadata": {"name": f"{pod}.1", "namespace": self.namespace},
                        "involvedObject": {"kind": "Pod", "name": pod, "namespace": self.namespace},
                        "reason": "BackOff",
                        "type": "Warning",
                        "message": "Back-off restarting failed container model",
                    }
                ),
                _preload_content=False,
            )
            self.core.create_namespaced_pod(
                self.namespace,
                kubernetes.client.V1Pod.from_dict(
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "metadata": {
                            "name": pod,
                            "namespace": self.namespace,
                            "labels": labels,
                        },
                        "spec": {"containers": [{"name": self.name, "image": image}]},
                        "status": {
                            "phase": "Running",
                            "containerStatuses": [
                                {
                                    "name": self.name,
                                    "image": image,
                                    "ready": False,
                                    "restartCount": 4,
                                    "imageID": "",
                                    "state": {
                                        "waiting": {
                                            "reason": "CrashLoopBackOff",
                                            "message": "back-off 40s restarting failed container",
                                        }
                                    },
                                }
                            ],
                        },
                    }
                ),
                _preload_content=False,
            )
        elif what == "stuck":
            stuck = {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": f'ReplicaSet "{self.name}-{version}" has timed out progressing.',
            }
            self.write_status(
                {
                    "observedGeneration": generation,
                    "replicas": n + 1,
                    "updatedReplicas": 1,
                    "availableReplicas": n,
                    "conditions": [stuck],
                }
            )
