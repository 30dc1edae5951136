"""The claim ledger on a real PostgreSQL: migrations, idempotent registration, SKIP LOCKED claims, leases."""

from __future__ import annotations

import threading
import time

import psycopg2
import pytest

from filepool.ledger import Completion, DiscoveredFile, Failure, Ledger, repository
from filepool.ledger.queries import migrations, queries
from tests.helpers import ledger_rows

pytestmark = pytest.mark.integration
JOB = "sftp://s/data -> s3://a/b/"


def make(uri: str, worker: str = "w1") -> Ledger:
    return Ledger(lambda: psycopg2.connect(uri), worker)


def files(n: int) -> list[DiscoveredFile]:
    return [DiscoveredFile(f"/data/f{i}", i, 1000.0 + i, f"f{i}") for i in range(n)]


def done(file_id: int, attempt: int = 1) -> Completion:
    return Completion(file_id, attempt, 1, "ab", "sha256", None, 0.1, 0.1, 0.2)


def test_concurrent_migrations_apply_once(empty_ledger_uri: str) -> None:
    applied: list[list[str]] = []
    barrier = threading.Barrier(6)

    def start() -> None:
        ledger = make(empty_ledger_uri)
        barrier.wait()
        applied.append(ledger.migrate())
        ledger.close()

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [version for version, _, _ in migrations()]
    assert sorted(len(a) for a in applied) == [0, 0, 0, 0, 0, len(every)]  # one start applied every migration
    assert ledger_rows(empty_ledger_uri, "SELECT version FROM filepool_migrations ORDER BY 1") == [(v,) for v in every]


def test_registration_is_idempotent_and_a_new_version_is_a_new_row(ledger_uri: str) -> None:
    ledger = make(ledger_uri)
    ledger.migrate()
    assert ledger.register(JOB, files(10)) == 10
    assert ledger.register(JOB, files(10)) == 0
    replaced = DiscoveredFile("/data/f3", 999, 5000.0, "f3")
    assert ledger.register(JOB, [replaced]) == 1
    events = ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_file_events WHERE event = 'discovered'")
    assert events == [(11,)]


def test_a_table_that_grew_fast_is_claimed_through_the_queue_index(ledger_uri: str) -> None:
    """3,000 files registered into a fresh ledger: the planner's statistics are refreshed on the way, so a claim
    reads the queue's index instead of scanning and sorting the whole table (autovacuum would only catch up a
    minute later)."""
    ledger = make(ledger_uri)
    for folder in range(3):
        ledger.register(JOB, [DiscoveredFile(f"/d{folder}/f{i}", i, 1.0, f"{folder}/f{i}") for i in range(1000)])
    claim = dict(job=JOB, worker="w1", lease=60, max_attempts=5, limit=8, after_id=0, path_prefix=None, mtime_from=None)
    conn = psycopg2.connect(ledger_uri)
    with conn, conn.cursor() as cur:
        cur.execute("EXPLAIN " + queries()["claim"], {**claim, "mtime_until": None})
        plan = "\n".join(row[0] for row in cur.fetchall())
    conn.close()
    assert "Index Scan using filepool_files_pending on filepool_files f " in plan, plan
    assert "Seq Scan on filepool_files" not in plan


@pytest.mark.parametrize("spread_from", [0, repository.CLAIM_SPREAD_FROM], ids=["spread", "from-the-head"])
def test_claims_from_concurrent_workers_never_overlap(
    ledger_uri: str, spread_from: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(repository, "CLAIM_SPREAD_FROM", spread_from)
    make(ledger_uri).migrate()
    make(ledger_uri).register(JOB, files(3000))
    seen: dict[str, list[int]] = {}

    def drain(name: str) -> None:
        ledger = make(ledger_uri, name)
        got: list[int] = []
        while batch := ledger.claim_batch(JOB, 37, 60).files:
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
    assert ledger_rows(ledger_uri, "SELECT count(DISTINCT claimed_by) FROM filepool_files") == [
        (sum(1 for ids in seen.values() if ids),)
    ]


def test_expired_lease_is_reclaimed_and_the_old_worker_is_fenced_off(ledger_uri: str) -> None:
    first, second = make(ledger_uri, "first"), make(ledger_uri, "second")
    first.migrate()
    first.register(JOB, files(1))
    [mine] = first.claim_batch(JOB, 10, lease_seconds=0.2).files
    assert second.claim_batch(JOB, 10, 60).files == []
    time.sleep(0.3)
    [theirs] = second.claim_batch(JOB, 10, 60).files
    assert theirs.id == mine.id and theirs.attempts == 2
    assert first.heartbeat(60) == set()  # the heartbeat says the file is no longer the first worker's
    assert first.complete([done(mine.id, mine.attempts)]) == set()  # the lease was lost: no write
    assert second.complete([done(theirs.id, theirs.attempts)]) == {theirs.id}
    events = [e for (e,) in ledger_rows(ledger_uri, "SELECT event FROM filepool_file_events ORDER BY id")]
    assert events == ["discovered", "claimed", "reclaimed_after_lease_expired", "completed"]


def test_a_worker_that_claims_its_own_lapsed_file_again_fences_off_its_earlier_attempt(ledger_uri: str) -> None:
    """ "Alive" is one rule for every worker, the claiming one too: its file claimed anew is a new attempt, and
    what the earlier attempt still had in flight can neither complete nor fail the row."""
    ledger = make(ledger_uri, "w")
    ledger.migrate()
    ledger.register(JOB, files(1))
    [first] = ledger.claim_batch(JOB, 1, lease_seconds=0.1).files
    time.sleep(0.2)
    [again] = ledger.claim_batch(JOB, 1, 60).files
    assert (again.id, again.attempts) == (first.id, 2)
    assert ledger.heartbeat(60) == {(again.id, 2)}
    assert ledger.fail([Failure(first.id, first.attempts, "IO_ERROR", "late", 0.0)]) == set()
    assert ledger.complete([done(first.id, first.attempts)]) == set()
    assert ledger.complete([done(again.id, again.attempts)]) == {again.id}


def test_heartbeat_keeps_the_lease(ledger_uri: str) -> None:
    ledger, other = make(ledger_uri, "a"), make(ledger_uri, "b")
    ledger.migrate()
    ledger.register(JOB, files(1))
    [mine] = ledger.claim_batch(JOB, 1, lease_seconds=0.5).files
    for _ in range(4):
        time.sleep(0.25)
        assert ledger.heartbeat(0.5) == {(mine.id, 1)}
    assert other.claim_batch(JOB, 1, 60).files == []
    assert make(ledger_uri, "janitor").requeue_expired() == (0, 0)


def test_failure_backoff_and_final_failure(ledger_uri: str) -> None:
    ledger = make(ledger_uri)
    ledger.migrate()
    ledger.register(JOB, files(2))
    a, b = ledger.claim_batch(JOB, 2, 60).files
    ledger.fail([Failure(a.id, 1, "IO_ERROR", "reset", retry_in=0.0), Failure(b.id, 1, "FILE_NOT_FOUND", "gone", None)])
    again = ledger.claim_batch(JOB, 10, 60).files
    assert [f.id for f in again] == [a.id] and again[0].attempts == 2
    rows = ledger_rows(
        ledger_uri, "SELECT status, error_code, next_attempt_at FROM filepool_files WHERE id = %s", (b.id,)
    )
    assert rows == [("FAILED", "FILE_NOT_FOUND", None)]


def test_release_gives_files_back_without_counting_an_attempt(ledger_uri: str) -> None:
    ledger = make(ledger_uri)
    ledger.migrate()
    ledger.register(JOB, files(3))
    claimed = ledger.claim_batch(JOB, 3, 60).files
    assert ledger.release(claimed) == 3
    assert ledger_rows(ledger_uri, "SELECT DISTINCT status, attempts FROM filepool_files") == [("DISCOVERED", 0)]


def test_requeue_expired_puts_stale_locks_back_with_an_event(ledger_uri: str) -> None:
    ledger = make(ledger_uri, "crashed")
    ledger.migrate()
    ledger.register(JOB, files(5))
    ledger.claim_batch(JOB, 5, lease_seconds=0.01)
    time.sleep(0.05)
    assert make(ledger_uri, "janitor").requeue_expired() == (5, 0)
    assert ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_file_events WHERE event = 'lease_expired'") == [(5,)]
    assert ledger_rows(ledger_uri, "SELECT DISTINCT status FROM filepool_files") == [("DISCOVERED",)]


def test_files_of_dead_workers_on_this_host_go_back_at_once(ledger_uri: str) -> None:
    import os
    import subprocess

    from filepool.ledger import WorkerIdentity
    from filepool.transfer.process import identity, process_start

    me = identity()
    assert me.pid_namespace and me.process_start
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that was a worker and is gone
    alive = os.getpid()
    workers = {
        "dead": WorkerIdentity(me.host, me.pid_namespace, dead.pid, "12345"),
        "pid reused by another process": WorkerIdentity(me.host, me.pid_namespace, alive, "1"),
        "alive": me,
        # host networking: another container, same host name, its own PID namespace where that pid lives
        "other container": WorkerIdentity(me.host, "pid:[1]", dead.pid, "12345"),
        "other host": WorkerIdentity("box_2", me.pid_namespace, dead.pid, "12345"),
        "unknown start (an older worker)": WorkerIdentity(me.host, me.pid_namespace, dead.pid, None),
    }
    setup = make(ledger_uri)
    setup.migrate()
    setup.register(JOB, files(12))
    for name, who in workers.items():
        ledger = make(ledger_uri, name)
        ledger.register_worker(who, 300)
        assert len(ledger.claim_batch(JOB, 2, 300).files) == 2, name

    janitor = make(ledger_uri, "starting")
    assert sorted(janitor.mark_gone_on_host(me, process_start)) == ["dead", "pid reused by another process"]
    assert janitor.requeue_expired() == (4, 0)
    held = ledger_rows(
        ledger_uri,
        "SELECT claimed_by, count(*) FROM filepool_files WHERE status = 'IN_PROGRESS' GROUP BY claimed_by ORDER BY 1",
    )
    assert held == sorted((name, 2) for name in workers if name not in ("dead", "pid reused by another process"))
    events = ledger_rows(
        ledger_uri,
        "SELECT details->>'previous_worker', count(*) FROM filepool_file_events "
        "WHERE event = 'worker_gone' GROUP BY 1 ORDER BY 1",
    )
    assert events == [("dead", 2), ("pid reused by another process", 2)]


def test_retention_keeps_what_was_moved_and_the_version_is_never_registered_again(ledger_uri: str) -> None:
    ledger = make(ledger_uri)
    ledger.migrate()
    ledger.register(JOB, files(3))
    claimed = ledger.claim_batch(JOB, 3, 60).files
    ledger.complete([done(f.id, f.attempts) for f in claimed])
    assert ledger.prune_completed(0) == 3
    assert ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_files") == [(0,)]
    assert ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_file_events") == [(0,)]
    assert ledger_rows(ledger_uri, "SELECT count(*), min(octet_length(version_key)) FROM filepool_moved") == [(3, 16)]
    assert ledger.register(JOB, files(3)) == 0  # still at the source: never moved again
    assert ledger.claim_batch(JOB, 10, 60).files == []
    replaced = DiscoveredFile("/data/f1", 1, 9999.0, "f1")  # a new version under the same name is new
    assert ledger.register(JOB, [replaced]) == 1
    looked_up = ledger.lookup(JOB, [("/data/f2", 2, 1002.0, "f2")])
    assert looked_up[("/data/f2", 2, 1002.0, "f2")]["status"] == "COMPLETED"


def test_registration_racing_retention_never_brings_a_version_back(ledger_uri: str) -> None:
    """Retention takes a lock that registrations share: a version pruned while it is being registered again is
    seen as moved, however the two statements interleave."""
    ledger = make(ledger_uri)
    ledger.migrate()
    ledger.register(JOB, files(2000))
    ledger.complete([done(f.id, f.attempts) for f in ledger.claim_batch(JOB, 2000, 60).files])
    registered: list[int] = []
    registering = threading.Thread(
        target=lambda: registered.extend(make(ledger_uri, "r").register(JOB, files(2000), batch=100) for _ in range(5))
    )
    registering.start()
    assert ledger.prune_completed(0, batch=50) == 2000
    registering.join()
    assert registered == [0] * 5
    assert ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_files") == [(0,)]


def test_a_file_whose_worker_dies_on_every_attempt_ends_with_worker_lost(ledger_uri: str) -> None:
    setup = make(ledger_uri)
    setup.migrate()
    setup.register(JOB, files(2))
    for attempt in (1, 2, 3):  # each worker claims both files and dies holding them
        got = make(ledger_uri, f"killed-{attempt}").claim_batch(JOB, 10, lease_seconds=0.05, max_attempts=3).files
        assert [f.attempts for f in got] == [attempt, attempt]
        time.sleep(0.1)
    # the stale-lock clean-up gives up the first file; the next claim gives up the second, and says so
    assert make(ledger_uri, "janitor").requeue_expired(limit=1, max_attempts=3) == (0, 1)
    claim = make(ledger_uri, "next").claim_batch(JOB, 1, 60, max_attempts=3)
    assert claim.files == [] and [f.source_path for f in claim.lost] == ["/data/f1"]
    rows = ledger_rows(ledger_uri, "SELECT status, error_code, attempts, next_attempt_at FROM filepool_files")
    assert rows == [("FAILED", "WORKER_LOST", 3, None)] * 2
    events = ledger_rows(
        ledger_uri,
        "SELECT details->>'error_code', details->>'previous_worker' "
        "FROM filepool_file_events WHERE event = 'failed' ORDER BY file_id",
    )
    assert events == [("WORKER_LOST", "killed-3")] * 2
    assert make(ledger_uri, "later").claim_batch(JOB, 10, 60, max_attempts=3).files == []


def test_a_task_is_refused_at_once_when_postgresql_has_no_room_for_its_connections(ledger_uri: str) -> None:
    """Backfills run up to 10 runs at once whatever max_active_runs says: rather than pile up on a full
    PostgreSQL, a task that cannot get its connections says so at its start."""
    import psycopg2

    from filepool.exceptions import LedgerError
    from filepool.settings import Settings
    from filepool.transfer.startup import LEDGER_CONNECTIONS_PER_TASK, open_ledger

    probe = make(ledger_uri)
    room = probe.connection_room()
    probe.close()
    held = [psycopg2.connect(ledger_uri) for _ in range(room - LEDGER_CONNECTIONS_PER_TASK + 3)]
    try:
        with pytest.raises(
            LedgerError, match=rf"takes -?\d+ more connections; a transfer task needs {LEDGER_CONNECTIONS_PER_TASK}"
        ):
            open_ledger(Ledger.opener("filepool_ledger", "w"), Settings.load())
    finally:
        for conn in held:
            conn.close()
    open_ledger(Ledger.opener("filepool_ledger", "w"), Settings.load()).close()


def test_a_worker_going_on_from_its_place_comes_back_for_a_retry_behind_it_within_sixteen_claims(
    ledger_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a queue claimed from spread places (Ledger.claim_batch; any size here), claims go on from where the
    worker's last one ended; a file behind that place whose backoff has passed is claimed by the head turn (every
    CLAIM_FROM_HEAD_EVERY-th claim), while files remain beyond the place - not only once they run out."""
    monkeypatch.setattr(repository, "CLAIM_SPREAD_FROM", 0)
    ledger = make(ledger_uri)
    ledger.register(JOB, [DiscoveredFile(f"/old/f{i}", i, 1.0, f"old/f{i}") for i in range(100)])
    while batch := ledger.claim_batch(JOB, 10, 60).files:
        ledger.complete([Completion(f.id, f.attempts, f.size, "x", "sha256", None, 0, 0, 0) for f in batch])
    first = min(ledger_rows(ledger_uri, "SELECT id FROM filepool_files"))[0]
    with psycopg2.connect(ledger_uri) as conn, conn.cursor() as cur:  # a retry that has become due
        cur.execute("UPDATE filepool_files SET status = 'FAILED', next_attempt_at = now() - interval '1 s' "
                    "WHERE id = %s", (first,))  # fmt: skip
    conn.close()
    ledger.register(JOB, [DiscoveredFile(f"/new/f{i}", i, 1.0, f"new/f{i}") for i in range(100)])
    claims = [[f.id for f in ledger.claim_batch(JOB, 5, 60).files] for _ in range(repository.CLAIM_FROM_HEAD_EVERY)]
    # 16 claims of 5 take 80 of the 100 new files beyond the place: the retry came by the head turn
    assert any(first in ids for ids in claims), claims
    assert len({i for ids in claims for i in ids}) == sum(len(ids) for ids in claims) == 80  # none twice
