"""Task messages from Kafka (Tansu, a real Kafka-protocol broker) into the ledger and out as result records:
1,000 messages with duplicates and malformed ones, and an intake process SIGKILLed mid-stream and restarted.
Files move from the FTP server (vsftpd) to a local base path."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import age, ledger_rows, make_readable, sha256
from tests.run_worker import REPO

pytestmark = pytest.mark.integration


def topics(broker: Any, name: str) -> str:
    for suffix in ("", "-dead-letter", "-results", "-failures"):
        broker.create_topic(f"{name}{suffix}", partitions=3 if not suffix else 1)
    return name


def source_files(root: Path, count: int) -> dict[str, bytes]:
    files = {f"in/{i // 100:02d}/f{i:04d}.bin": os.urandom(1000 + i) for i in range(count)}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    make_readable(root)
    age(root)
    return files


def produce(broker: Any, topic: str, values: list[bytes]) -> dict[str, float]:
    """Produce each value (keyed by its task_id when it has one); {task_id: time produced}."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
    sent: dict[str, float] = {}
    for value in values:
        try:
            task_id = json.loads(value).get("task_id")
        except Exception:
            task_id = None
        producer.produce(topic, value, key=task_id)
        if task_id:
            sent.setdefault(task_id, time.time())
    assert producer.flush(30) == 0
    return sent


def messages(root: Path, files: dict[str, bytes], duplicates: int, malformed: int) -> list[bytes]:
    good = [
        {
            "task_id": f"t-{i:04d}",
            "src_id": "filepool_ftp",
            "src_path": f"{root}/{rel}",
            "dst_id": "filepool_local",
            "dst_path": f"out/{rel}",
            "metadata": {"i": i},
        }
        for i, rel in enumerate(sorted(files))
    ]
    values = [json.dumps(m).encode() for m in good]
    values += [json.dumps(good[i * 7]).encode() for i in range(duplicates)]  # seen twice
    bad = [b"not json", b"[1, 2]", b'{"task_id": "no-fields"}', b"", json.dumps({**good[0], "src_path": ""}).encode()]
    values += bad[:malformed]
    # interleave so duplicates and malformed ones land amid the good ones on every partition
    return [values[i] for i in sorted(range(len(values)), key=lambda i: (i * 7919) % len(values))]


def start_intake(topic: str, group: str, idle: float, log: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.run_intake", topic, group, str(idle)],
        cwd=REPO,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=log.open("a"),
        text=True,
    )


def joined(log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while "in its group" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "the intake never joined its consumer group"
        time.sleep(0.2)


def results(broker: Any, topic: str, expected: int) -> tuple[dict[str, dict[str, Any]], int, dict[str, float]]:
    """({task_id: last result}, raw records, {task_id: time first consumed}) over both result topics."""
    found = broker.consume(f"{topic}-results", expected, timeout=120) + broker.consume(f"{topic}-failures", 0, 5)
    last: dict[str, dict[str, Any]] = {}
    seen: dict[str, float] = {}
    for record in found:
        value = json.loads(record.value())
        assert record.key().decode() == value["task_id"]
        last[value["task_id"]] = value
        seen.setdefault(value["task_id"], record.timestamp()[1] / 1000)
    return last, len(found), seen


def check_moved_once(uri: str, base: Path, files: dict[str, bytes], killed: bool = False) -> None:
    for rel, data in files.items():
        assert sha256((base / "out" / rel).read_bytes()) == sha256(data), rel
    # a killed process leaves its temporary files for the maintenance DAG; none is ever a destination's name
    assert killed or not list(base.rglob("*.filepool.tmp"))
    completions = ledger_rows(
        uri, "SELECT file_id, count(*) FROM filepool_file_events WHERE event = 'completed' GROUP BY 1"
    )
    assert len(completions) == len(files) and {n for _, n in completions} == {1}


def test_a_thousand_messages_with_duplicates_and_malformed_ones(
    kafka_conn: Any, ftp_conns: None, sftp_root: Path, local_base: Path, ledger_uri: str, tmp_path: Path
) -> None:
    files = source_files(sftp_root, 975)
    topic = topics(kafka_conn, f"tasks-{uuid.uuid4().hex[:6]}")
    values = messages(sftp_root, files, duplicates=20, malformed=5)
    assert len(values) == 1000
    intake = start_intake(topic, "g1", 5, tmp_path / "intake.log")
    joined(tmp_path / "intake.log")  # latency counts from here: joining a group takes ~20 s on Tansu
    started = time.monotonic()
    produced = produce(kafka_conn, topic, values)
    out, _ = intake.communicate(timeout=300)
    assert intake.returncode == 0, (tmp_path / "intake.log").read_text()[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["consumed"] == 1000
    assert (summary["new"], summary["duplicate"], summary["malformed"]) == (975, 20, 5), summary

    check_moved_once(ledger_uri, local_base, files)
    last, raw, consumed_at = results(kafka_conn, topic, 975)
    assert set(last) == {f"t-{i:04d}" for i in range(975)}
    assert all(r["status"] == "success" for r in last.values())
    dead = kafka_conn.consume(f"{topic}-dead-letter", 5, timeout=30)
    assert len(dead) == 5
    assert {json.loads(d.value())["error_code"] for d in dead} == {"MALFORMED_MESSAGE"}
    assert all(json.loads(d.value())["reason"] for d in dead)
    latency = sorted(consumed_at[t] - produced[t] for t in last)
    figure = {
        "messages": 1000,
        "raw_result_records": raw,
        "distinct_result_keys": len(last),
        "wall_seconds": round(time.monotonic() - started, 1),
        "intake_seconds": summary["seconds"],
        "messages_per_second": round(1000 / (max(consumed_at.values()) - min(produced.values())), 1),
        "latency_p50_s": round(statistics.median(latency), 2),
        "latency_p95_s": round(latency[int(len(latency) * 0.95)], 2),
    }
    Path("test-output").mkdir(exist_ok=True)
    Path("test-output/kafka_intake.json").write_text(json.dumps(figure, indent=1))
    print(figure)


def test_intake_killed_mid_stream_loses_and_repeats_nothing(
    kafka_conn: Any, ftp_conns: None, sftp_root: Path, local_base: Path, ledger_uri: str, tmp_path: Path
) -> None:
    files = source_files(sftp_root, 600)
    topic = topics(kafka_conn, f"tasks-{uuid.uuid4().hex[:6]}")
    produce(kafka_conn, topic, messages(sftp_root, files, duplicates=10, malformed=2))
    log = tmp_path / "intake.log"
    first = start_intake(topic, "g1", 5, log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill it once some files are moved and before all are
        [(done,)] = ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_files WHERE status = 'COMPLETED'")
        if done >= 50:
            break
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert 50 <= done < 600, done
    second = start_intake(topic, "g1", 5, log)
    out, _ = second.communicate(timeout=300)
    assert second.returncode == 0, log.read_text()[-3000:]

    check_moved_once(ledger_uri, local_base, files, killed=True)
    last, raw, _ = results(kafka_conn, topic, 600)
    assert set(last) == {f"t-{i:04d}" for i in range(600)}
    assert all(r["status"] == "success" for r in last.values())
    print({"killed_after_completed": done, "raw_result_records": raw, "second_run": json.loads(out.splitlines()[-1])})
