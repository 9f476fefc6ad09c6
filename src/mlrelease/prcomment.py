"""The sticky pull-request comment: one Markdown body for the whole PR check.

``load_reports`` reads the files the steps wrote (gate.json, lint.json, the lock check's JSON and
the image test's JSON, each optional) into typed rows; ``render`` turns them into the body, whose
first line is the hidden ``MARKER`` that ``github.upsert_comment`` finds the comment by. The files
come from a pull request's run, so they are read as data only, each through its artifact's one
reader (``mlrelease.artifacts``): a malformed one is an ``ArtifactError`` naming the file and the
field, and every value reaches the Markdown escaped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from mlrelease.errors import UsageError
from mlrelease.gate import change_text
from mlrelease.gate import fmt as _num
from mlrelease.gate.bootstrap import Interval

if TYPE_CHECKING:
    from mlrelease.github import GitHubClient

MARKER = "<!-- mlrelease:pr-check -->"
SEVERITIES = ("error", "warning", "info")
MAX_FINDINGS = 20  # per severity; the job summary and lint.json hold the rest

Verdict = Literal["pass", "fail", "noise", "skip", "info"]
ICONS: dict[str, str] = {"pass": "✅", "fail": "❌", "noise": "⚠️", "skip": "➖", "info": "ℹ️"}


@dataclass(frozen=True)
class GateRow:
    metric: str
    scope: str
    baseline: float | None
    candidate: float | None
    change: float | None
    relative_change: float | None
    interval: tuple[float, float, float] | None  # low, high, confidence
    rule: str
    verdict: Verdict
    reason: str


@dataclass(frozen=True)
class Gate:
    verdict: Literal["pass", "fail"]
    headline: str
    rows: list[GateRow]
    notes: list[str]
    trade_offs: list[str]


@dataclass(frozen=True)
class LintFinding:
    severity: str
    rule: str
    name: str
    path: str
    cell: int | None
    line: int | None
    message: str


@dataclass(frozen=True)
class Lint:
    failed: bool
    fail_on: str
    counts: dict[str, int]
    findings: list[LintFinding]


@dataclass(frozen=True)
class LockStatus:
    path: str
    status: str
    message: str
    diff: list[str]


@dataclass(frozen=True)
class ImageCheck:
    ok: bool
    reference: str
    rows: int
    rows_differing: int
    packages_differing: int


@dataclass(frozen=True)
class Reports:
    gate: Gate | None = None
    lint: Lint | None = None
    locks: list[LockStatus] | None = None
    image: ImageCheck | None = None
    links: dict[str, str] = field(default_factory=dict)  # title -> URL

    @property
    def blocked_by(self) -> list[str]:
        """What blocks the pull request, one short phrase per step that failed."""
        reasons = []
        if self.lint is not None and self.lint.failed:
            reasons.append(f"notebook lint ({self.lint.counts.get('error', 0)} errors)")
        if self.locks is not None:
            bad = [lk.path for lk in self.locks if lk.status != "fresh"]
            if bad:
                reasons.append(f"lock not fresh ({', '.join(bad)})")
        if self.gate is not None and self.gate.verdict == "fail":
            failed = sorted({r.metric for r in self.gate.rows if r.verdict == "fail"})
            reasons.append(f"gate ({', '.join(failed) or 'blocked'})")
        if self.image is not None and not self.image.ok:
            reasons.append("image does not reproduce the golden predictions")
        return reasons


# ------------------------------------------------------------------------------------ reading


def _interval_of(interval: Interval | None) -> tuple[float, float, float] | None:
    return None if interval is None else (interval.low, interval.high, interval.confidence)


def read_gate(path: Path) -> Gate:
    """gate.json through its one typed reader (a bad or too-new file is an ArtifactError, exit 2)."""
    from mlrelease.gate import GateResult

    result = GateResult.read(path)
    return Gate(
        verdict=result.verdict,
        headline=result.headline,
        rows=[
            GateRow(
                metric=c.metric,
                scope=c.scope,
                baseline=c.baseline,
                candidate=c.candidate,
                change=c.change,
                relative_change=c.relative_change,
                interval=_interval_of(c.interval),
                rule=c.rule,
                verdict=c.verdict,
                reason=c.reason,
            )
            for c in result.checks
        ],
        notes=list(result.notes),
        trade_offs=list(result.trade_offs),
    )


def read_lint(path: Path) -> Lint:
    """lint.json through its one typed reader (a bad or too-new file is an ArtifactError, exit 2)."""
    from mlrelease.notebooks.lint import LintReport

    report = LintReport.read(path)
    return Lint(
        failed=report.failed,
        fail_on=report.fail_on,
        counts=report.counts(),
        findings=[
            LintFinding(
                severity=str(f.severity),
                rule=f.rule,
                name=f.name or "",
                path=f.location.file or "",
                cell=f.location.cell,
                line=f.location.line,
                message=f.message,
            )
            for f in report.findings
        ],
    )


def read_locks(path: Path) -> list[LockStatus]:
    """What `lock --check --json` printed, through its one typed reader."""
    from mlrelease.deps.lock import LockCheckReport

    return [
        LockStatus(path=lk.path.name, status=lk.status, message=lk.message, diff=list(lk.diff))
        for lk in LockCheckReport.read(path).locks
    ]


def read_image(path: Path) -> ImageCheck:
    """What `test-image --json` printed, through its one typed reader."""
    from mlrelease.image.verify import ImageTestResult

    result = ImageTestResult.read(path)
    return ImageCheck(
        ok=result.ok,
        reference=result.reference,
        rows=result.rows,
        rows_differing=len(result.row_diffs),
        packages_differing=len(result.package_diffs),
    )


def load_reports(
    *,
    gate: Path | None = None,
    lint: Path | None = None,
    lock: Path | None = None,
    image: Path | None = None,
    links: dict[str, str] | None = None,
) -> Reports:
    """Read the reports that were given; a gate given as a folder means its gate.json."""
    if gate is None and lint is None and lock is None and image is None:
        raise UsageError("nothing to report", hint="pass at least one of --gate, --lint, --lock, --image")
    if gate is not None and gate.is_dir():
        gate = gate / "gate.json"
    return Reports(
        gate=read_gate(gate) if gate is not None else None,
        lint=read_lint(lint) if lint is not None else None,
        locks=read_locks(lock) if lock is not None else None,
        image=read_image(image) if image is not None else None,
        links=dict(links or {}),
    )


# ------------------------------------------------------------------- the check run's artifact

# pr-check.yml uploads its reports for pr-comment.yml as one artifact with this layout.
ARTIFACT = "mlrelease-pr-comment"
ARTIFACT_REPORTS: dict[str, str] = {
    "lint": "mlrelease-lint/mlrelease-lint.json",
    "lock": "mlrelease-deps/mlrelease-lock.json",
    "gate": "mlrelease-evaluate/mlrelease-gate/gate.json",
    "image": "mlrelease-image/image-test.json",
}
ARTIFACT_PR_NUMBER = "mlrelease-comment/pr-number"
MAX_REPORT_BYTES = 16 << 20


@dataclass(frozen=True)
class RunReports:
    """The reports found in a check run's artifact, as files on disk, and the PR it checked."""

    pr: int
    gate: Path | None = None
    lint: Path | None = None
    lock: Path | None = None
    image: Path | None = None


def unpack_run_reports(archive: bytes, dest: Path, *, what: str = ARTIFACT) -> RunReports:
    """Take the known reports and the PR number out of the artifact's zip ``archive`` into ``dest``.

    The archive comes from a pull request's run: only the paths of ``ARTIFACT_REPORTS`` and
    ``ARTIFACT_PR_NUMBER`` are read (nothing else is extracted, so no entry's name picks a path
    here), a symbolic link or a member over ``MAX_REPORT_BYTES`` is refused, and the PR number must
    be a plain positive integer.
    """
    import io
    import stat
    import zipfile

    from mlrelease.artifacts import write_bytes

    def member(archive_zip: zipfile.ZipFile, name: str) -> bytes | None:
        try:
            info = archive_zip.getinfo(name)
        except KeyError:
            return None
        if stat.S_ISLNK(info.external_attr >> 16):
            raise UsageError(f"artifact {what}: {name} is a symbolic link; refused")
        if info.file_size > MAX_REPORT_BYTES:
            raise UsageError(f"artifact {what}: {name} is larger than {MAX_REPORT_BYTES} bytes; refused")
        with archive_zip.open(info) as fh:
            data = fh.read(MAX_REPORT_BYTES + 1)
        if len(data) > MAX_REPORT_BYTES:
            raise UsageError(f"artifact {what}: {name} is larger than {MAX_REPORT_BYTES} bytes; refused")
        return data

    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as archive_zip:
            number = member(archive_zip, ARTIFACT_PR_NUMBER)
            found: dict[str, Path] = {}
            for kind, name in ARTIFACT_REPORTS.items():
                data = member(archive_zip, name)
                if data is not None:
                    write_bytes(dest / name, data)
                    found[kind] = dest / name
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError) as exc:
        raise UsageError(f"artifact {what}: not a readable zip archive ({exc})") from None
    text = (number or b"").decode("ascii", "replace").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 12 or int(text) < 1:
        raise UsageError(
            f"artifact {what}: the artifact's PR number is not a number ({ARTIFACT_PR_NUMBER})",
            hint="the reports must come from a pull_request run of pr-check.yml",
        )
    if not found:
        raise UsageError(f"artifact {what}: holds none of {', '.join(ARTIFACT_REPORTS.values())}")
    return RunReports(
        pr=int(text),
        gate=found.get("gate"),
        lint=found.get("lint"),
        lock=found.get("lock"),
        image=found.get("image"),
    )


def fetch_run_reports(client: GitHubClient, repo: str, run_id: int, name: str, dest: Path) -> RunReports:
    """Download workflow run ``run_id``'s artifact ``name`` and unpack its reports into ``dest``."""
    from mlrelease.errors import EnvironmentUnavailable
    from mlrelease.github import GitHubAPIError

    try:
        archive = client.download_artifact(repo, run_id, name)
    except GitHubAPIError as exc:
        if exc.status == 0:
            raise EnvironmentUnavailable(f"downloading the reports failed: {exc}") from None
        hint = "the workflow needs `actions: read` to download the PR check's artifact"
        raise UsageError(f"downloading the reports failed: {exc}", hint=hint) from None
    return unpack_run_reports(archive, dest, what=name)


# ---------------------------------------------------------------------------------- rendering


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell: no pipes, no line breaks, no HTML."""
    return (
        text.replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\r", " ")
        .replace("\n", " ")
    )


def _change(row: GateRow) -> str:
    return change_text(row.change, row.relative_change)


def _interval(row: GateRow) -> str:
    if row.interval is None:
        return "—"
    low, high, confidence = row.interval
    return f"[{_num(low)}, {_num(high)}] at {confidence:.0%}"


def _gate_section(gate: Gate) -> list[str]:
    icon = "✅" if gate.verdict == "pass" else "❌"
    lines = [f"### {icon} Gate: {_cell(gate.headline)}", ""]
    lines += [
        "| metric | slice | baseline | candidate | change | interval of change | rule | verdict |",
        "| --- | --- | ---: | ---: | ---: | --- | --- | --- |",
    ]
    for row in gate.rows:
        lines.append(
            f"| {_cell(row.metric)} | {_cell(row.scope)} | {_num(row.baseline)} | {_num(row.candidate)} "
            f"| {_change(row)} | {_interval(row)} | {_cell(row.rule)} "
            f"| {ICONS[row.verdict]} {row.verdict}: {_cell(row.reason)} |"
        )
    if gate.trade_offs:
        lines += ["", "Trade-offs applied:"] + [f"- {_cell(t)}" for t in gate.trade_offs]
    if gate.notes:
        lines += ["", "Notes:"] + [f"- {_cell(n)}" for n in gate.notes]
    return lines


def _lint_section(lint: Lint) -> list[str]:
    icon = "❌" if lint.failed else "✅"
    counts = ", ".join(f"{lint.counts.get(s, 0)} {s}" for s in SEVERITIES)
    lines = [f"### {icon} Notebook lint: {counts} (fails on {_cell(lint.fail_on)})", ""]
    for severity in SEVERITIES:
        found = [f for f in lint.findings if f.severity == severity]
        if not found:
            continue
        opened = " open" if severity == "error" else ""
        lines += [f"<details{opened}><summary>{severity}: {len(found)}</summary>", ""]
        lines += ["| where | rule | message |", "| --- | --- | --- |"]
        for f in found[:MAX_FINDINGS]:
            where = f.path + (f" cell {f.cell}" if f.cell is not None else "")
            where += f" line {f.line}" if f.line is not None else ""
            rule = f"{f.rule} {f.name}".strip()
            lines.append(f"| {_cell(where)} | {_cell(rule)} | {_cell(f.message)} |")
        if len(found) > MAX_FINDINGS:
            lines.append(f"| … | | {len(found) - MAX_FINDINGS} more in lint.json |")
        lines += ["", "</details>", ""]
    return lines


def _lock_section(locks: list[LockStatus]) -> list[str]:
    fresh = all(lk.status == "fresh" for lk in locks)
    lines = [f"### {'✅' if fresh else '❌'} Lock", ""]
    for lk in locks:
        lines.append(f"- `{_cell(lk.path)}`: **{_cell(lk.status)}**: {_cell(lk.message)}")
        if lk.diff:
            lines += (
                ["", "  ```diff"] + [f"  {line.replace('```', '` ` `')}" for line in lk.diff[:20]] + ["  ```"]
            )
    return lines


def _image_section(image: ImageCheck) -> list[str]:
    if image.ok:
        text = f"all {image.rows} golden predictions reproduce, packages match the lock"
    else:
        text = (
            f"{image.rows_differing} of {image.rows} golden predictions differ, "
            f"{image.packages_differing} packages differ from the lock"
        )
    return [f"### {'✅' if image.ok else '❌'} Image `{_cell(image.reference)}`", "", text]


def render(reports: Reports) -> str:
    """The comment body: the marker, the verdict, then one section per report given."""
    blocked = reports.blocked_by
    lines = [MARKER]
    if blocked:
        lines += ["## ❌ mlrelease: BLOCKED", "", "Blocked by: " + "; ".join(_cell(b) for b in blocked) + "."]
    else:
        lines += ["## ✅ mlrelease: PASSED", "", "Every check that ran passed."]
    if reports.gate is not None:
        lines += ["", *_gate_section(reports.gate)]
    if reports.lint is not None:
        lines += ["", *_lint_section(reports.lint)]
    if reports.locks is not None:
        lines += ["", *_lock_section(reports.locks)]
    if reports.image is not None:
        lines += ["", *_image_section(reports.image)]
    if reports.links:
        links = " · ".join(f"[{_cell(title)}]({url})" for title, url in reports.links.items())
        lines += ["", "---", f"Details: {links}"]
    return "\n".join(lines).rstrip("\n") + "\n"
