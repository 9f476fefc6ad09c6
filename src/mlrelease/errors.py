"""The exception hierarchy. The CLI edge maps these to exit codes and one clear message.

Exit codes: 1 means a check ran and failed (a verdict), 2 means the input or the usage was bad,
3 means the check could not run on this machine (for example, no GPU runtime).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlrelease.findings import Finding


@dataclass(frozen=True)
class Problem:
    """One located problem: what is wrong, where (file, line, key), and how to fix it."""

    message: str
    file: str | None = None
    line: int | None = None
    key: str | None = None
    hint: str | None = None

    def render(self) -> str:
        where = self.file or ""
        if self.line is not None:
            where = f"{where}:{self.line}" if where else f"line {self.line}"
        parts = [f"{where}: " if where else ""]
        if self.key:
            parts.append(f"{self.key}: ")
        parts.append(self.message)
        if self.hint:
            parts.append(f" ({self.hint})")
        return "".join(parts)


class MlreleaseError(Exception):
    """Base of every error mlrelease reports to a user."""

    exit_code = 2
    title = "mlrelease failed"

    def __init__(self, message: str, *, problems: list[Problem] | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.problems: list[Problem] = list(problems or [])
        self.hint = hint

    def render(self) -> str:
        lines = [self.message]
        lines += [f"  - {p.render()}" for p in self.problems]
        if self.hint:
            lines.append(f"  fix: {self.hint}")
        return "\n".join(lines)


class UsageError(MlreleaseError):
    """Bad input: a file that is missing or malformed, an option that makes no sense."""

    title = "bad input"


class ConfigError(UsageError):
    """mlrelease.yaml does not match the schema or names files that do not exist."""

    title = "invalid mlrelease.yaml"


class ModelLoadError(UsageError):
    """The model file cannot be loaded safely (unknown format, untrusted types, hash mismatch)."""

    title = "cannot load model"


class DataError(UsageError):
    """A data file is unreadable or does not match the model's inputs."""

    title = "bad data"


class ArtifactError(DataError):
    """A file another step wrote (metrics.json, signature.json, image.json, ...) is missing,
    unreadable, malformed, or of a schema version this mlrelease does not read (exit 2)."""

    title = "bad artifact"


class UnreadableInputs(UsageError):
    """Some inputs of a check could not be read (exit 2); the others were still checked.
    Each is reported on a line of its own, naming the file and the problem."""

    title = "unreadable input"

    def __init__(self, lines: list[str], *, title: str | None = None):
        super().__init__(
            f"{len(lines)} input(s) could not be read", problems=[Problem(line) for line in lines]
        )
        self.lines = list(lines)
        if title:
            self.title = title


class CheckFailed(MlreleaseError):
    """A check ran to the end and its verdict is 'fail' (exit 1)."""

    exit_code = 1
    title = "check failed"


class FindingsFailed(CheckFailed):
    """A check's findings reach its fail-on severity (exit 1). The findings were already shown
    and annotated by ``mlrelease.findings``; ``message``, when not empty, is one more line."""

    def __init__(
        self, message: str, *, findings: Sequence[Finding] | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.findings = list(findings or [])


class EnvironmentUnavailable(MlreleaseError):
    """What the check needs is not on this machine (exit 3), for example a GPU runtime."""

    exit_code = 3
    title = "not available here"


@dataclass
class ProblemList:
    """Collects problems so that a user sees all of them at once, not the first alone."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, message: str, **where: object) -> None:
        self.problems.append(Problem(message, **where))  # type: ignore[arg-type]

    def __bool__(self) -> bool:
        return bool(self.problems)
