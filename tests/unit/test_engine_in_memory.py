"""The engine's logic on in-memory endpoints (tests/memory.py) and the real ledger: a route moved once and only
once, a file that cannot be read failing alone with its code, a file changed since listing refused, the
task-message steps sorting what they can move from what they cannot, and the outbox publisher's refusals and
outages. Each runs in well under a second after PostgreSQL is up; what only a real server proves is in
tests/integration."""

from __future__ import annotations

import hashlib
from typing import Any

import psycopg2

from filepool.ledger import Ledger
from filepool.ledger.inbox import TakenMessage, take_messages
from filepool.ledger.outbox import pending
from filepool.settings import Settings
from filepool.transfer.discovery import Selection, discover
from filepool.transfer.message_pairs import file_versions, job_of, pair_of
from filepool.transfer.messages import TaskMessage
from filepool.transfer.publish import Publisher
from filepool.transfer.route import Route
from filepool.transfer.task import TransferTask
from tests.helpers import ledger_rows
from tests.memory import MemoryDestination, MemoryFile, MemorySink, MemorySource, io_error

ROUTE = Route("mem://src/data", "mem://dst/", "/data", "in/")
EVERY_FILE_AT_ONCE = Selection("*", True, settle=0, min_age=0)


def files(n: int, size: int = 3000) -> dict[str, MemoryFile]:
    return {f"/data/d{i % 3}/f{i}.bin": MemoryFile(bytes([i % 251]) * (size + i)) for i in range(n)}


def run(source: MemorySource, destination: MemoryDestination, threads: int = 4) -> dict[str, Any]:
    task = TransferTask("filepool_ledger", "memory-worker", ROUTE, threads, Settings.load(), EVERY_FILE_AT_ONCE)
    return task.run(source, destination)


def statuses(uri: str) -> dict[str, int]:
    return dict(ledger_rows(uri, "SELECT status, count(*) FROM filepool_files GROUP BY status"))


def test_a_route_moves_each_file_once_with_its_bytes_and_a_second_run_moves_nothing(ledger_uri: str) -> None:
    source, destination = MemorySource(files(120)), MemoryDestination(part=1024)
    first = run(source, destination)
    assert (first["files_transferred"], first["files_failed"]) == (120, 0)
    expected = {"in/" + p.removeprefix("/data/"): f.data for p, f in source.files.items()}
    assert destination.objects == expected
    checksums = dict(ledger_rows(ledger_uri, "SELECT source_path, checksum FROM filepool_files"))
    assert checksums == {p: hashlib.sha256(f.data).hexdigest() for p, f in source.files.items()}
    second = run(source, destination)
    assert second["files_transferred"] == 0
    assert set(destination.writes.values()) == {1}  # every object written once over both runs
    assert statuses(ledger_uri) == {"COMPLETED": 120}


def test_a_file_that_cannot_be_read_fails_alone_with_its_code(ledger_uri: str) -> None:
    tree = files(30)
    source = MemorySource(tree, failing={"/data/d1/f4.bin": io_error("/data/d1/f4.bin")})
    destination = MemoryDestination(part=1024)
    summary = run(source, destination)
    assert (summary["files_transferred"], summary["files_failed"]) == (29, 1)
    assert "in/d1/f4.bin" not in destination.objects and "in/d1/f4.bin" in destination.aborted
    [(code, path)] = ledger_rows(
        ledger_uri, "SELECT error_code, source_path FROM filepool_files WHERE status <> 'COMPLETED'"
    )
    assert (code, path) == ("IO_ERROR", "/data/d1/f4.bin")


def test_a_file_rewritten_after_listing_is_not_copied_as_the_version_listed(ledger_uri: str) -> None:
    source = MemorySource(files(5))
    ledger = Ledger(lambda: psycopg2.connect(ledger_uri), "lister")
    discover(ledger, ROUTE, source, EVERY_FILE_AT_ONCE)
    source.files["/data/d0/f0.bin"] = MemoryFile(b"new and longer content" * 500, mtime=2_000_000.0)
    task = TransferTask("filepool_ledger", "w", ROUTE, 2, Settings.load(), None)  # moves the queue, lists nothing
    summary = task.run(source, MemoryDestination())
    assert summary["files_failed"] == 1
    assert ledger_rows(ledger_uri, "SELECT error_code FROM filepool_files WHERE source_path = '/data/d0/f0.bin'") == [
        ("SOURCE_CHANGED",)
    ]


def test_task_message_steps_sort_what_can_move_from_what_cannot(ledger_uri: str) -> None:
    source = MemorySource({"/out/a.csv": MemoryFile(b"a" * 10), "/out/b.csv": MemoryFile(b"b" * 20)})
    members = [
        (0, TaskMessage("t0", "ftp_a", "/out/a.csv", "local_b", "a.csv")),
        (1, TaskMessage("t1", "ftp_a", "/out/missing.csv", "local_b", "m.csv")),
        (2, TaskMessage("t2", "ftp_a", "/out/b.csv", "local_b", "b.csv")),
    ]
    pair = ("ftp_a", "ftp", "local_b", "local")
    assert pair_of(job_of(pair)) == pair
    ledger = Ledger(lambda: psycopg2.connect(ledger_uri), "w")
    versions = file_versions(source, MemoryDestination(), members, ledger, job_of(pair))
    assert {i: (v.source_path, v.size, v.destination) for i, v in versions.found.items()} == {
        0: ("/out/a.csv", 10, "a.csv"),
        2: ("/out/b.csv", 20, "b.csv"),
    }
    assert {i: e.code for i, e in versions.refused.items()} == {1: "FILE_NOT_FOUND"}


def test_the_publisher_parks_what_a_broker_refuses_alone_and_keeps_what_an_outage_held(ledger_uri: str) -> None:
    ledger = Ledger(lambda: psycopg2.connect(ledger_uri), "w")
    reply = {"conn_id": "k", "results": "results", "failures": "failures"}
    taken = [
        TakenMessage(f"t{i}", f"d{i}", {"src_path": f"/p{i}"}, None, None, {"task_id": f"t{i}", "status": "failure"})
        for i in range(4)
    ]
    take_messages(ledger, taken, reply)
    sink = MemorySink(down="broker unreachable")
    publisher = Publisher(lambda: Ledger(lambda: psycopg2.connect(ledger_uri), "p"), lambda _c, _id: sink, park_after=2)
    assert publisher.publish() == 0 and pending(ledger) == {"kafka": 4}  # an outage holds them, counts no refusal
    sink.down = None
    sink.refuse = lambda item: "too large" if item[1] == "t2" else None
    for _ in range(3):
        publisher.publish()
        ledger_rows(ledger_uri, "UPDATE filepool_outbox SET next_attempt_at = now() WHERE sent_at IS NULL")
    assert sorted(item[1] for item in sink.sent) == ["t0", "t1", "t3"]
    assert publisher.parked == 1 and pending(ledger) == {}
    publisher.close()
