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
from types import SimpleNamespace
from typing import Any

import pytest

from tests.helpers import age, ftp_conn, ledger_rows, make_readable, sha256
from tests.run_worker import REPO
from tests.servers.process import free_port

pytestmark = pytest.mark.integration


def topics(broker: Any, name: str, partitions: int = 3) -> str:
    for suffix in ("", "-dead-letter", "-results", "-failures"):
        broker.create_topic(f"{name}{suffix}", partitions=partitions if not suffix else 1)
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
            task_id.encode()
        except Exception:  # not JSON, nested too deeply, a lone surrogate: no key
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


def poisons(root: Path, local_base: Path) -> dict[str, tuple[bytes, str, str]]:
    """One message of each kind that used to stop the intake for good: {name: (value, where it ends, code)}, where
    "dead" is the dead-letter topic and "failures" the failures topic."""
    (local_base / "loop").symlink_to("loop")  # lstat("loop/f.bin"): ELOOP
    local = {"src_id": "filepool_local", "dst_id": "filepool_ftp", "dst_path": f"{root}/up/f.bin"}
    good = {"src_id": "filepool_ftp", "src_path": f"{root}/in/00/f0000.bin", "dst_id": "filepool_local"}
    deep = b'{"task_id": "deep", "metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    return {
        "deeply nested JSON": (deep, "dead", "MALFORMED_MESSAGE"),
        "metadata nested 40 levels": (
            json.dumps(
                {**good, "task_id": "nested", "dst_path": "n", "metadata": {"a": json.loads("[" * 40 + "]" * 40)}}
            ).encode(),
            "dead",
            "MALFORMED_MESSAGE",
        ),
        "a lone surrogate in task_id": (
            json.dumps({**good, "dst_path": "s"}).replace('"src_id"', '"task_id": "\\ud800", "src_id"').encode(),
            "dead",
            "MALFORMED_MESSAGE",
        ),
        # 300 KB of bytes that are not UTF-8: as JSON text in its dead letter, 1.8 MB, past the broker's 1 MB
        "a dead letter past the broker's size": (bytes(range(128, 256)) * 2400, "dead", "MALFORMED_MESSAGE"),
        "a name over 255 bytes": (
            json.dumps({**local, "task_id": "long-name", "src_path": f"{'x' * 300}/f.bin"}).encode(),
            "failures",
            "INVALID_NAME",
        ),
        "a loop of symlinks": (
            json.dumps({**local, "task_id": "loop", "src_path": "loop/f.bin"}).encode(),
            "failures",
            "IO_ERROR",
        ),
        "a path of 450 KB": (
            json.dumps({**good, "task_id": "huge-path", "src_path": "/" + "a" * 450_000, "dst_path": "h"}).encode(),
            "dead",
            "MALFORMED_MESSAGE",
        ),
    }


def start_intake(
    topic: str, group: str, idle: float, log: Path, park_after: int = 3, fault: str | None = None
) -> subprocess.Popen[str]:
    env = dict(os.environ)
    if fault:
        env["FILEPOOL_TEST_FAULT"] = fault
    return subprocess.Popen(
        [sys.executable, "-m", "tests.run_intake", topic, group, str(idle), str(park_after)],
        cwd=REPO,
        env=env,
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
    """({task_id: its latest result}, raw records, {task_id: time first consumed}) over both result topics: as the
    README's consumer contract says, the record with the highest `record_version` per key."""
    found = broker.consume(f"{topic}-results", expected, timeout=120) + broker.consume(f"{topic}-failures", 0, 5)
    last: dict[str, dict[str, Any]] = {}
    seen: dict[str, float] = {}
    for record in found:
        value = json.loads(record.value())
        assert record.key().decode() == value["task_id"]
        if value["record_version"] > last.get(value["task_id"], {}).get("record_version", -1):
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


def test_a_thousand_messages_with_duplicates_malformed_ones_and_poisons(
    kafka_conn: Any, ftp_conns: None, sftp_root: Path, local_base: Path, ledger_uri: str, tmp_path: Path
) -> None:
    """1,000 good messages, duplicates, malformed ones and one of each poison that used to make the intake raise
    before its offsets were committed (so the same batch came back and crashed every run): each poison is
    refused alone with its code, every good message is answered once, and a second run finds nothing to take."""
    files = source_files(sftp_root, 1000)
    topic = topics(kafka_conn, f"tasks-{uuid.uuid4().hex[:6]}")
    bad = poisons(sftp_root, local_base)
    values = messages(sftp_root, files, duplicates=20, malformed=5) + [value for value, _, _ in bad.values()]
    intake = start_intake(topic, "g1", 5, tmp_path / "intake.log")
    joined(tmp_path / "intake.log")  # latency counts from here: joining a group takes ~20 s on Tansu
    started = time.monotonic()
    produced = produce(kafka_conn, topic, values)
    out, _ = intake.communicate(timeout=300)
    assert intake.returncode == 0, (tmp_path / "intake.log").read_text()[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    dead_expected = 5 + sum(1 for _, where, _ in bad.values() if where == "dead")
    assert summary["consumed"] == 1025 + len(bad)
    assert (summary["duplicate"], summary["malformed"], summary["refused"]) == (20, dead_expected, 2), summary
    assert summary["parked"] == 0, summary

    check_moved_once(ledger_uri, local_base, files)
    last, raw, consumed_at = results(kafka_conn, topic, 1000)
    assert {t for t, r in last.items() if r["status"] == "success"} == {f"t-{i:04d}" for i in range(1000)}
    failures = {t: r["error_code"] for t, r in last.items() if r["status"] != "success"}
    assert failures == {"long-name": "INVALID_NAME", "loop": "IO_ERROR"}
    dead = [json.loads(d.value()) for d in kafka_conn.consume(f"{topic}-dead-letter", dead_expected, timeout=30)]
    assert len(dead) == dead_expected
    assert {d["error_code"] for d in dead} == {"MALFORMED_MESSAGE"}
    assert all(d["reason"] for d in dead)
    cut = [d for d in dead if "truncated" in d]  # the 300 KB binary record: 1.8 MB as JSON text, cut to fit
    assert [d["truncated"] for d in cut] == [{"value": 307200}] and len(json.dumps(cut[0])) < 1_000_000
    reasons = " | ".join(d["reason"] for d in dead)
    for why in ("nested too deeply", "nested deeper than 32", "lone surrogate", "not JSON", "longer than 1200"):
        assert why in reasons, reasons

    again = start_intake(topic, "g1", 3, tmp_path / "intake.log")  # nothing was left uncommitted: nothing comes back
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0, (tmp_path / "intake.log").read_text()[-3000:]
    assert json.loads(out.strip().splitlines()[-1])["consumed"] == 0
    latency = sorted(consumed_at[t] - produced[t] for t in last if t in produced)
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


def test_intake_killed_after_its_commit_and_rerun_with_no_new_message_moves_and_answers_every_one(
    kafka_conn: Any, ftp_conns: None, sftp_root: Path, local_base: Path, ledger_uri: str, tmp_path: Path
) -> None:
    """300 messages, one batch: the intake commits their offsets once they are in the ledger, starts moving, and
    is killed once 40% of the files have started. Nothing comes from the topic again; the next run moves and
    answers all of them (it drains its routes' waiting files first)."""
    files = source_files(sftp_root, 300)
    topic = topics(kafka_conn, f"tasks-{uuid.uuid4().hex[:6]}", partitions=1)
    produce(kafka_conn, topic, messages(sftp_root, files, duplicates=0, malformed=0))
    log = tmp_path / "intake.log"
    first = start_intake(topic, "g1", 5, log)
    deadline = time.monotonic() + 180
    started = taken = 0
    while time.monotonic() < deadline and not (taken == 300 and started >= 120):
        [(taken, started)] = ledger_rows(
            ledger_uri,
            "SELECT (SELECT count(*) FROM filepool_task_messages),"
            " (SELECT count(DISTINCT file_id) FROM filepool_file_events WHERE event = 'claimed')",
        )
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    [(done,)] = ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_files WHERE status = 'COMPLETED'")
    assert taken == 300 and started >= 120 and done < 300, (taken, started, done)

    second = start_intake(topic, "g1", 5, log)
    out, _ = second.communicate(timeout=300)
    assert second.returncode == 0, log.read_text()[-3000:]
    summary = json.loads(out.splitlines()[-1])
    assert summary["consumed"] == 0, summary  # the first run's commit holds: nothing is delivered again

    check_moved_once(ledger_uri, local_base, files, killed=True)
    last, raw, _ = results(kafka_conn, topic, 300)
    assert set(last) == {f"t-{i:04d}" for i in range(300)}
    assert all(r["status"] == "success" for r in last.values())
    assert "Moving what waits on ftp://filepool_ftp -> local://filepool_local" in log.read_text()
    print({"killed_after_completed": done, "raw_result_records": raw, "second_run": summary})


def test_a_message_whose_batch_fails_whatever_it_is_is_parked_and_the_rest_moves(
    kafka_conn: Any, ftp_conns: None, sftp_root: Path, local_base: Path, ledger_uri: str, tmp_path: Path
) -> None:
    """A fault nobody foresaw, in the ledger's take of the batch holding one message (injected: the take raises
    whenever that message is in it): the batch is taken again one message at a time, the one that fails alone
    three times is parked (a FAILED row with MESSAGE_PARKED, an ALERT line, its dead letter), the others move."""
    files = source_files(sftp_root, 50)
    topic = topics(kafka_conn, f"tasks-{uuid.uuid4().hex[:6]}", partitions=1)
    produce(kafka_conn, topic, messages(sftp_root, files, duplicates=0, malformed=0))
    log = tmp_path / "intake.log"
    intake = start_intake(topic, "g1", 5, log, fault="raise:t-0007")
    out, _ = intake.communicate(timeout=300)
    assert intake.returncode == 0, log.read_text()[-3000:]
    summary = json.loads(out.splitlines()[-1])
    assert (summary["parked"], summary["new"]) == (1, 49), summary
    last, _, _ = results(kafka_conn, topic, 49)
    assert set(last) == {f"t-{i:04d}" for i in range(50)} - {"t-0007"}
    rows = ledger_rows(ledger_uri, "SELECT error_code, error_message FROM filepool_files WHERE status = 'FAILED'")
    assert [code for code, _ in rows] == ["MESSAGE_PARKED"]
    assert "failed 3 times on its own" in rows[0][1] and "injected fault on t-0007" in rows[0][1]
    assert "ALERT [MESSAGE_PARKED]" in log.read_text()
    dead = [json.loads(d.value()) for d in kafka_conn.consume(f"{topic}-dead-letter", 1, timeout=30)]
    assert [d["error_code"] for d in dead] == ["MESSAGE_PARKED"]
    assert ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_intake_marks") == [(0,)]


def test_a_message_that_kills_its_intake_is_parked_by_the_next_run(
    kafka_conn: Any, ftp_conns: None, sftp_root: Path, local_base: Path, ledger_uri: str, tmp_path: Path
) -> None:
    """A message whose batch kills the process (injected: os._exit in the take) before its offsets are committed:
    the next run knows from the ledger which records the dead run held and takes them one at a time (the others
    are taken, the one that kills it dies again alone); the run after that parks it, as `park_after` (1 here)
    allows, instead of dying on it for ever."""
    files = source_files(sftp_root, 20)
    topic = topics(kafka_conn, f"tasks-{uuid.uuid4().hex[:6]}", partitions=1)
    produce(kafka_conn, topic, messages(sftp_root, files, duplicates=0, malformed=0))
    log = tmp_path / "intake.log"
    for taken_before in (0, 19):  # the batch dies; then that one message alone dies
        run = start_intake(topic, "g1", 5, log, park_after=1, fault="die:t-0003")
        run.communicate(timeout=300)
        assert run.returncode == 9, log.read_text()[-3000:]
        [(taken,)] = ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_task_messages")
        assert taken <= taken_before, taken
    last_run = start_intake(topic, "g1", 5, log, park_after=1, fault="die:t-0003")
    out, _ = last_run.communicate(timeout=300)
    assert last_run.returncode == 0, log.read_text()[-3000:]
    summary = json.loads(out.splitlines()[-1])
    assert summary["parked"] == 1, summary
    assert ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_task_messages") == [(19,)]
    last, _, _ = results(kafka_conn, topic, 19)
    assert set(last) == {f"t-{i:04d}" for i in range(20)} - {"t-0003"}
    assert ledger_rows(ledger_uri, "SELECT error_code FROM filepool_files WHERE status = 'FAILED'") == [
        ("MESSAGE_PARKED",)
    ]


def test_a_message_refused_while_its_server_was_down_moves_when_sent_again(
    kafka_conn: Any,
    ftp_server: Any,
    ftp_conns: None,
    sftp_root: Path,
    local_base: Path,
    ledger_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A refusal that may pass (the FTP server down while the batch is taken) is answered with CONNECTION_ERROR but
    does not use up the task_id: the same message sent again once the server is back moves the file."""
    files = source_files(sftp_root, 3)
    topic = topics(kafka_conn, f"tasks-{uuid.uuid4().hex[:6]}", partitions=1)
    values = messages(sftp_root, files, duplicates=0, malformed=0)
    log = tmp_path / "intake.log"
    nobody = {"port": free_port(), "user": ftp_server.user, "password": ftp_server.password}
    monkeypatch.setenv("AIRFLOW_CONN_FILEPOOL_FTP", ftp_conn(SimpleNamespace(**nobody), timeout=3))
    produce(kafka_conn, topic, values)
    down = start_intake(topic, "g1", 3, log)
    out, _ = down.communicate(timeout=300)
    assert down.returncode == 0, log.read_text()[-3000:]
    assert json.loads(out.splitlines()[-1])["refused"] == 3
    failures = {r["task_id"]: r["error_code"] for r in results(kafka_conn, topic, 0)[0].values()}
    assert failures == {f"t-{i:04d}": "CONNECTION_ERROR" for i in range(3)}

    monkeypatch.setenv("AIRFLOW_CONN_FILEPOOL_FTP", ftp_conn(ftp_server))
    produce(kafka_conn, topic, values)  # the same three messages again
    back = start_intake(topic, "g1", 3, log)
    out, _ = back.communicate(timeout=300)
    assert back.returncode == 0, log.read_text()[-3000:]
    assert json.loads(out.splitlines()[-1])["new"] == 3
    check_moved_once(ledger_uri, local_base, files)
    last, _, _ = results(kafka_conn, topic, 3)
    assert {t: r["status"] for t, r in last.items()} == {f"t-{i:04d}": "success" for i in range(3)}
