"""Arrival notifications over AMQP on a real RabbitMQ (Debian's rabbitmq-server): one persistent, confirmed
message per COMPLETED file, sent through the ledger's outbox; RabbitMQ stopped for 10 s in the middle of a run
delays notifications and loses none."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from filepool.endpoints.local import LocalWriter
from tests.helpers import age, ledger_rows, write_tree
from tests.integration.test_ftp_local import download

pytestmark = pytest.mark.integration
QUEUE = "arrivals"


@pytest.fixture
def amqp(rabbitmq_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AIRFLOW_CONN_FILEPOOL_AMQP", rabbitmq_server.conn())
    conn = rabbitmq_server.channel()
    channel = conn.channel()
    channel.queue_delete(QUEUE)
    channel.queue_declare(QUEUE, durable=True)
    conn.close()
    return rabbitmq_server


def drain_queue(server: Any) -> list[dict[str, Any]]:
    conn = server.channel()
    channel = conn.channel()
    found = []
    while True:
        method, properties, body = channel.basic_get(QUEUE, auto_ack=True)
        if method is None:
            break
        payload = json.loads(body)
        assert properties.message_id == payload["message_id"] and properties.delivery_mode == 2
        found.append(payload)
    conn.close()
    return found


def sent_events(uri: str) -> list[str]:
    rows = ledger_rows(uri, "SELECT details->>'message_id' FROM filepool_file_events WHERE event = 'amqp_notify_sent'")
    return [r for (r,) in rows]


def test_a_broker_outage_delays_notifications_and_loses_none(
    amqp: Any,
    ftp_conns: None,
    sftp_root: Path,
    local_base: Path,
    ledger_uri: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = write_tree(sftp_root, 1500, size=2000)
    age(sftp_root)
    outage: dict[str, float] = {}
    # 3 ms a file: the run lasts past the first notifications whatever the engine's speed (1,500 small files took
    # 2.3 s, all of them done before the first notification went out), so the broker goes down mid-run.
    commit = LocalWriter.commit

    def slow_commit(self: LocalWriter, sha256: bytes) -> Any:
        time.sleep(0.003)
        return commit(self, sha256)

    monkeypatch.setattr(LocalWriter, "commit", slow_commit)

    def stop_for_ten_seconds() -> None:  # once the first notifications went out, with files still to move
        deadline = time.monotonic() + 120
        while not sent_events(ledger_uri) and time.monotonic() < deadline:
            time.sleep(0.05)
        [(done,)] = ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_files WHERE status = 'COMPLETED'")
        outage["completed_when_stopped"] = done
        amqp.stop(keep_data=True)
        time.sleep(10)
        amqp.start()
        outage["restarted"] = time.monotonic()

    breaker = threading.Thread(target=stop_for_ten_seconds)
    breaker.start()
    summary = download(sftp_root, threads=2, notify_amqp_conn_id="filepool_amqp", notify_routing_key=QUEUE)
    breaker.join()
    assert summary["files_transferred"] == len(files)
    assert outage["completed_when_stopped"] < len(files)  # the broker went down mid-run
    assert summary["notifications"] == {"sent": len(files), "left": {}}, summary["notifications"]

    found = drain_queue(amqp)
    ids = {m["message_id"] for m in found}
    completed = ledger_rows(ledger_uri, "SELECT id, destination, size, checksum FROM filepool_files")
    assert ids == {f"filepool-file-{i}" for i, _, _, _ in completed}
    by_id = {m["message_id"]: m for m in found}
    for file_id, destination, size, checksum in completed:
        m = by_id[f"filepool-file-{file_id}"]
        assert (m["destination"], m["size"], m["sha256"]) == (destination, size, checksum)
    assert sorted(sent_events(ledger_uri)) == sorted(ids)  # one event per file, with its message id
    print({"files": len(files), "raw_messages": len(found), "distinct_ids": len(ids), **outage})


def test_a_route_without_notifications_sends_none(
    amqp: Any, ftp_conns: None, sftp_root: Path, local_base: Path, ledger_uri: str
) -> None:
    write_tree(sftp_root, 20, size=100)
    age(sftp_root)
    download(sftp_root, notify_amqp_conn_id="filepool_amqp", notify_routing_key=QUEUE, max_files=5)
    summary = download(sftp_root)  # the same route, notifications now off
    assert summary["files_transferred"] == 15 and "notifications" not in summary
    assert len(drain_queue(amqp)) == 5
    assert ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_outbox") == [(5,)]
