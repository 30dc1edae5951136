"""The outbox on a real PostgreSQL: task messages taken by task_id (first wins, duplicates and conflicts told
apart), results written by the transition that ends a file, notifications per route, and a publisher's batch
that rolls back when it dies."""

from __future__ import annotations

import psycopg2
import pytest

from filepool.ledger import Completion, DiscoveredFile, Failure, Ledger
from filepool.ledger.inbox import TakenMessage, jobs_due, take_messages
from filepool.ledger.outbox import notify_route, outbox_batch, pending
from tests.helpers import ledger_rows

pytestmark = pytest.mark.integration
JOB = "ftp://filepool_ftp -> local://filepool_local"
REPLY = {"conn_id": "filepool_kafka", "results": "ftp-results", "failures": "ftp-failures"}


def make(uri: str, worker: str = "w1") -> Ledger:
    ledger = Ledger(lambda: psycopg2.connect(uri), worker)
    ledger.migrate()
    return ledger


def message(task_id: str, path: str, dst: str = "out/x", digest: str | None = None) -> TakenMessage:
    fields = {"src_id": "filepool_ftp", "src_path": path, "dst_id": "filepool_local", "dst_path": dst}
    return TakenMessage(task_id, digest or f"d-{path}-{dst}", fields, JOB, DiscoveredFile(path, 10, 1000.0, dst, None))


def outbox(uri: str) -> list[tuple[str, str, str, str]]:
    return ledger_rows(
        uri,
        "SELECT channel, message_key, target->>'topic', payload->>'status' FROM filepool_outbox ORDER BY id",
    )


def test_first_task_id_wins_and_each_message_is_answered_once(ledger_uri: str) -> None:
    ledger = make(ledger_uri)
    verdicts = take_messages(ledger, [message("t1", "/a"), message("t2", "/a"), message("t3", "/b")], REPLY)
    assert verdicts == {"t1": "new", "t2": "new", "t3": "new"}
    # the same again: duplicates; t3 with other content: a conflict, nothing registered for it
    verdicts = take_messages(ledger, [message("t1", "/a"), message("t3", "/c", digest="other")], REPLY)
    assert verdicts == {"t1": "duplicate", "t3": "conflict"}
    assert ledger_rows(ledger_uri, "SELECT source_path FROM filepool_files ORDER BY 1") == [("/a",), ("/b",)]

    claimed = ledger.claim_batch(JOB, 10, 60).files
    by_path = {f.source_path: f for f in claimed}
    ledger.complete([Completion(by_path["/a"].id, 1, 10, "ab", "sha256", None, 0.1, 0.1, 0.25)])
    ledger.fail([Failure(by_path["/b"].id, 1, "FILE_NOT_FOUND", "gone", None)])
    # /a answers both messages that named it; /b failed with no attempt left
    assert sorted(outbox(ledger_uri)) == [
        ("kafka", "t1", "ftp-results", "success"),
        ("kafka", "t2", "ftp-results", "success"),
        ("kafka", "t3", "ftp-failures", "failure"),
    ]
    payload = ledger_rows(ledger_uri, "SELECT payload FROM filepool_outbox WHERE message_key = 't3'")[0][0]
    assert payload["error_code"] == "FILE_NOT_FOUND" and payload["src_path"] == "/b"

    # a later message for a version moved already is answered at once, and moves nothing
    assert take_messages(ledger, [message("t4", "/a")], REPLY) == {"t4": "new"}
    assert ("kafka", "t4", "ftp-results", "success") in outbox(ledger_uri)
    assert ledger.claim_batch(JOB, 10, 60).files == []


def test_retention_forgets_the_task_messages_of_pruned_files_and_a_late_repeat_moves_nothing(ledger_uri: str) -> None:
    ledger = make(ledger_uri)
    refusal = {"task_id": "bad", "status": "failure", "error_code": "INVALID_CONFIG", "error_message": "no"}
    refused = TakenMessage("bad", "d", {"src_id": "x"}, None, None, refusal)
    take_messages(ledger, [message("done", "/a"), message("failing", "/b"), refused], REPLY)
    by_path = {f.source_path: f for f in ledger.claim_batch(JOB, 10, 60).files}
    ledger.complete([Completion(by_path["/a"].id, 1, 10, "ab", "sha256", None, 0.1, 0.1, 0.25)])
    ledger.fail([Failure(by_path["/b"].id, 1, "NETWORK_ERROR", "reset", 0.0)])  # attempts left: its row stays
    conn = psycopg2.connect(ledger_uri)
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE filepool_files SET completed_at = now() - interval '8 days' WHERE status = 'COMPLETED'")
        cur.execute("UPDATE filepool_task_messages SET received_at = now() - interval '8 days'")
    conn.close()
    assert ledger.prune_completed(7 * 86400) == 1
    assert ledger.rows("prune_task_messages", older_than=7 * 86400) == [(2,)]  # "done" and "bad"
    assert ledger_rows(ledger_uri, "SELECT task_id FROM filepool_task_messages") == [("failing",)]
    # "done" again, after its row went: taken as new, answered as moved earlier, nothing to move
    assert take_messages(ledger, [message("done", "/a")], REPLY) == {"done": "new"}
    answers = ledger_rows(
        ledger_uri, "SELECT payload->>'moved_earlier' FROM filepool_outbox WHERE message_key = 'done' ORDER BY id"
    )
    assert answers == [(None,), ("true",)]
    assert [f.source_path for f in ledger.claim_batch(JOB, 10, 60).files] == ["/b"]


def test_a_failure_with_attempts_left_is_not_a_result(ledger_uri: str) -> None:
    ledger = make(ledger_uri)
    take_messages(ledger, [message("t1", "/a")], REPLY)
    [claimed] = ledger.claim_batch(JOB, 10, 60).files
    ledger.fail([Failure(claimed.id, 1, "NETWORK_ERROR", "reset", 0.0)])
    assert outbox(ledger_uri) == []
    [claimed] = ledger.claim_batch(JOB, 10, 60).files
    ledger.complete([Completion(claimed.id, 2, 10, "ab", "sha256", None, 0.1, 0.1, 0.2)])
    assert outbox(ledger_uri) == [("kafka", "t1", "ftp-results", "success")]


def test_refused_messages_are_answered_at_once(ledger_uri: str) -> None:
    ledger = make(ledger_uri)
    refusal = {"task_id": "bad", "status": "failure", "error_code": "INVALID_CONFIG", "error_message": "no"}
    taken = TakenMessage("bad", "d", {"src_id": "x"}, None, None, refusal)
    assert take_messages(ledger, [taken], REPLY) == {"bad": "new"}
    assert outbox(ledger_uri) == [("kafka", "bad", "ftp-failures", "failure")]


def test_notifications_per_route_and_a_publisher_that_dies_sends_again(ledger_uri: str) -> None:
    ledger = make(ledger_uri)
    target = {"conn_id": "filepool_amqp", "exchange": "files", "routing_key": "arrived"}
    notify_route(ledger, JOB, target)
    ledger.register(JOB, [DiscoveredFile("/n1", 10, 1.0, "n1"), DiscoveredFile("/n2", 10, 1.0, "n2")])
    ledger.register("other", [DiscoveredFile("/o", 10, 1.0, "o")])
    for job in (JOB, "other"):
        ledger.complete(
            [Completion(f.id, 1, 10, "ab", "sha256", None, 0, 0, 0) for f in ledger.claim_batch(job, 10, 60).files]
        )
    assert pending(ledger) == {"amqp": 2}  # the other route does not notify
    with pytest.raises(RuntimeError), outbox_batch(ledger, "amqp") as batch:
        assert len(batch.messages) == 2
        raise RuntimeError("killed after sending")
    with outbox_batch(ledger, "amqp") as batch:
        ids = [m.payload["message_id"] for m in batch.messages]
        assert all(m.payload["sha256"] == "ab" and m.payload["size"] == 10 for m in batch.messages)
        batch.sent([m.id for m in batch.messages])
    assert pending(ledger) == {}
    events = ledger_rows(
        ledger_uri, "SELECT details->>'message_id' FROM filepool_file_events WHERE event = 'amqp_notify_sent'"
    )
    assert sorted(e for (e,) in events) == sorted(ids)
    notify_route(ledger, JOB, None)
    assert ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_notify_routes") == [(0,)]


def test_an_intakes_waiting_and_retry_due_files_are_found_for_its_next_run(ledger_uri: str) -> None:
    """What an intake run moves first, before it consumes: its messages' files still waiting (a run killed after its
    commit), with a lapsed lease, or FAILED with a retry due; never another intake's, nor a final failure."""
    ledger = make(ledger_uri)
    take_messages(ledger, [message("t1", "/a"), message("t2", "/b")], REPLY)
    other = {**REPLY, "results": "other-results"}
    take_messages(
        ledger, [TakenMessage("o1", "d-o", {}, "ftp://x -> local://y", DiscoveredFile("/o", 1, 1.0, "o"))], other
    )
    assert jobs_due(ledger, REPLY) == [JOB]  # waiting: its run was killed before it moved them
    first, second = ledger.claim_batch(JOB, 2, 60).files
    assert jobs_due(ledger, REPLY) == []  # in progress with a live lease
    ledger.fail(
        [Failure(first.id, 1, "IO_ERROR", "denied", 0.0), Failure(second.id, 1, "FILE_NOT_FOUND", "gone", None)]
    )
    assert jobs_due(ledger, REPLY) == [JOB]  # a retry due now
    [again] = ledger.claim_batch(JOB, 2, 60).files
    ledger.fail([Failure(again.id, 2, "IO_ERROR", "denied", None)])
    assert jobs_due(ledger, REPLY) == []  # both final: nothing to move, never answered twice
