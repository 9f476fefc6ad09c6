"""gate.json as the next steps see it: every field of a verdict survives the round trip, and the
findings a verdict reports are exactly its blocking checks (errors) and its checks within noise
(warnings), each keyed by metric and slice."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from gate_builders import report, side

from mlrelease.config import GateConfig
from mlrelease.findings import Location
from mlrelease.gate import Check, GateResult, decide
from mlrelease.gate.bootstrap import Interval


def check(metric: str, verdict: str, scope: str = "overall", **extra: object) -> Check:
    fields: dict[str, object] = {
        "metric": metric,
        "scope": scope,
        "better": "lower",
        "baseline": 8.0,
        "candidate": 10.0,
        "change": 2.0,
        "relative_change": 0.25,
        "rule": "max_regression 10%",
        "verdict": verdict,
        "reason": f"{metric} {verdict} on {scope}",
    }
    return Check(**{**fields, **extra})  # type: ignore[arg-type]


def result(**extra: object) -> GateResult:
    fields: dict[str, object] = {
        "verdict": "fail",
        "headline": "blocked: 1 rule failed",
        "checks": [
            check("root_mean_squared_error", "fail", interval=Interval(0.5, 1.5, 0.95, 2000)),
            check("root_mean_squared_error", "noise", scope="old-houses"),
            check("r2_score", "pass", better="higher", rule="min 0.8"),
            check("mean_absolute_error", "fail", scope="old-houses"),
            check("p95_cpu_ms", "skip"),
        ],
        "notes": ["a note"],
        "trade_offs": ["a trade-off"],
        "paired": True,
        "candidate": {"path": "candidate/metrics.json"},
        "baseline": {"path": "baseline/metrics.json"},
        "reported": [check("max_error", "info", rule="none")],
        "different_data": True,
    }
    return GateResult(**{**fields, **extra})  # type: ignore[arg-type]


@pytest.mark.parametrize("baseline", [{"path": "baseline/metrics.json"}, None])
def test_every_field_of_a_verdict_survives_gate_json(tmp_path: Path, baseline: dict[str, str] | None):
    original = result(baseline=baseline)
    original.write(tmp_path / "gate.json")
    assert GateResult.read(tmp_path / "gate.json") == original


def test_a_verdict_without_the_optional_fields_reads_with_their_defaults(tmp_path: Path):
    original = result(reported=[], different_data=False)
    original.write(tmp_path / "gate.json")
    text = (tmp_path / "gate.json").read_text()
    stripped = text.replace('"different_data": false,', "").replace('"reported": [],', "")
    assert "different_data" not in stripped and "reported" not in stripped
    (tmp_path / "gate.json").write_text(stripped)
    assert GateResult.read(tmp_path / "gate.json") == original


def test_failed_lists_only_the_blocking_checks():
    assert [(c.metric, c.scope) for c in result().failed] == [
        ("root_mean_squared_error", "overall"),
        ("mean_absolute_error", "old-houses"),
    ]


def test_findings_are_the_blocking_checks_as_errors_and_the_noisy_ones_as_warnings():
    found = result().findings()
    assert [(f.rule, f.severity, f.location, f.message) for f in found] == [
        (
            "blocked",
            "error",
            Location(key="root_mean_squared_error"),
            "root_mean_squared_error fail on overall",
        ),
        (
            "within-noise",
            "warning",
            Location(key="root_mean_squared_error (slice old-houses)"),
            "root_mean_squared_error noise on old-houses",
        ),
        (
            "blocked",
            "error",
            Location(key="mean_absolute_error (slice old-houses)"),
            "mean_absolute_error fail on old-houses",
        ),
    ]
    assert dict(found[1].data) == {
        "metric": "root_mean_squared_error",
        "scope": "old-houses",
        "rule": "max_regression 10%",
    }


def test_a_verdict_with_nothing_blocking_or_noisy_reports_no_findings():
    quiet = result(verdict="pass", checks=[check("r2_score", "pass"), check("p95_cpu_ms", "skip")])
    assert quiet.findings() == [] and quiet.failed == []


def test_gate_json_names_each_side_it_compared():
    candidate = side(report({"root_mean_squared_error": 1.0}, sha="c" * 64), pd.DataFrame())
    baseline = side(report({"root_mean_squared_error": 1.0}, sha="b" * 64))
    result = decide(GateConfig(), (), candidate, baseline)
    assert result.candidate == {
        "metrics": "metrics.json",
        "model": "m",
        "version": None,
        "sha256": "c" * 64,
        "data_sha256": "d" * 64,
        "rows": 100,
        "predictions": True,
    }
    assert result.baseline == {**result.candidate, "sha256": "b" * 64, "predictions": False}


def test_a_gate_json_of_another_version_or_shape_is_refused_saying_how_to_write_it_again(tmp_path: Path):
    from mlrelease.errors import ArtifactError

    again = "run `mlrelease gate` with this version of mlrelease to write it again"
    newer = tmp_path / "newer.json"
    newer.write_text('{"schema_version": 99}')
    with pytest.raises(ArtifactError) as err:
        GateResult.read(newer)
    assert (
        err.value.message
        == f"{newer}: gate.json schema_version 99 is not 1: it was written by a newer mlrelease"
    )
    assert err.value.hint == f"upgrade mlrelease, or {again}"
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema_version": 1, "verdict": "pass"}')
    with pytest.raises(ArtifactError) as err:
        GateResult.read(broken)
    assert err.value.message.startswith(f"{broken}: ")
    assert "'headline' is a required property" in err.value.message
    assert err.value.hint == again
