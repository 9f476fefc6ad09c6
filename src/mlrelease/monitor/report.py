"""``drift.json``, ``drift.md`` and ``drift.html``: one reader and one writer each.

``drift.json`` follows ``schemas/drift.schema.json`` (``schema_version`` 1). The HTML report is
one offline file: the summary table first, then a plot per drifted column (reference against
current, histogram and ECDF, drawn with matplotlib and embedded as base64 PNG), then the slices
and the worst outlier rows.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mlrelease import github
from mlrelease.artifacts import write_json, write_text
from mlrelease.errors import DataError
from mlrelease.monitor.analyse import SCHEMA_VERSION, DriftReport
from mlrelease.monitor.drift import ColumnDrift

ICON = {"ok": "✅", "warn": "⚠️", "alert": "🚨", "insufficient": "➖"}


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)


def read(path: Path) -> dict[str, Any]:
    """Read and validate a ``drift.json``."""
    import jsonschema

    try:
        data: dict[str, Any] = json.loads(Path(path).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read drift.json: {exc}") from None
    schema = json.loads(schema_path().read_text("utf-8"))
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        where = ".".join(str(p) for p in e.path) or "(top)"
        raise DataError(f"{path}: {where}: {e.message}")
    if data["schema_version"] != SCHEMA_VERSION:
        raise DataError(
            f"{path}: schema_version {data['schema_version']}, this mlrelease reads {SCHEMA_VERSION}"
        )
    return data


def schema_path() -> Path:
    from importlib import resources

    return Path(str(resources.files("mlrelease.schema").joinpath("drift.schema.json")))


def write_all(result: DriftReport, out_dir: Path, *, model: str | None = None) -> dict[str, Path]:
    """drift.json, drift.md, drift.html; with the model's name, also drift-event.jsonl, the
    line that feeds the drift alert policy (``monitor.alerts``)."""
    from mlrelease.monitor.alerts import drift_event

    paths = {"json": out_dir / "drift.json", "markdown": out_dir / "drift.md", "html": out_dir / "drift.html"}
    write_json(paths["json"], result.to_dict())
    write_text(paths["markdown"], markdown(result))
    write_text(paths["html"], render_html(result))
    if model:
        paths["event"] = out_dir / "drift-event.jsonl"
        event = drift_event(model, result.verdict, [c.name for c in result.drifted], result.created)
        write_text(paths["event"], json.dumps(event, ensure_ascii=False, sort_keys=True) + "\n")
    return paths


def publish(result: DriftReport, out_dir: Path | None) -> None:
    """Job summary, step outputs and annotations inside GitHub Actions (no-ops elsewhere)."""
    github.add_summary(markdown(result))
    github.set_output("verdict", result.verdict)
    github.set_output("drifted", ",".join(c.name for c in result.drifted))
    if out_dir is not None:
        github.set_output("report", str(out_dir / "drift.html"))
        github.set_output("json", str(out_dir / "drift.json"))
    for c in result.overall.columns:
        if c.verdict in ("warn", "alert"):
            level: Literal["error", "warning"] = "error" if c.verdict == "alert" else "warning"
            github.annotate(level, f"{c.name}: {c.reason}", title=f"monitor: {c.name} drifted")
    if result.outliers and result.outliers.verdict in ("warn", "alert"):
        level = "error" if result.outliers.verdict == "alert" else "warning"
        github.annotate(level, result.outliers.reason, title="monitor: outlier rate")
    for sl in result.slices:
        if sl.verdict in ("warn", "alert"):
            level = "error" if sl.verdict == "alert" else "warning"
            github.annotate(level, f"slice {sl.name}: {sl.reason}", title=f"monitor: slice {sl.name}")


def open_issue(
    result: DriftReport,
    label: str,
    env: dict[str, str] | None = None,
    *,
    body_file: Path | None = None,
    api_url: str | None = None,
) -> tuple[str, int] | None:
    """Open or update the one issue for this alert; the body is the Markdown summary and a link to
    the run. With ``body_file``, the title and body are written there first (``issue.md``).

    None when nothing answers at the API's address (a runner without network, a wrong
    ``GITHUB_API_URL``): the alert still fails the run, and the issue is in ``body_file``.
    """
    import os

    from mlrelease.errors import UsageError

    environ = env if env is not None else dict(os.environ)
    token, repo = environ.get("GITHUB_TOKEN"), environ.get("GITHUB_REPOSITORY")
    body = markdown(result)
    run_id = environ.get("GITHUB_RUN_ID")
    if run_id and repo:
        server = environ.get("GITHUB_SERVER_URL", "https://github.com")
        body += f"\nRun: {server}/{repo}/actions/runs/{run_id}\n"
    drifted = ", ".join(c.name for c in result.drifted) or "outliers or slices"
    title = f"Drift alert: {drifted}"
    if body_file is not None:
        write_text(body_file, f"<!-- title: {title} -->\n{body}")
    if not token or not repo:
        raise UsageError(
            "--issue-label needs GITHUB_TOKEN and GITHUB_REPOSITORY in the environment",
            hint="pass the workflow's token as env GITHUB_TOKEN with permissions issues: write",
        )
    client = github.GitHubClient(token, api_url=api_url, env=environ)
    try:
        return client.upsert_issue(repo, title, body, label=label)
    except github.GitHubAPIError as exc:
        if exc.status == 0:  # nothing answered: the alert still fails the run
            where = f"; the issue is in {body_file}" if body_file is not None else ""
            github.annotate(
                "warning", f"cannot reach {client.api_url} ({exc}){where}", title="monitor: no issue"
            )
            return None
        raise UsageError(f"cannot open the drift issue: {exc}") from None


# ----------------------------------------------------------------------------- Markdown


def _num(v: float | None, fmt: str = ".3f") -> str:
    return "" if v is None else format(v, fmt)


def _p(v: float | None) -> str:
    if v is None:
        return ""
    return "< 1e-300" if v == 0 else f"{v:.2g}"


def _label(c: ColumnDrift) -> str:
    return f"{c.name} (model output)" if c.role == "prediction" else c.name


def _headline(result: DriftReport) -> str:
    drifted = [f"{c.name} ({c.verdict})" for c in result.drifted]
    parts = [f"{ICON[result.verdict]} **{result.verdict}**"]
    parts.append(
        f"{len(drifted)} of {len(result.overall.columns)} columns drifted"
        + (f": {', '.join(drifted)}" if drifted else "")
    )
    if result.outliers:
        parts.append(f"outliers {result.outliers.rate:.2%} ({result.outliers.verdict})")
    bad = [sl.name for sl in result.slices if sl.verdict in ("warn", "alert")]
    if bad:
        parts.append(f"slices: {', '.join(bad)}")
    return "; ".join(parts)


def reason(result: DriftReport) -> str:
    """The verdict in one plain line (no Markdown), for a registry event or an error message."""
    drifted = [f"{c.name} ({c.verdict})" for c in result.drifted]
    parts = [f"drift {result.verdict}: {len(drifted)} of {len(result.overall.columns)} columns drifted"]
    parts[0] += f": {', '.join(drifted)}" if drifted else ""
    if result.outliers and result.outliers.verdict in ("warn", "alert"):
        parts.append(f"outliers {result.outliers.rate:.2%} ({result.outliers.verdict})")
    bad = [sl.name for sl in result.slices if sl.verdict in ("warn", "alert")]
    if bad:
        parts.append(f"slices: {', '.join(bad)}")
    return "; ".join(parts)


def _column_rows(columns: list[ColumnDrift]) -> list[str]:
    rows = [
        "| column | verdict | PSI | KS | Wasserstein (sd) | chi-square | p (corrected)"
        " | missing ref → cur | rows ref / cur |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for c in columns:
        name = _label(c)
        rows.append(
            f"| {name} | {ICON[c.verdict]} {c.verdict} | {_num(c.psi)} | {_num(c.ks_statistic)} |"
            f" {_num(c.wasserstein_relative, '.2f')} | {_num(c.chi2, '.1f')} | {_p(c.pvalue_adjusted)} |"
            f" {c.missing_reference:.1%} → {c.missing_current:.1%} | {c.n_reference} / {c.n_current} |"
        )
    return rows


def markdown(result: DriftReport) -> str:
    lines = ["## mlrelease monitor", "", _headline(result), ""]
    lines.append(
        f"Reference `{result.reference['source']}` ({result.reference['rows']} rows) against current"
        f" `{result.current['source']}` ({result.current['rows']} rows)."
    )
    lines += ["", *_column_rows(result.overall.columns), ""]
    for c in result.overall.columns:
        if c.unseen:
            names = ", ".join(f"`{k}` ({v})" for k, v in c.unseen.items())
            lines.append(f"- {c.name}: unseen categories {names}")
    if result.outliers:
        o = result.outliers
        lines += ["", f"### Outliers: {ICON[o.verdict]} {o.reason}", ""]
        if o.worst:
            lines += ["| row | time | flags | prediction |", "| ---: | --- | --- | ---: |"]
            for w in o.worst:
                lines.append(
                    f"| {w['row']} | {w['time'] or ''} | {', '.join(w['flags'])} | {w['prediction']} |"
                )
    if result.slices:
        lines += [
            "",
            "### Slices",
            "",
            "| slice | verdict | share ref → cur | rows ref / cur | why |",
            "| --- | --- | --- | --- | --- |",
        ]
        for sl in result.slices:
            lines.append(
                f"| {sl.name} | {ICON[sl.verdict]} {sl.verdict}"
                f" | {sl.share_reference:.1%} → {sl.share_current:.1%} |"
                f" {sl.drift.rows_reference} / {sl.drift.rows_current} | {sl.reason} |"
            )
    if result.quality:
        lines += [
            "",
            "Quality on labelled rows: " + ", ".join(f"{k} {v:.4g}" for k, v in result.quality.items()),
        ]
    s = result.settings
    lines += [
        "",
        f"Thresholds: PSI warn {s.default.psi_warn} / alert {s.default.psi_alert}; Wasserstein warn"
        f" {s.default.wasserstein_warn} / alert {s.default.wasserstein_alert} reference sd; p < {s.alpha}"
        f" after {s.correction} correction; at least {s.default.min_samples} values per column.",
    ]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- HTML

CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:72rem;color:#222}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}
tr.alert td{background:#fde2e1} tr.warn td{background:#fff4d6}
.headline{font-size:1.1rem;padding:.6rem;border-left:.4rem solid #888;background:#f6f6f6}
.alert .headline,.headline.alert{border-color:#c0392b} .headline.warn{border-color:#e0a800}
.headline.ok{border-color:#2e8b57} figure{margin:1rem 0} figcaption{font-size:.9rem;color:#555}
"""


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def _table(header: list[str], rows: Sequence[tuple[str, list[str]]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        f'<tr class="{cls}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>" for cls, cells in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _columns_table(columns: list[ColumnDrift]) -> str:
    rows = []
    for c in columns:
        name = _label(c)
        rows.append(
            (
                c.verdict,
                [
                    _e(name),
                    _e(f"{ICON[c.verdict]} {c.verdict}"),
                    _num(c.psi),
                    _num(c.ks_statistic),
                    _num(c.wasserstein_relative, ".2f"),
                    _num(c.chi2, ".1f"),
                    _e(_p(c.pvalue_adjusted)),
                    f"{c.missing_reference:.1%} → {c.missing_current:.1%}",
                    f"{c.n_reference} / {c.n_current}",
                    _e(c.reason),
                ],
            )
        )
    return _table(
        [
            "column",
            "verdict",
            "PSI",
            "KS",
            "Wasserstein (sd)",
            "chi-square",
            "p (corrected)",
            "missing",
            "rows ref / cur",
            "why",
        ],
        rows,
    )


def histogram_bins(ref_q: np.ndarray, cur_q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bin edges for the two samples' quantile points, and the points to count in them.

    Whole numbers (ages, counts) get one bin per number: their quantile points are whole but
    where they interpolate across a jump, and 40 equal bins over ages 18 to 85 drew every other
    bar half as high. Anything else gets 40 equal bins over both samples' range.
    """
    lo = float(min(ref_q[0], cur_q[0]))
    hi = float(max(ref_q[-1], cur_q[-1]))
    if hi <= lo:
        return np.array([lo - 0.5, lo + 0.5]), ref_q, cur_q
    whole = min(float(np.mean(q == np.round(q))) for q in (ref_q, cur_q)) > 0.8
    if whole and hi - lo <= 100:
        return np.arange(round(lo) - 0.5, round(hi) + 1.0), np.round(ref_q), np.round(cur_q)
    return np.linspace(lo, hi, 41), ref_q, cur_q


def plot_png(c: ColumnDrift) -> bytes | None:
    """Reference against current for one column, as PNG bytes (None without plot data)."""
    if c.plot is None:
        return None
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.2), dpi=96, layout="constrained")
    kind = c.plot[0]
    if kind == "numeric":
        _, ref_q, cur_q = c.plot
        left, right = fig.subplots(1, 2)
        edges, hist_ref, hist_cur = histogram_bins(ref_q, cur_q)
        # the quantile points stand for equal shares of each sample, so their histogram is the sample's
        left.hist(hist_ref, bins=edges, density=True, alpha=0.55, label="reference", color="#1f77b4")
        left.hist(hist_cur, bins=edges, density=True, alpha=0.55, label="current", color="#d62728")
        left.set_title(f"{c.name}: distribution" + (f" (PSI {c.psi:.3f})" if c.psi is not None else ""))
        left.legend()
        q = np.linspace(0, 1, len(ref_q))
        right.step(ref_q, q, where="post", label="reference", color="#1f77b4")
        right.step(cur_q, q, where="post", label="current", color="#d62728")
        right.set_title(f"ECDF (KS {c.ks_statistic:.3f})")
        right.set_ylim(0, 1)
        right.legend(loc="lower right")
    else:
        _, cats, rc, cc = c.plot
        shown = list(range(min(len(cats), 20)))
        ax = fig.subplots()
        x = np.arange(len(shown))
        rt, ct = max(sum(rc), 1), max(sum(cc), 1)
        ax.bar(x - 0.2, [rc[i] / rt for i in shown], 0.4, label="reference", color="#1f77b4")
        ax.bar(x + 0.2, [cc[i] / ct for i in shown], 0.4, label="current", color="#d62728")
        ax.set_xticks(x, [str(cats[i]) for i in shown], rotation=30, ha="right")
        ax.set_ylabel("share")
        ax.set_title(f"{c.name}: share per category (PSI {c.psi:.3f})")
        ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _figure(c: ColumnDrift) -> str:
    try:
        png = plot_png(c)
    except ImportError:
        return f"<p>{_e(c.name)}: install matplotlib to draw the plot.</p>"
    if png is None:
        return ""
    data = base64.b64encode(png).decode()
    return (
        f'<figure><img alt="{_e(c.name)}: reference against current" src="data:image/png;base64,{data}">'
        f"<figcaption>{_e(c.name)}: {_e(c.reason)}</figcaption></figure>"
    )


def render_html(result: DriftReport) -> str:
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>mlrelease monitor: {_e(result.verdict)}</title><style>{CSS}</style></head><body>",
        "<h1>mlrelease monitor</h1>",
        f'<p class="headline {_e(result.verdict)}">{_e(_headline(result).replace("**", ""))}</p>',
        f"<p>Reference <code>{_e(result.reference['source'])}</code> ({result.reference['rows']} rows)"
        " against"
        f" current <code>{_e(result.current['source'])}</code> ({result.current['rows']} rows).</p>",
        "<h2>Summary</h2>",
        _columns_table(result.overall.columns),
    ]
    unseen = [c for c in result.overall.columns if c.unseen]
    for c in unseen:
        names = ", ".join(f"{k} ({v})" for k, v in c.unseen.items())
        parts.append(f"<p>{_e(c.name)}: unseen categories {_e(names)}</p>")
    if result.drifted:
        parts.append("<h2>Drifted columns</h2>")
        parts += [_figure(c) for c in result.drifted]
    if result.slices:
        parts.append("<h2>Slices</h2>")
        rows = []
        for sl in result.slices:
            q = ", ".join(f"{k} {v:.4g}" for k, v in (sl.quality or {}).items())
            rows.append(
                (
                    sl.verdict,
                    [
                        _e(sl.name),
                        _e(f"{ICON[sl.verdict]} {sl.verdict}"),
                        f"{sl.share_reference:.1%} → {sl.share_current:.1%}",
                        f"{sl.drift.rows_reference} / {sl.drift.rows_current}",
                        _e(", ".join(c.name for c in sl.drift.drifted)),
                        _e(q),
                        _e(sl.reason),
                    ],
                )
            )
        parts.append(
            _table(
                ["slice", "verdict", "share ref → cur", "rows ref / cur", "drifted", "quality", "why"], rows
            )
        )
    if result.outliers:
        o = result.outliers
        parts.append(f"<h2>Outliers</h2><p>{_e(o.reason)}</p>")
        if o.worst:
            worst = [
                (
                    "",
                    [
                        str(w["row"]),
                        _e(w["time"]),
                        _e(", ".join(w["flags"])),
                        _e(w["prediction"]),
                        _e(json.dumps(w["input"])),
                    ],
                )
                for w in o.worst
            ]
            parts.append(_table(["row", "time", "flags", "prediction", "input"], worst))
    if result.quality:
        parts.append(
            "<h2>Quality</h2><p>" + _e(", ".join(f"{k} {v:.4g}" for k, v in result.quality.items())) + "</p>"
        )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
