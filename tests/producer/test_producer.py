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

from tests.helpers import REPO
from tests.servers.kafka import KafkaBroker

pytestmark = pytest.mark.integration
PRODUCER = REPO / "include" / "producer"
sys.path.insert(0, str(PRODUCER))

from producer import sample  # noqa: E402


def run(*args: str, env: dict[str, str] | None = None, cwd: Path = PRODUCER) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "producer", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PRODUCER), **(env or {})},
        timeout=300,
    )


def write_day(folder: Path, day: str, events: list[tuple[int, str]]) -> Path:
    """date=DAY/events.json under `folder`, one line per (DocumentId, event_ts), in the order given."""
    path = folder / f"date={day}" / "events.json"
    path.parent.mkdir()
    path.write_text(
        "".join(json.dumps({"SessionId": f"s{i}", "DocumentId": i, "event_ts": ts}) + "\n" for i, ts in events)
    )
    return path


def expected_key(event: dict[str, Any]) -> str:
    return xxhash.xxh64(f"{event['SessionId']}|{event['DocumentId']}|{event['event_ts']}".encode()).hexdigest()


def test_batch_sends_every_event_keyed_by_its_dedup_key_and_rejects_malformed_lines(
    kafka_broker: KafkaBroker, tmp_path: Path
) -> None:
    kafka_broker.create_topic("batch_events")
    [path] = sample.write(tmp_path / "data", date(2026, 1, 1), 1, 3000, malformed=3)
    events = [json.loads(line) for line in path.read_text().splitlines() if line.startswith('{"DateCreated"')]

    done = run(
        "--file",
        str(path),
        "--topic",
        "batch_events",
        "--mode",
        "batch",
        "--brokers",
        kafka_broker.bootstrap,
        "--log-file",
        str(tmp_path / "logs" / "producer.log"),
    )

    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert (summary["sent"], summary["delivered"], summary["undelivered"], summary["rejected"]) == (3000, 3000, 0, 3)
    got = {m.key().decode(): json.loads(m.value()) for m in kafka_broker.consume("batch_events", 3000)}
    assert len(got) == 3000 and set(got) == {expected_key(e) for e in events}
    assert all(value["dedup_key"] == key for key, value in got.items())
    rejected = [json.loads(line) for line in Path(summary["reject_file"]).read_text().splitlines()]
    assert sorted(r["reason"].split(":")[0] for r in rejected) == [
        "missing DocumentId, event_ts",
        "not JSON",
        "not a JSON object",
    ]
    assert "3 malformed lines skipped" in done.stderr  # warnings reach the console
    assert "Summary" not in done.stderr and "Summary" in (tmp_path / "logs" / "producer.log").read_text()


def test_realtime_keeps_the_spacing_of_events_at_speed_60(kafka_broker: KafkaBroker, tmp_path: Path) -> None:
    kafka_broker.create_topic("realtime_events")
    start = datetime(2026, 1, 2, 15, tzinfo=UTC)
    offsets = [0, 6, 30, 33, 60, 150, 151, 240, 300]  # seconds: 5 minutes of events -> 5 s at speed 60
    # out of order in the file: the producer sorts
    path = write_day(
        tmp_path,
        "2026-01-02",
        [(i, (start + timedelta(seconds=o)).isoformat()) for i, o in reversed(list(enumerate(offsets)))],
    )

    done = run(
        "--file",
        str(path),
        "--topic",
        "realtime_events",
        "--mode",
        "realtime",
        "--speed",
        "60",
        "--brokers",
        kafka_broker.bootstrap,
        "--log-file",
        str(tmp_path / "producer.log"),
    )

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

    done = run(
        "--file",
        str(path),
        "--config",
        str(config),
        "--log-file",
        str(tmp_path / "p.log"),
        env={"KAFKA_BROKERS": kafka_broker.bootstrap},
    )

    assert done.returncode == 0, done.stderr
    assert len(kafka_broker.consume("from_env", 50)) == 50


def test_a_missing_input_file_is_a_clear_error(tmp_path: Path) -> None:
    done = run(
        "--file",
        str(tmp_path / "date=2026-01-09" / "events.json"),
        "--brokers",
        "127.0.0.1:1",
        "--log-file",
        str(tmp_path / "p.log"),
    )
    assert done.returncode == 2
    assert f"input file not found: {tmp_path / 'date=2026-01-09' / 'events.json'}" in done.stderr


def test_unreachable_brokers_fail_fast_and_say_which(tmp_path: Path) -> None:
    [path] = sample.write(tmp_path, date(2026, 1, 3), 1, 5)
    done = run("--file", str(path), "--brokers", "127.0.0.1:9", "--log-file", str(tmp_path / "p.log"))
    assert done.returncode == 3
    assert "no Kafka broker reachable at 127.0.0.1:9" in done.stderr


def test_a_line_larger_than_a_message_may_be_is_rejected_like_a_malformed_one(
    kafka_broker: KafkaBroker, tmp_path: Path
) -> None:
    kafka_broker.create_topic("too_large")
    [path] = sample.write(tmp_path / "data", date(2026, 1, 4), 1, 20)
    huge = json.dumps(
        {"SessionId": "s", "DocumentId": 1, "event_ts": "2026-01-04T10:00:00+00:00", "Keywords": "x" * 50_000}
    )
    with path.open("a") as out:
        out.write(huge + "\n")
    config = tmp_path / "config.yaml"
    config.write_text("kafka:\n  producer:\n    message.max.bytes: 20000\n")  # the broker's limit, say

    done = run(
        "--file",
        str(path),
        "--topic",
        "too_large",
        "--brokers",
        kafka_broker.bootstrap,
        "--config",
        str(config),
        "--log-file",
        str(tmp_path / "logs" / "p.log"),
    )

    assert done.returncode == 0, done.stderr  # everything else was delivered
    assert "Traceback" not in done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert (summary["sent"], summary["delivered"], summary["rejected"]) == (20, 20, 1)
    [rejected] = [json.loads(line) for line in Path(summary["reject_file"]).read_text().splitlines()]
    assert rejected["line_number"] == 21 and "message.max.bytes" in rejected["reason"]
    assert len(rejected["line"]) < 1100  # the reject file keeps the start of a huge line, not all of it
    assert len(kafka_broker.consume("too_large", 20)) == 20


def test_realtime_never_sleeps_for_years_on_a_far_future_event_ts(kafka_broker: KafkaBroker, tmp_path: Path) -> None:
    kafka_broker.create_topic("far_future")
    path = write_day(
        tmp_path,
        "2026-01-05",
        list(enumerate(["2026-01-05T10:00:00+00:00", "2999-01-01T00:00:00+00:00", "2026-01-05T10:00:01+00:00"])),
    )

    done = run(
        "--file",
        str(path),
        "--topic",
        "far_future",
        "--mode",
        "realtime",
        "--max-gap",
        "1",
        "--brokers",
        kafka_broker.bootstrap,
        "--log-file",
        str(tmp_path / "p.log"),
    )

    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["sent"] == 3 and summary["gaps_cut"] == 1 and summary["seconds"] < 30
    order = [
        json.loads(m.value())["DocumentId"]
        for m in sorted(kafka_broker.consume("far_future", 3), key=lambda m: m.timestamp()[1])
    ]
    assert order == [0, 2, 1]  # still in event_ts order


def test_the_time_order_sort_spills_to_disk_and_stays_exact(tmp_path: Path) -> None:
    from producer.events import Event
    from producer.ordering import in_time_order

    events = [Event(f"k{i}", float((i * 7919) % 101), f"v{i}".encode()) for i in range(1000)]
    spilled: list[list[str]] = []

    def watch() -> Any:
        for event in in_time_order(iter(events), run_events=64, folder=str(tmp_path)):
            spilled.append([p.name for p in tmp_path.glob("producer-sort-*/run-*")])
            yield event

    ordered = list(watch())
    assert [e.at for e in ordered] == sorted(e.at for e in events)
    assert sorted(e.key for e in ordered) == sorted(e.key for e in events)
    assert len(spilled[0]) == 16  # 1,000 events in runs of 64, on disk while they are merged
    assert list(tmp_path.iterdir()) == []  # and removed at the end


def test_a_reject_folder_that_cannot_be_written_is_a_clear_error_before_anything_is_sent(
    kafka_broker: KafkaBroker, tmp_path: Path
) -> None:
    [path] = sample.write(tmp_path / "data", date(2026, 1, 6), 1, 10, malformed=1)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the log folder should be")
    done = run(
        "--file",
        str(path),
        "--topic",
        "never",
        "--brokers",
        kafka_broker.bootstrap,
        "--reject-file",
        str(blocked / "rejects.jsonl"),
        "--log-file",
        str(tmp_path / "p.log"),
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"Cannot write the reject file {blocked / 'rejects.jsonl'}" in done.stderr
