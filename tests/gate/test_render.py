# ruff: noqa: E501 - the expected lines are exactly as wide as the rendered output
"""The gate's Markdown (job summary, PR comment) and terminal table, character for character, for
a decision with every verdict, a trade-off, a note, a reported metric and a slice whose name holds
the characters Markdown tables break on."""

from __future__ import annotations

import re

import pytest
from gate_builders import report, side

from mlrelease.config import GateConfig, MetricRule, SliceConfig, Tolerance, TradeOff
from mlrelease.gate import decide
from mlrelease.gate.report import markdown, print_table


def decision():
    RMSE = "root_mean_squared_error"
    g = GateConfig(
        metrics={
            RMSE: MetricRule(max_regression=Tolerance.parse("25%")),
            "p95_cpu_ms": MetricRule(max=12.0),
            "p50_cpu_ms": MetricRule(max=1.0),
            "r2_score": MetricRule(),
            "roc_auc_score": MetricRule(min=0.5, optional=True),
        },
        trade_offs=(
            TradeOff(allow={RMSE: Tolerance.parse("50%")}, when={"p95_cpu_ms": Tolerance.parse("-25%")}),
        ),
    )
    slices = (SliceConfig(name="a|b\nc", column="x", max_regression=Tolerance.parse("5%")),)
    base = report(
        {RMSE: 8.0, "r2_score": 0.5, "mean_absolute_error": 4.0},
        cost={"p95_cpu_ms": 16.0, "p50_cpu_ms": 1.0},
        slices={"a|b\nc": {RMSE: 8.0}},
    )
    cand = report(
        {RMSE: 11.0, "r2_score": 0.5, "mean_absolute_error": 3.0},
        cost={"p95_cpu_ms": 11.0, "p50_cpu_ms": 1.25},
        noise={"p50_cpu_ms": 0.2},
        slices={"a|b\nc": {RMSE: 9.0}},
    )
    return decide(g, slices, side(cand), side(base))


MARKDOWN = [
    "**❌ FAIL: 1 of 4 checks block m aaaaaaaaaaaa against baseline aaaaaaaaaaaa: root_mean_squared_error on slice a|b",
    "c: 12.5% worse, beyond the allowed 5%**",
    "",
    "| metric | baseline | candidate | change | rule | verdict |",
    "| --- | ---: | ---: | ---: | --- | --- |",
    "| root_mean_squared_error | 8 | 11 | +3 (+37.5%) | ≤ 50% worse (trade-off) | ✅ pass: 37.5% worse, within the allowed 50% |",
    "| p95_cpu_ms | 16 | 11 | -5 (-31.2%) | ≤ 12 | ✅ pass: 11 is at or below the ceiling 12 |",
    "| p50_cpu_ms | 1 | 1.25 | +0.25 (+25.0%) | ≤ 1 | ⚠️ within noise: 1.25 is above the ceiling 1, within its noise ±0.25 |",
    "| r2_score | 0.5 | 0.5 | +0 (+0.0%) | reported | ℹ️ reported: reported, not gated |",
    "| roc_auc_score | — | — | — | ≥ 0.5; optional | ➖ skipped: roc_auc_score is missing from the candidate's metrics; optional, not checked |",
    "| root_mean_squared_error · slice `a\\|b c` | 8 | 9 | +1 (+12.5%) | ≤ 5% worse | ❌ fail: 12.5% worse, beyond the allowed 5% |",
    "",
    "**Trade-offs applied**",
    "",
    "- root_mean_squared_error may be up to 50% worse because p95_cpu_ms changed -31.2% (needed ≤ -25%)",
    "",
    "**Notes**",
    "",
    "- The candidate has no predictions.parquet: no paired bootstrap.",
    "",
    "<details><summary>Other metrics (reported, not gated)</summary>",
    "",
    "| metric | baseline | candidate | change |",
    "| --- | ---: | ---: | ---: |",
    "| mean_absolute_error | 4 | 3 | -1 (-25.0%) |",
    "",
    "</details>",
    "",
]

TABLE = [
    "FAIL: 1 of 4 checks block m aaaaaaaaaaaa against baseline aaaaaaaaaaaa: root_mean_squared_error on slice a|b",
    "c: 12.5% worse, beyond the allowed 5%",
    "┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━┳━━━━━━━━━━━┳━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━┓",
    "┃ metric                              ┃ baseline ┃ candidate ┃         change ┃ rule                    ┃ verdict ┃",
    "┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━╇━━━━━━━━━━━╇━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━┩",
    "│ root_mean_squared_error             │        8 │        11 │    +3 (+37.5%) │ ≤ 50% worse (trade-off) │ pass    │",
    "│ p95_cpu_ms                          │       16 │        11 │    -5 (-31.2%) │ ≤ 12                    │ pass    │",
    "│ p50_cpu_ms                          │        1 │      1.25 │ +0.25 (+25.0%) │ ≤ 1                     │ noise   │",
    "│ r2_score                            │      0.5 │       0.5 │     +0 (+0.0%) │ reported                │ info    │",
    "│ roc_auc_score                       │        — │         — │              — │ ≥ 0.5; optional         │ skip    │",
    "│ root_mean_squared_error · slice a|b │        8 │         9 │    +1 (+12.5%) │ ≤ 5% worse              │ fail    │",
    "│ c                                   │          │           │                │                         │         │",
    "└─────────────────────────────────────┴──────────┴───────────┴────────────────┴─────────────────────────┴─────────┘",
    "noise p50_cpu_ms: 1.25 is above the ceiling 1, within its noise ±0.25",
    "skip roc_auc_score: roc_auc_score is missing from the candidate's metrics; optional, not checked",
    "fail root_mean_squared_error · slice `a|b",
    "c`: 12.5% worse, beyond the allowed 5%",
    "trade-off: root_mean_squared_error may be up to 50% worse because p95_cpu_ms changed -31.2% (needed ≤ -25%)",
    "note: The candidate has no predictions.parquet: no paired bootstrap.",
]


def test_markdown_is_exactly_as_a_reviewer_reads_it():
    assert markdown(decision()).split("\n") == MARKDOWN


def test_terminal_table_is_exactly_as_printed_in_a_log(capsys: pytest.CaptureFixture[str], monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)  # not a terminal: 160 columns, no colour
    print_table(decision())
    assert [line.rstrip() for line in capsys.readouterr().out.rstrip("\n").split("\n")] == TABLE


def test_on_a_narrow_colour_terminal_metrics_stay_whole_and_free_text_is_plain(
    capsys: pytest.CaptureFixture[str], monkeypatch
):
    """A terminal of 90 columns: the other columns wrap so that the metric's name stays on one line;
    the verdict words are coloured, the trade-off and note lines are printed as written."""
    monkeypatch.setenv("COLUMNS", "90")
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("NO_COLOR", raising=False)
    print_table(decision())
    out = capsys.readouterr().out
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out).split("\n")
    assert max(len(line) for line in plain) <= 90
    assert any("│ root_mean_squared_error · slice a|b │" in line for line in plain)
    assert "\x1b[1;31mfail\x1b[0m" in out  # the verdict words are coloured
    tail = out[out.index("trade-off:") :]  # the trade-off and the note, wrapped at 90 columns
    assert "\x1b[" not in tail
    assert " ".join(tail.split()) == (
        "trade-off: root_mean_squared_error may be up to 50% worse because p95_cpu_ms changed -31.2% "
        "(needed ≤ -25%) note: The candidate has no predictions.parquet: no paired bootstrap."
    )
