"""The outbox's publisher: sends what the ledger's transitions wrote to filepool_outbox (result records to Kafka,
arrival notifications over AMQP) and marks it sent in the transaction that took it.

A publisher that dies after sending and before its transaction commits leaves the messages unsent in the ledger:
the next one sends them again, with the same key (a result record: consumers keep the last record per
`task_id`) or the same message id (a notification: consumers drop a message id seen already). Nothing is lost;
a repeat carries the identity to drop it by.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from filepool.exceptions import FilepoolError
from filepool.ledger import Ledger
from filepool.ledger.outbox import OutboxMessage, outbox_batch, pending

log = logging.getLogger(__name__)
CHANNELS = ("kafka", "amqp")


def _sink(channel: str, conn_id: str) -> Any:
    if channel == "kafka":
        from filepool.endpoints.kafka import KafkaSink

        return KafkaSink(conn_id)
    from filepool.endpoints.amqp import AMQPSink

    return AMQPSink(conn_id)


class Publisher:
    """Sends the outbox, a batch at a time, through one sink per channel and connection (kept open)."""

    def __init__(self, connect: Callable[[], Ledger], batch: int = 500) -> None:
        self._connect = connect
        self._ledger: Ledger | None = None
        self.batch = batch
        self._sinks: dict[tuple[str, str], Any] = {}
        self.sent = {channel: 0 for channel in CHANNELS}
        self.last_error: str | None = None

    def publish(self) -> int:
        """Send what is in the outbox now (every channel); returns how many were sent. A broker that does not
        take a batch stops its channel for this call (the messages stay for the next)."""
        total = 0
        for channel in CHANNELS:
            while True:
                n = self._publish_batch(channel)
                total += max(n, 0)
                if n < self.batch:
                    break
        return total

    def drain(self, timeout: float, pause: float = 1.0) -> dict[str, int]:
        """Publish until the outbox is empty or `timeout` seconds passed (a broker down: retried every `pause`
        seconds, up to 10); returns what is still to send per channel."""
        deadline = time.monotonic() + timeout
        while True:
            self.publish()
            left = pending(self._ledger_now())
            if not left or time.monotonic() >= deadline:
                return left
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 10.0)

    def _ledger_now(self) -> Ledger:
        if self._ledger is None:
            self._ledger = self._connect()
        return self._ledger

    def _publish_batch(self, channel: str) -> int:
        """Send one batch; returns its size, or -1 when a broker refused it."""
        with outbox_batch(self._ledger_now(), channel, self.batch) as batch:
            by_conn: dict[str, list[OutboxMessage]] = {}
            for m in batch.messages:
                by_conn.setdefault(str(m.target.get("conn_id")), []).append(m)
            for conn_id, messages in by_conn.items():
                ids = [m.id for m in messages]
                try:
                    self._send(channel, conn_id, messages)
                except FilepoolError as exc:
                    self.last_error = exc.message
                    log.warning("[%s] %d messages stay in the outbox: %s", exc.code, len(messages), exc.message)
                    self._drop_sink(channel, conn_id)
                    batch.failed(ids, exc.message)
                    return -1
                batch.sent(ids)
                self.sent[channel] += len(ids)
            return len(batch.messages)

    def _send(self, channel: str, conn_id: str, messages: list[OutboxMessage]) -> None:
        sink = self._sinks.get((channel, conn_id))
        if sink is None:
            sink = self._sinks[(channel, conn_id)] = _sink(channel, conn_id)
        if channel == "kafka":
            sink.send([(m.target["topic"], m.key, m.payload, {"filepool-outbox-id": str(m.id)}) for m in messages])
        else:
            sink.send(
                [
                    (m.target.get("exchange") or "", m.target.get("routing_key") or "", m.key, m.payload)
                    for m in messages
                ]
            )

    def _drop_sink(self, channel: str, conn_id: str) -> None:
        sink = self._sinks.pop((channel, conn_id), None)
        if sink is not None:
            sink.close()

    def close(self) -> None:
        for key in list(self._sinks):
            self._drop_sink(*key)
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None


class PublisherThread(threading.Thread):
    """Publishes every `interval` seconds while a task moves files, so results and notifications leave within
    seconds of their transition; `stop()` ends it (the task drains what is left itself)."""

    def __init__(self, publisher: Publisher, interval: float = 2.0) -> None:
        super().__init__(name="outbox-publisher", daemon=True)
        self.publisher, self.interval = publisher, interval
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            try:
                self.publisher.publish()
            except Exception as exc:  # the ledger unreachable for a while: the next round tries again
                log.warning("Outbox publisher: %s", exc)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
