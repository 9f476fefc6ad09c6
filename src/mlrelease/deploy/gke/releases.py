"""Registry releases on a cluster: ``deploy VERSION``, ``rollback`` and the canary, each recorded.

The registry, not the cluster, says what to run and what to go back to: a release is rendered
from its record (image by digest, ``vN``, its figures) and the current ``deploy.gke`` config, so a
rollback works after ``revisionHistoryLimit`` pruned the release's ReplicaSet and after someone
edited the Deployment by hand. The cluster is a target of its own in the registry,
``gke:CLUSTER/NAMESPACE`` (``target_name``), so two clusters keep two histories.

The events are the kinds the local target records:

- a deploy whose rollout completes: ``deployed`` vN (``from_version``: what ran), and
  ``superseded`` for what ran;
- a rollout that fails: ``marked_bad`` vN naming the failure (a later deploy refuses it without
  ``--force``, as after a watch breach), then ``rolled_back`` to what ran, once that rolled out again;
- a rollback: ``rolled_back`` vK (``from_version``: what ran), and ``superseded`` for what ran;
- a canary promoted: ``deployed`` vN and ``superseded`` for the stable release; a canary removed:
  ``marked_bad`` vN with the failed checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mlrelease.config import Config
from mlrelease.deploy.gke import canary as canaries
from mlrelease.deploy.gke import manifests as gke
from mlrelease.deploy.gke import rollout
from mlrelease.deploy.release import DeployRelease
from mlrelease.deploy.rollout import Plan, rollback_version
from mlrelease.errors import CheckFailed, UsageError
from mlrelease.registry import Backend, Event
from mlrelease.registry.record import EventKind, actor_from_env, parse_version


def target_name(cfg: Config) -> str:
    """The cluster as a target of the registry: ``gke:CLUSTER/NAMESPACE``."""
    gk = gke.gke_config(cfg)
    return f"gke:{gk.cluster}/{gk.namespace}"


@dataclass(frozen=True)
class Deployed:
    """A deploy of a registry release and what the registry recorded of it."""

    target: str
    version: int
    before: int | None  # the registry version that ran on the target before, when known
    outcome: rollout.DeployOutcome
    events: tuple[Event, ...]


@dataclass(frozen=True)
class CanaryDeployed:
    target: str
    version: int
    before: int | None
    outcome: canaries.CanaryOutcome
    events: tuple[Event, ...]


def _event(
    kind: EventKind,
    model: str,
    version: int,
    target: str,
    env: Mapping[str, str] | None,
    *,
    from_version: int | None = None,
    reason: str | None = None,
    by: int | None = None,
) -> Event:
    actor, run_url = actor_from_env(dict(env) if env is not None else None)
    return Event(
        kind, model, version, target=target, from_version=from_version, reason=reason,
        actor=actor, run_url=run_url, detail={"by": by} if by is not None else {},
    )  # fmt: skip


def _record(backend: Backend, events: list[Event]) -> tuple[Event, ...]:
    for event in events:
        backend.append(event)
    return tuple(events)


def _registry_version(backend: Backend, model: str, release: DeployRelease | None) -> int | None:
    """The registry version of a release the cluster runs, when its label and digest match one."""
    if release is None:
        return None
    try:
        version = parse_version(release.version)
        if version > backend.index(model).latest:
            return None
        record = backend.get(model, version)
    except UsageError:  # a label that is no registry version, or a version the registry lacks
        return None
    return version if record.image.reference == release.reference else None


def running(backend: Backend, cluster: rollout.Cluster, cfg: Config) -> int | None:
    """What runs on the cluster, as a registry version: the registry's record of the target,
    else the Deployment's annotation when it names a release of the registry."""
    model, target = cfg.model.name, target_name(cfg)
    recorded = backend.deployed_on(model, target)
    if recorded is not None:
        return recorded
    ns = gke.gke_config(cfg).namespace
    return _registry_version(backend, model, rollout.current_release(cluster, ns, model))


def release_of(backend: Backend, model: str, version: int) -> DeployRelease:
    return DeployRelease.from_record(backend.get(model, version))


def _refuse_bad(backend: Backend, model: str, version: int, force: bool) -> None:
    if backend.is_bad(model, version) and not force:
        raise UsageError(f"{model} v{version} is marked bad", hint="pick another release, or pass --force")


def deploy(
    backend: Backend,
    cluster: rollout.Cluster,
    cfg: Config,
    version: int,
    *,
    force: bool = False,
    timeout_s: float | None = None,
    poll_s: float = 2.0,
    progress: rollout.Progress = lambda _: None,
    env: Mapping[str, str] | None = None,
) -> Deployed:
    """Roll out registry release ``version``; on a failed rollout, go back to what ran and say so."""
    model, target = cfg.model.name, target_name(cfg)
    _refuse_bad(backend, model, version, force)
    release = release_of(backend, model, version)
    before = running(backend, cluster, cfg)
    # what to go back to: what ran, unless it has been marked bad since; then the good one before it
    back = (
        before
        if before is None or not backend.is_bad(model, before)
        else backend.previous_good(model, before)
    )
    previous = release_of(backend, model, back) if back is not None and back != version else None
    outcome = rollout.deploy(
        cluster, cfg, release, previous=previous, timeout_s=timeout_s, poll_s=poll_s, progress=progress
    )
    events: list[Event] = []
    if outcome.status == "deployed":
        events.append(_event("deployed", model, version, target, env, from_version=before))
        if before is not None and before != version:
            events.append(_event("superseded", model, before, target, env, by=version))
    else:
        why = f"the rollout on {target} failed: {outcome.rollout.reason}: {outcome.rollout.message}"
        events.append(_event("marked_bad", model, version, target, env, reason=why))
        went_back = _registry_version(backend, model, outcome.previous)
        if outcome.status == "rolled_back" and went_back is not None:
            events.append(
                _event("rolled_back", model, went_back, target, env, from_version=version, reason=why)
            )
    return Deployed(target, version, before, outcome, _record(backend, events))


def plan_rollback(backend: Backend, cluster: rollout.Cluster, cfg: Config, to: int | None) -> Plan:
    """What a rollback would do: from what runs (per the registry) to ``to`` or the previous good one."""
    model, target = cfg.model.name, target_name(cfg)
    current = running(backend, cluster, cfg)
    nothing = f"the registry knows no release of {model} on {target}"
    to = rollback_version(backend, model, current, to, nothing=nothing)
    record = backend.get(model, to)
    problems: list[str] = []
    try:
        DeployRelease.from_record(record)
    except UsageError as exc:
        problems.append(exc.message)
    return Plan(model, target, current, to, record.image.reference, record.model_sha256, tuple(problems))


def rollback(
    backend: Backend,
    cluster: rollout.Cluster,
    cfg: Config,
    plan: Plan,
    *,
    reason: str | None = None,
    timeout_s: float | None = None,
    poll_s: float = 2.0,
    progress: rollout.Progress = lambda _: None,
    env: Mapping[str, str] | None = None,
) -> Deployed:
    """Apply the plan's release again by digest and watch it; record it only once it rolled out."""
    if plan.problems:
        raise CheckFailed(f"refusing to roll back {plan.model} to v{plan.to}: " + "; ".join(plan.problems))
    release = release_of(backend, plan.model, plan.to)
    outcome = rollout.rollback(cluster, cfg, release, timeout_s=timeout_s, poll_s=poll_s, progress=progress)
    events: list[Event] = []
    if outcome.status == "rolled_back":
        events.append(
            _event(
                "rolled_back", plan.model, plan.to, plan.target, env, from_version=plan.current, reason=reason
            )
        )
        if plan.current is not None and plan.current != plan.to:
            events.append(_event("superseded", plan.model, plan.current, plan.target, env, by=plan.to))
    return Deployed(plan.target, plan.to, plan.current, outcome, _record(backend, events))


def canary(
    backend: Backend,
    cluster: rollout.Cluster,
    cfg: Config,
    version: int,
    share: float,
    *,
    force: bool = False,
    judge_s: float = 300,
    timeout_s: float | None = None,
    poll_s: float = 2.0,
    progress: rollout.Progress = lambda _: None,
    env: Mapping[str, str] | None = None,
) -> CanaryDeployed:
    """Judge registry release ``version`` as a canary; record its promotion, or mark it bad."""
    model, target = cfg.model.name, target_name(cfg)
    _refuse_bad(backend, model, version, force)
    release = release_of(backend, model, version)
    before = running(backend, cluster, cfg)
    outcome = canaries.run(
        cluster, cfg, release, share, judge_s=judge_s, timeout_s=timeout_s, poll_s=poll_s, progress=progress
    )
    events: list[Event] = []
    if outcome.status == "promoted":
        events.append(
            _event("deployed", model, version, target, env, from_version=before, reason="canary promoted")
        )
        if before is not None and before != version:
            events.append(_event("superseded", model, before, target, env, by=version))
    else:
        why = f"the canary on {target} was removed: {outcome.reason}"
        events.append(_event("marked_bad", model, version, target, env, reason=why))
    return CanaryDeployed(target, version, before, outcome, _record(backend, events))
