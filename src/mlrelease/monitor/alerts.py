"""Alerts as code: Cloud Logging log-based metrics and Cloud Monitoring alert policies.

From the server's request log lines (``serve/logs.py``; the GKE agent turns the
``logging.googleapis.com/labels`` key into the entry's ``labels``) four log-based metrics count
requests, server errors, outlier rows and measure latency; a fifth counts the drift alerts the
monitor job writes (``drift-event.jsonl``, one line in the same format, shipped with
``gcloud logging write`` or the logging agent). Four alert policies watch them: the outlier
rate (outlier rows per request line), the error rate (5xx per request), p95 latency and any
drift alert. ``render`` gives the REST bodies (``projects.metrics.create`` and
``projects.alertPolicies.create``, field names as the APIs publish them) and the same as
Terraform (``google_logging_metric``, ``google_monitoring_alert_policy``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

RESOURCE = 'resource.type="k8s_container"'


@dataclass(frozen=True)
class AlertSettings:
    model: str
    outlier_rate: float = 0.05
    error_rate: float = 0.01
    p95_latency_s: float = 1.0
    window_s: int = 300


def _metric_id(model: str, what: str) -> str:
    return f"mlrelease/{model}/{what}"


def log_metrics(s: AlertSettings) -> list[dict[str, Any]]:
    """LogMetric bodies for ``projects.metrics.create``."""
    base = f'labels.model="{s.model}"'
    counter = {"metricKind": "DELTA", "valueType": "INT64", "unit": "1"}
    return [
        {
            "name": _metric_id(s.model, "requests"),
            "description": f"Request lines of {s.model}'s server (one per HTTP request).",
            "filter": f'{base} AND labels.event="request"',
            "metricDescriptor": {**counter, "displayName": f"{s.model} requests"},
        },
        {
            "name": _metric_id(s.model, "server_errors"),
            "description": f"Requests {s.model}'s server answered with a 5xx.",
            "filter": f'{base} AND labels.event="request" AND httpRequest.status>=500',
            "metricDescriptor": {**counter, "displayName": f"{s.model} server errors"},
        },
        {
            "name": _metric_id(s.model, "outlier_rows"),
            "description": f"Rows {s.model}'s outlier guard flagged (one line per row), by kind.",
            "filter": f'{base} AND labels.event="outlier"',
            "metricDescriptor": {
                **counter,
                "displayName": f"{s.model} outlier rows",
                "labels": [{"key": "kind", "valueType": "STRING", "description": "prediction or input"}],
            },
            "labelExtractors": {"kind": "EXTRACT(labels.kind)"},
        },
        {
            "name": _metric_id(s.model, "latency"),
            "description": f"Request latency of {s.model}'s server.",
            "filter": f'{base} AND labels.event="request"',
            "metricDescriptor": {
                "metricKind": "DELTA",
                "valueType": "DISTRIBUTION",
                "unit": "s",
                "displayName": f"{s.model} latency",
            },
            "valueExtractor": "EXTRACT(httpRequest.latency)",
            "bucketOptions": {
                "exponentialBuckets": {"numFiniteBuckets": 40, "growthFactor": 1.4, "scale": 0.0005}
            },
        },
        {
            "name": _metric_id(s.model, "drift_alerts"),
            "description": f"Drift alerts `mlrelease monitor` raised for {s.model}.",
            "filter": f'{base} AND labels.event="drift" AND jsonPayload.verdict="alert"',
            "metricDescriptor": {**counter, "displayName": f"{s.model} drift alerts"},
        },
    ]


def _user(model: str, what: str) -> str:
    return f'metric.type="logging.googleapis.com/user/{_metric_id(model, what)}"'


def alert_policies(s: AlertSettings) -> list[dict[str, Any]]:
    """AlertPolicy bodies for ``projects.alertPolicies.create``."""
    period = f"{s.window_s}s"
    rate = [
        {"alignmentPeriod": period, "perSeriesAligner": "ALIGN_DELTA", "crossSeriesReducer": "REDUCE_SUM"}
    ]
    doc = "Open the latest monitor run's drift.html; `mlrelease monitor` on the window shows the rows."

    def ratio(name: str, what: str, threshold: float, text: str) -> dict[str, Any]:
        return {
            "displayName": f"{s.model}: {name}",
            "combiner": "OR",
            "severity": "ERROR",
            "documentation": {"content": text + " " + doc, "mimeType": "text/markdown"},
            "conditions": [
                {
                    "displayName": f"{name} above {threshold:g}",
                    "conditionThreshold": {
                        "filter": f"{_user(s.model, what)} AND {RESOURCE}",
                        "aggregations": rate,
                        "denominatorFilter": f"{_user(s.model, 'requests')} AND {RESOURCE}",
                        "denominatorAggregations": rate,
                        "comparison": "COMPARISON_GT",
                        "thresholdValue": threshold,
                        "duration": period,
                    },
                }
            ],
        }

    return [
        ratio(
            "outlier rate", "outlier_rows", s.outlier_rate, "Outlier rows per request above the threshold."
        ),
        ratio("error rate", "server_errors", s.error_rate, "5xx answers per request above the threshold."),
        {
            "displayName": f"{s.model}: p95 latency",
            "combiner": "OR",
            "severity": "WARNING",
            "documentation": {
                "content": "p95 request latency above the budget.",
                "mimeType": "text/markdown",
            },
            "conditions": [
                {
                    "displayName": f"p95 latency above {s.p95_latency_s:g} s",
                    "conditionThreshold": {
                        "filter": f"{_user(s.model, 'latency')} AND {RESOURCE}",
                        "aggregations": [
                            {
                                "alignmentPeriod": period,
                                "perSeriesAligner": "ALIGN_PERCENTILE_95",
                                "crossSeriesReducer": "REDUCE_MAX",
                            }
                        ],
                        "comparison": "COMPARISON_GT",
                        "thresholdValue": s.p95_latency_s,
                        "duration": period,
                    },
                }
            ],
        },
        {
            "displayName": f"{s.model}: drift",
            "combiner": "OR",
            "severity": "ERROR",
            "documentation": {
                "content": "`mlrelease monitor` raised a drift alert. " + doc,
                "mimeType": "text/markdown",
            },
            "conditions": [
                {
                    "displayName": "a drift alert",
                    "conditionThreshold": {
                        "filter": f'{_user(s.model, "drift_alerts")} AND resource.type="global"',
                        "aggregations": rate,
                        "comparison": "COMPARISON_GT",
                        "thresholdValue": 0,
                        "duration": "0s",
                    },
                }
            ],
        },
    ]


# ----------------------------------------------------------------------------- Terraform


def _snake(name: str) -> str:
    out = []
    for ch in name:
        out.append(f"_{ch.lower()}" if ch.isupper() else ch)
    return "".join(out)


def _hcl_value(value: Any, indent: int) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value).replace("${", "$${")
    if isinstance(value, dict):  # a map attribute (label_extractors)
        pad = "  " * (indent + 1)
        inner = "\n".join(f"{pad}{json.dumps(k)} = {_hcl_value(v, indent + 1)}" for k, v in value.items())
        return "{\n" + inner + "\n" + "  " * indent + "}"
    raise TypeError(type(value))


MAP_ATTRIBUTES = {"labelExtractors"}


def _hcl_block(body: dict[str, Any], indent: int) -> list[str]:
    pad = "  " * indent
    lines = []
    for key, value in body.items():
        name = _snake(key)
        if isinstance(value, dict) and key not in MAP_ATTRIBUTES:
            lines += [f"{pad}{name} {{", *_hcl_block(value, indent + 1), f"{pad}}}"]
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:  # a repeated block: `labels`, `conditions`, `aggregations`
                lines += [f"{pad}{name} {{", *_hcl_block(item, indent + 1), f"{pad}}}"]
        else:
            lines.append(f"{pad}{name} = {_hcl_value(value, indent)}")
    return lines


def _resource_name(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_").lower()


def terraform(s: AlertSettings) -> str:
    """The metrics and policies as Terraform for the google provider."""
    out = [f"# Generated by `mlrelease alerts render` for {s.model}. Do not edit: render again.", ""]
    metric_refs = []
    for m in log_metrics(s):
        rname = _resource_name(m["name"])
        metric_refs.append(f"google_logging_metric.{rname}")
        out += [f'resource "google_logging_metric" "{rname}" {{', *_hcl_block(m, 1), "}", ""]
    for p in alert_policies(s):
        rname = _resource_name(p["displayName"])
        out += [f'resource "google_monitoring_alert_policy" "{rname}" {{', *_hcl_block(p, 1)]
        out += [f"  depends_on = [{', '.join(metric_refs)}]", "}", ""]
    return "\n".join(out)


def drift_event(model: str, verdict: str, drifted: list[str], time: str) -> dict[str, Any]:
    """The line the monitor job writes for the drift metric, in the server's log format."""
    return {
        "severity": "ERROR" if verdict == "alert" else "WARNING" if verdict == "warn" else "INFO",
        "message": f"drift {verdict}: {', '.join(drifted) or 'no column'}",
        "time": time,
        "logging.googleapis.com/labels": {"model": model, "event": "drift"},
        "schema": 1,
        "verdict": verdict,
        "drifted": drifted,
    }
