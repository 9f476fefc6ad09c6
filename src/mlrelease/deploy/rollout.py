"""Deploy, roll back and watch a model on a target, recorded as events in the release registry."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from mlrelease.config import WatchConfig
from mlrelease.deploy import bundle as bundles
from mlrelease.deploy import verify
from mlrelease.deploy.local import LocalTarget, Runtime
from mlrelease.deploy.watch import Breach, Figures, figures, judge, parse
from mlrelease.errors import CheckFailed, MlreleaseError, UsageError
from mlrelease.registry import Backend, Event, RegistryError
from mlrelease.registry.record import actor_from_env
from mlrelease.serve.runner import request


@dataclass
class Deployed:
    model: str
    version: int
    target: str
    runtime: Runtime
    public_port: int
    previous: int | None
    ready_s: float
    golden_rows: int
    switch: dict[str, float]
    server: dict[str, object] = field(default_factory=dict)


def _event(
    kind: str, model: str, version: int, target: str, env: Mapping[str, str] | None, **kw: object
) -> Event:
    actor, run_url = actor_from_env(dict(env) if env is not None else None)
    return Event(kind, model, version, target=target, actor=actor, run_url=run_url, **kw)  # type: ignore[arg-type]


def deploy(
    backend: Backend,
    target: LocalTarget,
    version: int,
    *,
    runtime: Runtime,
    public_port: int,
    force: bool = False,
    kind: str = "deployed",
    reason: str | None = None,
    env: Mapping[str, str] | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> Deployed:
    """Start ``version`` beside what runs now, prove it, switch the port to it, stop the old one."""
    model = target.model
    if backend.is_bad(model, version) and not force:
        raise UsageError(f"{model} v{version} is marked bad", hint="pick another release, or pass --force")
    release = backend.get(model, version)
    bundle = bundles.fetch(backend, release, target.folder / "bundles")
    state = target.state()
    previous = state.active
    say(f"starting {model} {release.tag} ({runtime})")
    inst = target.start(bundle, runtime)
    try:
        ready_s = verify.wait_ready(inst.port, alive=lambda: target.running(inst))
        server = verify.check_version(inst.port, release)
        rows = verify.check_golden(inst.port, bundle.golden)
    except (MlreleaseError, OSError) as exc:
        target.stop(inst, remove=True)
        raise CheckFailed(f"{model} {release.tag} failed its checks; nothing was switched: {exc}") from None
    say(f"ready in {ready_s:.2f} s; /version and {rows} golden rows check out; switching port {public_port}")
    target.ensure_proxy(public_port)
    switch = target.switch(inst)
    verify.check_version(public_port, release)  # through the front door now
    if previous is not None and previous.port != inst.port:
        target.stop(previous)  # stopped, not removed: it can run again
    target.record(inst, previous)
    before = previous.version if previous else backend.deployed_on(model, target.name)
    backend.append(_event(kind, model, version, target.name, env, from_version=before, reason=reason))
    if before is not None and before != version:
        backend.append(_event("superseded", model, before, target.name, env, detail={"by": version}))
    return Deployed(model, version, target.name, runtime, public_port, before, ready_s, rows, switch, server)


@dataclass(frozen=True)
class Plan:
    model: str
    target: str
    current: int | None
    to: int
    image: str
    model_sha256: str
    problems: tuple[str, ...]

    def lines(self) -> list[str]:
        out = [
            f"roll back {self.model} on {self.target}: "
            + (f"v{self.current} -> v{self.to}" if self.current else f"(nothing running) -> v{self.to}"),
            f"  image  {self.image}",
            f"  model  sha256 {self.model_sha256}",
        ]
        out += [f"  refused: {p}" for p in self.problems] or ["  artifacts present and matching their sha256"]
        return out


def rollback_version(
    backend: Backend, model: str, current: int | None, to: int | None, *, nothing: str
) -> int:
    """The release a rollback goes to, on any target: ``to``, else the newest good one before
    ``current``; never one marked bad. ``nothing`` says why there is no ``current``."""
    if to is None:
        if current is None:
            raise UsageError(nothing, hint="name a release with --to")
        to = backend.previous_good(model, current)
        if to is None:
            raise CheckFailed(f"no good release of {model} before v{current} to roll back to")
    if backend.is_bad(model, to):
        raise UsageError(f"{model} v{to} is marked bad", hint="roll back to another release with --to")
    return to


def plan_rollback(backend: Backend, target: LocalTarget, to: int | None) -> Plan:
    model = target.model
    state = target.state()
    current = state.active.version if state.active else backend.deployed_on(model, target.name)
    nothing = f"nothing of {model} is deployed on {target.name}"
    to = rollback_version(backend, model, current, to, nothing=nothing)
    release = backend.get(model, to)
    problems: list[str] = []
    try:
        bundles.check(backend, release)
    except RegistryError as exc:
        problems.append(exc.message)
    return Plan(
        model, target.name, current, to, release.image.reference, release.model_sha256, tuple(problems)
    )


def rollback(
    backend: Backend,
    target: LocalTarget,
    plan: Plan,
    *,
    runtime: Runtime,
    public_port: int,
    reason: str | None = None,
    env: Mapping[str, str] | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> Deployed:
    if plan.problems:
        raise CheckFailed(f"refusing to roll back {plan.model} to v{plan.to}: " + "; ".join(plan.problems))
    return deploy(
        backend, target, plan.to, runtime=runtime, public_port=public_port, kind="rolled_back",
        reason=reason, env=env, say=say,
    )  # fmt: skip


@dataclass
class WatchResult:
    model: str
    version: int
    figures: Figures
    breaches: list[Breach]
    seconds: float
    rolled_back_to: int | None = None


def scrape(port: int) -> str:
    status, _, body = request(port, "GET", "/metrics", timeout=10)
    if status != 200:
        raise CheckFailed(f"GET /metrics on port {port} answered {status}")
    return body.decode("utf-8")


def watch(
    backend: Backend,
    target: LocalTarget,
    limits: WatchConfig,
    *,
    duration_s: float,
    requests: int | None,
    env: Mapping[str, str] | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> WatchResult:
    """Watch the release on the target; on a breach mark it bad and roll back to the previous good one."""
    state = target.state()
    if state.active is None or state.public_port is None:
        raise UsageError(
            f"nothing of {target.model} is deployed on {target.name}", hint="run `mlrelease deploy`"
        )
    version, port = state.active.version, state.public_port
    first = parse(scrape(port))
    t0 = time.monotonic()
    while True:
        time.sleep(min(limits.interval_s, max(0.0, duration_s - (time.monotonic() - t0))))
        f = figures(first, parse(scrape(port)))
        breaches = judge(f, limits)
        elapsed = time.monotonic() - t0
        say(
            f"{elapsed:5.1f} s: {f.requests} requests, errors {f.error_rate:.1%}, p99 "
            + ("-" if f.p99_ms is None else f"{f.p99_ms:g} ms")
            + f", outliers {f.outlier_rate:.1%}"
        )
        if breaches or elapsed >= duration_s or (requests is not None and f.requests >= requests):
            break
    result = WatchResult(target.model, version, f, breaches, elapsed)
    if breaches:
        why = "; ".join(str(b) for b in breaches)
        say(f"breach: {why}")
        result.rolled_back_to = retire(backend, target, f"watch: {why}", env=env, say=say).to
    return result


@dataclass(frozen=True)
class Retired:
    model: str
    version: int  # the release marked bad
    to: int  # the release running now
    reason: str


def retire(
    backend: Backend,
    target: LocalTarget,
    reason: str,
    *,
    detail: Mapping[str, object] | None = None,
    env: Mapping[str, str] | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> Retired:
    """Mark what runs on ``target`` bad (``reason`` and ``detail`` recorded with it) and roll back to
    the newest good release before it, on the runtime and port it runs on now."""
    state = target.state()
    if state.active is None or state.public_port is None:
        raise UsageError(
            f"nothing of {target.model} is deployed on {target.name}", hint="run `mlrelease deploy`"
        )
    version = state.active.version
    backend.append(
        _event(
            "marked_bad", target.model, version, target.name, env, reason=reason, detail=dict(detail or {})
        )
    )
    plan = plan_rollback(backend, target, None)
    say(f"marked v{version} bad; rolling back to v{plan.to}")
    rollback(
        backend, target, plan, runtime=state.active.runtime, public_port=state.public_port, reason=reason,
        env=env, say=say,
    )  # fmt: skip
    return Retired(target.model, version, plan.to, reason)
