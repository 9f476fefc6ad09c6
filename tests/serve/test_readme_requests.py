"""Every request in the README's "Calling the server" section, sent to the real server it names
(port 8080: the example, 8081: the classifier fixture), answers what the README shows."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from servekit import REPO

from mlrelease import config as cfgmod
from mlrelease.serve.service import load_service

CALL = re.compile(
    r"^\$ curl -s --json '(?P<body>.*?)' localhost:(?P<port>\d+)(?P<path>\S+)\n(?P<answer>[^\n]*)$",
    re.S | re.M,
)


def readme_calls() -> list[tuple[int, str, Any, Any]]:
    text = (REPO / "README.md").read_text("utf-8")
    section = text.split("### Calling the server", 1)[1].split("\n## ", 1)[0]
    return [
        (int(m["port"]), m["path"], json.loads(m["body"]), json.loads(m["answer"]))
        for m in CALL.finditer(section)
    ]


def same(got: Any, want: Any, where: str = "") -> None:
    if isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-9), where
    elif isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want), where
        for k in want:
            same(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            same(g, w, f"{where}[{i}]")
    else:
        assert got == want, where


def test_the_readme_shows_what_the_server_answers(start_server, example_cfg, example_service):
    calls = readme_calls()
    assert len(calls) == 11  # 4 protocols for the regressor, 7 requests to the classifier
    classifier_cfg = cfgmod.load(str(REPO / "tests" / "fixtures" / "eval-classification"))
    servers = {
        8080: start_server(example_cfg, example_service),
        8081: start_server(classifier_cfg, load_service(classifier_cfg)),
    }
    for port, path, body, answer in calls:
        status, got, _ = servers[port].post(path, body)
        assert status == 200, (path, got)
        same(got, answer, f"{port}{path}")
