"""The outbox's publisher on real brokers (Tansu for Kafka, RabbitMQ for AMQP): a record a broker refuses on its
own never holds up the ones behind it, a record too large is cut to fit and says so, one refused again and again
is parked where the File transfers page shows it, and every record carries a version consumers keep the highest
of."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg2
import pytest

from filepool.events.sinks import open_sink
from filepool.ledger import Completion, DiscoveredFile, Failure, Ledger
from filepool.ledger.inbox import TakenMessage, take_messages
from filepool.ledger.outbox import notify_route, pending
from filepool.plugin.overview import Overview, Scope
from filepool.transfer.publish import Publisher
from tests.helpers import ledger_rows

pytestmark = pytest.mark.integration
JOB = "ftp://filepool_ftp -> local://filepool_local"


def make(uri: str) -> Ledger:
    ledger = Ledger(lambda: psycopg2.connect(uri), "w1")
    ledger.migrate()
    return ledger


def queue_result(uri: str, topic: str, key: str, payload: dict[str, Any]) -> int:
    [(outbox_id,)] = ledger_rows(
        uri,
        "INSERT INTO filepool_outbox (channel, target, message_key, payload) VALUES ('kafka', %s, %s, %s) RETURNING id",
        (json.dumps({"conn_id": "filepool_kafka", "topic": topic}), key, json.dumps(payload)),
    )
    return int(outbox_id)


def test_a_refused_or_oversized_result_never_holds_up_the_others(kafka_conn: Any, ledger_uri: str) -> None:
    topic = f"results-{uuid.uuid4().hex[:6]}"
    kafka_conn.create_topic(topic)
    ledger = make(ledger_uri)
    bad = queue_result(ledger_uri, "bad topic!", "t-bad", {"task_id": "t-bad", "status": "failure"})
    big = queue_result(
        ledger_uri, topic, "t-big", {"task_id": "t-big", "status": "failure", "error_message": "e" * 2_000_000}
    )
    good = [queue_result(ledger_uri, topic, f"t-{i}", {"task_id": f"t-{i}", "status": "success"}) for i in range(20)]
    publisher = Publisher(lambda: make(ledger_uri), open_sink, park_after=2)
    publisher.publish()
    assert publisher.sent["kafka"] == 21  # all but the one for a topic no broker takes

    records = {r.key().decode(): json.loads(r.value()) for r in kafka_conn.consume(topic, 21)}
    assert set(records) == {"t-big", *(f"t-{i}" for i in range(20))}
    assert records["t-big"]["truncated"] == {"error_message": 2_000_000}
    assert 900_000 < len(records["t-big"]["error_message"]) < 1_000_000
    assert {records[f"t-{i}"]["record_version"] for i in range(20)} == set(good)
    assert records["t-big"]["record_version"] == big

    [(attempts, error, waits, parked)] = ledger_rows(
        ledger_uri,
        "SELECT attempts, last_error, next_attempt_at IS NOT NULL, parked_at IS NOT NULL"
        " FROM filepool_outbox WHERE id = %s",
        (bad,),
    )
    assert (attempts, waits, parked) == (1, True, False) and "Invalid topic" in error  # it waits for its next try
    ledger_rows(ledger_uri, "UPDATE filepool_outbox SET next_attempt_at = now() WHERE id = %s", (bad,))
    publisher.publish()
    assert publisher.parked == 1
    page = Overview(ledger).outbox(Scope(every=True))
    assert page["channels"] == {"kafka": {"pending": 0, "parked": 1}}
    assert [(m["id"], m["attempts"]) for m in page["parked"]] == [(bad, 2)]
    assert "topic" in page["parked"][0]["last_error"].lower()  # "Invalid topic", then librdkafka's "Unknown topic"
    assert Overview(ledger).send_again(bad) and pending(ledger) == {"kafka": 1}
    publisher.close()


def test_each_result_carries_a_version_so_a_late_failure_never_hides_the_success(
    kafka_conn: Any, ledger_uri: str
) -> None:
    """A file fails for good (a failure record), a user retries it from the page and it moves (a success record):
    the success's version is the higher, whatever order the two reach a consumer in."""
    topic = f"results-{uuid.uuid4().hex[:6]}"
    kafka_conn.create_topic(topic)
    ledger = make(ledger_uri)
    fields = {"src_id": "filepool_ftp", "src_path": "/a", "dst_id": "filepool_local", "dst_path": "a"}
    taken = TakenMessage("t1", "d1", fields, JOB, DiscoveredFile("/a", 10, 1.0, "a"))
    take_messages(ledger, [taken], {"conn_id": "filepool_kafka", "results": topic, "failures": topic})
    [claimed] = ledger.claim_batch(JOB, 1, 60).files
    ledger.fail([Failure(claimed.id, 1, "IO_ERROR", "denied", None)])
    assert Overview(ledger).retry_now(claimed.id, "admin")
    [again] = ledger.claim_batch(JOB, 1, 60).files
    ledger.complete([Completion(again.id, 2, 10, "ab", "sha256", None, 0, 0, 0)])
    publisher = Publisher(lambda: make(ledger_uri), open_sink)
    publisher.publish()
    records = [json.loads(r.value()) for r in kafka_conn.consume(topic, 2)]
    assert [r["status"] for r in records] == ["failure", "success"]
    kept = max(records, key=lambda r: r["record_version"])
    assert kept["status"] == "success"
    publisher.close()


def test_an_unroutable_notification_waits_alone_and_the_others_arrive(
    rabbitmq_server: Any, ledger_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_FILEPOOL_AMQP", rabbitmq_server.conn())
    conn = rabbitmq_server.channel()
    channel = conn.channel()
    queue = f"arrivals-{uuid.uuid4().hex[:6]}"
    channel.queue_declare(queue, durable=True)
    ledger = make(ledger_uri)
    notify_route(ledger, "nowhere", {"conn_id": "filepool_amqp", "exchange": "", "routing_key": "no-such-queue"})
    notify_route(ledger, JOB, {"conn_id": "filepool_amqp", "exchange": "", "routing_key": queue})
    ledger.register("nowhere", [DiscoveredFile("/n", 10, 1.0, "n")])  # registered first: its notification leads
    ledger.register(JOB, [DiscoveredFile(f"/f{i}", 10, 1.0, f"f{i}") for i in range(5)])
    for job in ("nowhere", JOB):
        ledger.complete(
            [Completion(f.id, 1, 10, "ab", "sha256", None, 0, 0, 0) for f in ledger.claim_batch(job, 10, 60).files]
        )
    publisher = Publisher(lambda: make(ledger_uri), open_sink)
    publisher.publish()
    arrived = []
    while (got := channel.basic_get(queue, auto_ack=True))[0] is not None:
        arrived.append(json.loads(got[2])["source_path"])
    conn.close()
    assert sorted(arrived) == [f"/f{i}" for i in range(5)]
    [(attempts, error)] = ledger_rows(
        ledger_uri, "SELECT attempts, last_error FROM filepool_outbox WHERE sent_at IS NULL"
    )
    assert attempts == 1 and "UnroutableError" in error
    publisher.close()
