"""The whole PR check in one run: the root action's body.

Every selected check runs, each even when an earlier one failed: ``lint``, ``deps`` (the lock
check, then ``deps check``), ``gate`` (``evaluate``, then ``gate``) and ``image`` (``build``, then
``test-image``). Each is its own ``mlrelease`` command, run as a process, so each writes its own
annotations, job summary and step outputs exactly as it does alone. Then the PR comment's body
(``mlrelease comment``), and the failure policy decides the exit code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mlrelease import process
from mlrelease.errors import UsageError

Check = Literal["lint", "deps", "gate", "image"]
Policy = Literal["any", "gate", "never"]
CHECKS: tuple[Check, ...] = ("lint", "deps", "gate", "image")
POLICIES: tuple[Policy, ...] = ("any", "gate", "never")


@dataclass(frozen=True)
class PrCheckRequest:
    config: str
    checks: tuple[Check, ...]
    fail_on: Policy
    out: Path
    lint_fail_on: str | None = None
    baseline: str | None = None
    latency_samples: int = 500
    base_image: str | None = None

    def validate(self) -> None:
        """Refuse a plan that cannot run, before any check (exit 2)."""
        if "image" in self.checks and "gate" not in self.checks:
            raise UsageError(
                "--checks: 'image' needs 'gate' (it replays the evaluation's golden predictions)",
                hint="add gate to the checks",
            )


@dataclass
class PrCheckResult:
    checks: tuple[Check, ...]
    out: Path
    failed: list[str] = field(default_factory=list)

    def fail(self, name: str) -> None:
        if name not in self.failed:
            self.failed.append(name)

    def blocks(self, policy: Policy) -> bool:
        """Whether ``policy`` makes the step fail: any failed check, the gate alone, or never."""
        if policy == "any":
            return bool(self.failed)
        if policy == "gate":
            return "gate" in self.failed
        return False


Runner = Callable[[Sequence[str]], process.Finished]


def runner(mlrelease: Sequence[str], env: Mapping[str, str], say: Callable[[str, str], None]) -> Runner:
    """Run ``mlrelease ARGS`` (``mlrelease`` is the argv prefix that starts it) with ``env``,
    handing what it printed to ``say(stdout, stderr)``."""

    def run(args: Sequence[str]) -> process.Finished:
        done = process.run([*mlrelease, *args], what=f"mlrelease {args[0]}", env=env, timeout=None, ok=None)
        say(done.stdout, done.stderr)
        return done

    return run


def run(request: PrCheckRequest, mlrelease: Runner) -> PrCheckResult:
    """Run every selected check with ``mlrelease``, then write the comment's body."""
    request.validate()
    out, config = request.out, request.config
    out.mkdir(parents=True, exist_ok=True)
    result = PrCheckResult(request.checks, out)
    comment: list[str] = []

    def check(name: str, args: list[str], *, json_to: Path | None = None) -> bool:
        done = mlrelease(args)
        if json_to is not None and done.stdout.strip():
            json_to.write_text(done.stdout, encoding="utf-8")
        if done.returncode != 0:
            result.fail(name)
        return done.returncode == 0

    if "lint" in request.checks:
        args = ["lint", "-c", config, "--report", str(out / "lint.json"), "--sarif", str(out / "lint.sarif")]
        if request.lint_fail_on:
            args += ["--fail-on", request.lint_fail_on]
        check("lint", args)
        if (out / "lint.json").is_file():
            comment += ["--lint", str(out / "lint.json")]

    if "deps" in request.checks:
        check("deps", ["lock", "-c", config, "--check", "--json"], json_to=out / "lock.json")
        if (out / "lock.json").is_file():
            comment += ["--lock", str(out / "lock.json")]
        check("deps", ["deps", "check", "-c", config])

    evaluation = out / "evaluate"
    if "gate" in request.checks:
        args = [
            "evaluate",
            "-c",
            config,
            "-o",
            str(evaluation),
            "--latency-samples",
            str(request.latency_samples),
        ]
        if check("gate", args):
            args = ["gate", "--candidate", str(evaluation), "-c", config, "-o", str(out / "gate")]
            if request.baseline:
                args += ["--baseline", request.baseline]
            check("gate", args)
            if (out / "gate" / "gate.json").is_file():
                comment += ["--gate", str(out / "gate" / "gate.json")]

    if "image" in request.checks and (evaluation / "golden.parquet").is_file():
        args = ["build", "-c", config, "--evaluation", str(evaluation), "-o", str(out / "image.json")]
        if request.base_image:
            args += ["--base-image", request.base_image]
        if check("image", args):
            args = ["test-image", "-c", config, "--evaluation", str(evaluation)]
            check(
                "image",
                [*args, "--image-json", str(out / "image.json"), "--json"],
                json_to=out / "image-test.json",
            )
            if (out / "image-test.json").is_file():
                comment += ["--image", str(out / "image-test.json")]

    if comment and mlrelease(["comment", *comment, "-o", str(out)]).returncode != 0:
        result.fail("comment")
    return result
