"""The producer's closing summary, read from its container's output as DockerOperator hands it over: stdout and
stderr as one stream of lines."""

from __future__ import annotations

import io
import json
import sys

import pytest

pytest.importorskip("airflow.providers.docker.operators.docker", reason="the docker extra is not installed")

from filepool.operators.producer import _closing_summary
from tests.helpers import REPO

sys.path.insert(0, str(REPO / "include" / "producer"))
from producer.replay import write_line

SUMMARY = {"file": "/app/data/date=2026-01-02/events.json", "sent": 500, "rejected": 1, "log_file": "/app/logs/x"}


def test_the_last_json_line_is_the_summary() -> None:
    lines = ["producer: WARNING 1 malformed lines skipped", json.dumps({"sent": 1}), json.dumps(SUMMARY), "%3|late"]
    assert _closing_summary(lines) == SUMMARY


def test_a_summary_glued_behind_a_progress_line_is_found() -> None:
    # what Docker delivered once: stderr's text, stdout's summary, then stderr's newline
    glued = "progress: 500 sent, 500 delivered, 1 rejected, 9,000 events/s" + json.dumps(SUMMARY)
    assert _closing_summary([glued, ""]) == SUMMARY


def test_output_without_a_summary_gives_none() -> None:
    assert _closing_summary(["producer: ERROR no broker reachable", "{not json", '{"a": 1} trailing']) is None
    assert _closing_summary(None) is None


def test_the_producer_writes_a_line_and_its_newline_at_once() -> None:
    writes: list[str] = []

    class Recorder(io.StringIO):
        def write(self, text: str) -> int:
            writes.append(text)
            return len(text)

    write_line(Recorder(), json.dumps(SUMMARY))
    assert writes == [json.dumps(SUMMARY) + "\n"]
