"""Alerts as code: every body parses as the APIs' own messages, and the Terraform says the same."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from google.cloud.logging_v2.types import LogMetric
from google.cloud.monitoring_v3.types import AlertPolicy

from mlrelease.cli import cli
from mlrelease.monitor import alerts

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "survey"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("alerts")
    res = CliRunner().invoke(
        cli, ["alerts", "render", "-c", str(EXAMPLE), "-o", str(out), "--p95-latency-ms", "250"]
    )
    assert res.exit_code == 0, res.output
    return out


def test_log_metrics_are_logging_api_messages(rendered: Path) -> None:
    """proto's JSON parser refuses any field name the Logging API does not define."""
    bodies = json.loads((rendered / "log_metrics.json").read_text())
    parsed = [LogMetric.from_json(json.dumps(b)) for b in bodies]
    assert [m.name for m in parsed] == [
        f"mlrelease/survey-app-uptake/{x}"
        for x in ("requests", "server_errors", "outlier_rows", "latency", "drift_alerts")
    ]
    latency = parsed[3]
    assert latency.value_extractor == "EXTRACT(httpRequest.latency)"
    assert latency.bucket_options.exponential_buckets.num_finite_buckets == 40
    assert 'labels.model="survey-app-uptake"' in parsed[0].filter


def test_alert_policies_are_monitoring_api_messages(rendered: Path) -> None:
    bodies = json.loads((rendered / "alert_policies.json").read_text())
    parsed = [AlertPolicy.from_json(json.dumps(b)) for b in bodies]
    by = {p.display_name.split(": ")[1]: p for p in parsed}
    assert set(by) == {"outlier rate", "error rate", "p95 latency", "drift"}
    outliers = by["outlier rate"].conditions[0].condition_threshold
    assert outliers.threshold_value == 0.05  # monitoring.outliers.alert in the example
    assert "user/mlrelease/survey-app-uptake/requests" in outliers.denominator_filter
    assert by["p95 latency"].conditions[0].condition_threshold.threshold_value == 0.25


def test_an_unknown_field_would_be_refused() -> None:
    body = alerts.log_metrics(alerts.AlertSettings(model="m"))[0] | {"filtr": "x"}
    with pytest.raises(Exception, match="filtr"):
        LogMetric.from_json(json.dumps(body))


def test_terraform_has_every_resource_with_the_json_values(rendered: Path) -> None:
    tf = (rendered / "alerts.tf").read_text()
    assert len(re.findall(r'^resource "google_logging_metric" ', tf, re.M)) == 5
    assert len(re.findall(r'^resource "google_monitoring_alert_policy" ', tf, re.M)) == 4
    assert 'value_extractor = "EXTRACT(httpRequest.latency)"' in tf
    assert "denominator_filter = " in tf and "threshold_value = 0.25" in tf
    assert '"kind" = "EXTRACT(labels.kind)"' in tf
    assert tf.count("{") == tf.count("}")


def test_monitor_writes_the_drift_event_the_policy_counts(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        cli,
        [
            "monitor",
            "-c",
            str(EXAMPLE),
            "--current",
            str(EXAMPLE / "data" / "seniors.csv"),
            "-o",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 1
    event = json.loads((tmp_path / "drift-event.jsonl").read_text())
    assert event["logging.googleapis.com/labels"] == {"model": "survey-app-uptake", "event": "drift"}
    assert event["verdict"] == "alert" and event["drifted"] == ["age", "prediction"]
    policy_filter = alerts.log_metrics(alerts.AlertSettings(model="survey-app-uptake"))[4]["filter"]
    assert 'jsonPayload.verdict="alert"' in policy_filter and 'labels.event="drift"' in policy_filter
