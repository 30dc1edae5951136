"""The claim ledger on a real PostgreSQL: migrations, idempotent registration, SKIP LOCKED claims, leases."""

from __future__ import annotations

import threading
import time

import psycopg2
import pytest

from filepool.ledger import Completion, Failure, Ledger
from filepool.ledger.repository import DiscoveredFile
from tests.helpers import ledger_rows

pytestmark = pytest.mark.integration
JOB = "sftp://s/data -> s3://a/b/"


def make(uri: str, worker: str = "w1") -> Ledger:
    return Ledger(lambda: psycopg2.connect(uri), worker)


def files(n: int) -> list[DiscoveredFile]:
    return [DiscoveredFile(f"/data/f{i}", i, 1000.0 + i, f"f{i}") for i in range(n)]


def done(file_id: int) -> Completion:
    return Completion(file_id, 1, "ab", "sha256", None, 0.1, 0.1, 0.2)


def test_concurrent_migrations_apply_once(ledger_uri: str) -> None:
    applied: list[list[str]] = []
    barrier = threading.Barrier(6)

    def start() -> None:
        ledger = make(ledger_uri)
        barrier.wait()
        applied.append(ledger.migrate())
        ledger.close()

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(a) for a in applied) == [0, 0, 0, 0, 0, 2]  # one start applied both migrations
    assert ledger_rows(ledger_uri, "SELECT version FROM filepool_migrations ORDER BY 1") == [(1,), (2,)]


def test_registration_is_idempotent_and_a_new_version_is_a_new_row(ledger_uri: str) -> None:
    ledger = make(ledger_uri)
    ledger.migrate()
    assert ledger.register(JOB, files(10)) == 10
    assert ledger.register(JOB, files(10)) == 0
    replaced = DiscoveredFile("/data/f3", 999, 5000.0, "f3")
    assert ledger.register(JOB, [replaced]) == 1
    events = ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_file_events WHERE event = 'discovered'")
    assert events == [(11,)]


def test_claims_from_concurrent_workers_never_overlap(ledger_uri: str) -> None:
    make(ledger_uri).migrate()
    make(ledger_uri).register(JOB, files(3000))
    seen: dict[str, list[int]] = {}

    def drain(name: str) -> None:
        ledger = make(ledger_uri, name)
        got: list[int] = []
        while batch := ledger.claim(JOB, 37, 60):
            got.extend(f.id for f in batch)
        seen[name] = got

    threads = [threading.Thread(target=drain, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [i for ids in seen.values() for i in ids]
    assert len(claimed) == 3000 and len(set(claimed)) == 3000
    assert sum(1 for ids in seen.values() if ids) >= 2
    assert ledger_rows(ledger_uri, "SELECT count(DISTINCT claimed_by) FROM filepool_files") == [(
        sum(1 for ids in seen.values() if ids),)]


def test_expired_lease_is_reclaimed_and_the_old_worker_is_fenced_off(ledger_uri: str) -> None:
    first, second = make(ledger_uri, "first"), make(ledger_uri, "second")
    first.migrate()
    first.register(JOB, files(1))
    [mine] = first.claim(JOB, 10, lease_seconds=0.2)
    assert second.claim(JOB, 10, 60) == []
    time.sleep(0.3)
    # A worker whose own lease lapsed (its heartbeat could not get through) does not claim its file a second time:
    # it still has it in flight, and a second copy would write it twice.
    assert first.claim(JOB, 10, 60) == []
    [theirs] = second.claim(JOB, 10, 60)
    assert theirs.id == mine.id and theirs.attempts == 2
    assert first.complete([done(mine.id)]) == set()  # the lease was lost: no write
    assert second.complete([done(theirs.id)]) == {theirs.id}
    events = [e for (e,) in ledger_rows(ledger_uri, "SELECT event FROM filepool_file_events ORDER BY id")]
    assert events == ["discovered", "claimed", "reclaimed_after_lease_expired", "completed"]


def test_heartbeat_keeps_the_lease(ledger_uri: str) -> None:
    ledger, other = make(ledger_uri, "a"), make(ledger_uri, "b")
    ledger.migrate()
    ledger.register(JOB, files(1))
    ledger.claim(JOB, 1, lease_seconds=0.5)
    for _ in range(4):
        time.sleep(0.25)
        ledger.extend_leases(0.5)
    assert other.claim(JOB, 1, 60) == []


def test_failure_backoff_and_final_failure(ledger_uri: str) -> None:
    ledger = make(ledger_uri)
    ledger.migrate()
    ledger.register(JOB, files(2))
    a, b = ledger.claim(JOB, 2, 60)
    ledger.fail([Failure(a.id, "IO_ERROR", "reset", retry_in=0.0), Failure(b.id, "FILE_NOT_FOUND", "gone", None)])
    again = ledger.claim(JOB, 10, 60)
    assert [f.id for f in again] == [a.id] and again[0].attempts == 2
    rows = ledger_rows(ledger_uri, "SELECT status, error_code, next_attempt_at FROM filepool_files WHERE id = %s",
                       (b.id,))
    assert rows == [("FAILED", "FILE_NOT_FOUND", None)]


def test_release_gives_files_back_without_counting_an_attempt(ledger_uri: str) -> None:
    ledger = make(ledger_uri)
    ledger.migrate()
    ledger.register(JOB, files(3))
    claimed = ledger.claim(JOB, 3, 60)
    assert ledger.release([f.id for f in claimed]) == 3
    assert ledger_rows(ledger_uri, "SELECT DISTINCT status, attempts FROM filepool_files") == [("DISCOVERED", 0)]


def test_requeue_expired_puts_stale_locks_back_with_an_event(ledger_uri: str) -> None:
    ledger = make(ledger_uri, "crashed")
    ledger.migrate()
    ledger.register(JOB, files(5))
    ledger.claim(JOB, 5, lease_seconds=0.01)
    time.sleep(0.05)
    assert make(ledger_uri, "janitor").requeue_expired() == 5
    assert ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_file_events WHERE event = 'lease_expired'") == [
        (5,)]
    assert ledger_rows(ledger_uri, "SELECT DISTINCT status FROM filepool_files") == [("DISCOVERED",)]


def test_files_of_dead_workers_on_this_host_go_back_at_once(ledger_uri: str) -> None:
    import os
    import subprocess

    from filepool.operators.runner import process_alive

    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that was a worker and is gone
    holders = {"dead": f"box_1:{dead.pid}:dag.t[0]:aa", "alive": f"box_1:{os.getpid()}:dag.t[1]:bb",
               "other host": f"box_2:{dead.pid}:dag.t[0]:cc", "like wildcard": f"boxX1:{dead.pid}:dag.t[0]:dd"}
    setup = make(ledger_uri)
    setup.migrate()
    setup.register(JOB, files(8))
    for name, holder in holders.items():
        assert len(make(ledger_uri, holder).claim(JOB, 2, 300)) == 2, name

    assert make(ledger_uri, "box_1:1:starting:ee").requeue_dead_on_host("box_1", process_alive) == 2
    held = ledger_rows(ledger_uri, "SELECT claimed_by, count(*) FROM filepool_files WHERE status = 'IN_PROGRESS' "
                                   "GROUP BY claimed_by ORDER BY 1")
    assert held == sorted((h, 2) for name, h in holders.items() if name != "dead")
    events = ledger_rows(ledger_uri, "SELECT count(*), min(details->>'previous_worker') FROM filepool_file_events "
                                     "WHERE event = 'worker_gone'")
    assert events == [(2, holders["dead"])]
