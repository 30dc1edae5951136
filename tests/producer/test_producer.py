"""The producer as users run it (`python -m producer ...`, as the image's entrypoint does) against a real
Kafka-protocol broker (Tansu): what lands in the topic, keys, rejects, exit codes, realtime spacing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import xxhash

from tests.conftest import REPO
from tests.servers.kafka import KafkaBroker

pytestmark = pytest.mark.integration
PRODUCER = REPO / "include" / "producer"
sys.path.insert(0, str(PRODUCER))

from producer import sample  # noqa: E402


def run(*args: str, env: dict[str, str] | None = None, cwd: Path = PRODUCER) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "producer", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(PRODUCER), **(env or {})}, timeout=300)


def expected_key(event: dict[str, Any]) -> str:
    return xxhash.xxh64(f"{event['SessionId']}|{event['DocumentId']}|{event['event_ts']}".encode()).hexdigest()


def test_batch_sends_every_event_keyed_by_its_dedup_key_and_rejects_malformed_lines(
        kafka_broker: KafkaBroker, tmp_path: Path) -> None:
    kafka_broker.create_topic("batch_events")
    [path] = sample.write(tmp_path / "data", date(2026, 1, 1), 1, 3000, malformed=3)
    events = [json.loads(line) for line in path.read_text().splitlines() if line.startswith('{"DateCreated"')]

    done = run("--file", str(path), "--topic", "batch_events", "--mode", "batch", "--brokers", kafka_broker.bootstrap,
               "--log-file", str(tmp_path / "logs" / "producer.log"))

    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert (summary["sent"], summary["delivered"], summary["undelivered"], summary["rejected"]) == (3000, 3000, 0, 3)
    got = {m.key().decode(): json.loads(m.value()) for m in kafka_broker.consume("batch_events", 3000)}
    assert len(got) == 3000 and set(got) == {expected_key(e) for e in events}
    assert all(value["dedup_key"] == key for key, value in got.items())
    rejected = [json.loads(line) for line in Path(summary["reject_file"]).read_text().splitlines()]
    assert sorted(r["reason"].split(":")[0] for r in rejected) == ["missing DocumentId, event_ts", "not JSON",
                                                                    "not a JSON object"]
    assert "3 malformed lines skipped" in done.stderr  # warnings reach the console
    assert "Summary" not in done.stderr and "Summary" in (tmp_path / "logs" / "producer.log").read_text()


def test_realtime_keeps_the_spacing_of_events_at_speed_60(kafka_broker: KafkaBroker, tmp_path: Path) -> None:
    kafka_broker.create_topic("realtime_events")
    start = datetime(2026, 1, 2, 15, tzinfo=UTC)
    offsets = [0, 6, 30, 33, 60, 150, 151, 240, 300]  # seconds: 5 minutes of events -> 5 s at speed 60
    lines = [json.dumps({"SessionId": f"s{i}", "DocumentId": i, "event_ts": (start + timedelta(seconds=o)).isoformat()})
             for i, o in reversed(list(enumerate(offsets)))]  # out of order in the file: the producer sorts
    path = tmp_path / "date=2026-01-02" / "events.json"
    path.parent.mkdir()
    path.write_text("\n".join(lines) + "\n")

    done = run("--file", str(path), "--topic", "realtime_events", "--mode", "realtime", "--speed", "60",
               "--brokers", kafka_broker.bootstrap, "--log-file", str(tmp_path / "producer.log"))

    assert done.returncode == 0, done.stderr
    messages = sorted(kafka_broker.consume("realtime_events", len(offsets)), key=lambda m: m.timestamp()[1])
    assert [json.loads(m.value())["DocumentId"] for m in messages] == list(range(len(offsets)))
    sent_at = [m.timestamp()[1] / 1000 for m in messages]  # CreateTime: when the producer handed it over
    for offset, at in zip(offsets[1:], sent_at[1:], strict=True):
        expected = offset / 60
        assert abs((at - sent_at[0]) - expected) <= 0.1 * expected + 0.05, (offset, at - sent_at[0], expected)


def test_brokers_come_from_kafka_brokers_over_the_config(kafka_broker: KafkaBroker, tmp_path: Path) -> None:
    kafka_broker.create_topic("from_env")
    [path] = sample.write(tmp_path, date(2026, 1, 3), 1, 50)
    config = tmp_path / "config.yaml"
    config.write_text("kafka:\n  brokers:\n    - 127.0.0.1:1\n  topic: from_env\n")

    done = run("--file", str(path), "--config", str(config), "--log-file", str(tmp_path / "p.log"),
               env={"KAFKA_BROKERS": kafka_broker.bootstrap})

    assert done.returncode == 0, done.stderr
    assert len(kafka_broker.consume("from_env", 50)) == 50


def test_a_missing_input_file_is_a_clear_error(tmp_path: Path) -> None:
    done = run("--file", str(tmp_path / "date=2026-01-09" / "events.json"), "--brokers", "127.0.0.1:1",
               "--log-file", str(tmp_path / "p.log"))
    assert done.returncode == 2
    assert f"input file not found: {tmp_path / 'date=2026-01-09' / 'events.json'}" in done.stderr


def test_unreachable_brokers_fail_fast_and_say_which(tmp_path: Path) -> None:
    [path] = sample.write(tmp_path, date(2026, 1, 3), 1, 5)
    done = run("--file", str(path), "--brokers", "127.0.0.1:9", "--log-file", str(tmp_path / "p.log"))
    assert done.returncode == 3
    assert "no Kafka broker reachable at 127.0.0.1:9" in done.stderr
