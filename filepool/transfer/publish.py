"""The outbox's publisher: sends what the ledger's transitions wrote to filepool_outbox (result records to Kafka,
arrival notifications over AMQP) and marks it sent in the transaction that took it.

A publisher that dies after sending and before its transaction commits leaves the messages unsent in the ledger:
the next one sends them again, with the same key (a result record: consumers keep, per `task_id`, the record with
the highest `record_version`) or the same message id (a notification: consumers drop a message id seen already).
Nothing is lost; a repeat carries the identity to drop it by. A record a broker refuses on its own (too large
once cut, a topic that does not exist, unroutable) never holds up the others: it is tried again later, and parked
after PARK_AFTER refusals.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from filepool.bounded import fit
from filepool.exceptions import FilepoolError
from filepool.interfaces import Refusal, Sink, SinkOpener
from filepool.ledger import Ledger
from filepool.ledger.outbox import OutboxBatch, OutboxMessage, outbox_batch, pending

log = logging.getLogger(__name__)
CHANNELS = ("kafka", "amqp")
PARK_AFTER = 8  # refusals of one record (2, 4, 8 ... s apart: about 8 minutes) before it is parked
MAX_RECORD_BYTES = 1_000_000  # a record's largest size where its broker does not say


class Publisher:
    """Sends the outbox, a batch at a time, through one sink per channel and connection (kept open), each opened
    by `sinks` (filepool.events.sinks.open_sink: the engine names no broker)."""

    def __init__(
        self, connect: Callable[[], Ledger], sinks: SinkOpener, batch: int = 500, park_after: int = PARK_AFTER
    ) -> None:
        self._connect = connect
        self._open_sink = sinks
        self._ledger: Ledger | None = None
        self.batch = batch
        self.park_after = park_after
        self.parked = 0
        self._sinks: dict[tuple[str, str], Sink] = {}
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
        """Send one batch; returns its size, or -1 when a broker could not be reached (the channel waits for the
        next call). A record a broker refuses on its own waits and, refused again and again, is parked: the
        others go on."""
        with outbox_batch(self._ledger_now(), channel, self.batch) as batch:
            by_conn: dict[str, list[OutboxMessage]] = {}
            for m in batch.messages:
                by_conn.setdefault(str(m.target.get("conn_id")), []).append(m)
            reachable = True
            for conn_id, messages in by_conn.items():
                try:
                    refused = self._send(channel, conn_id, messages)
                except FilepoolError as exc:  # no sink at all (an unknown connection, a broken configuration)
                    refused = {i: Refusal(exc.message, True) for i in range(len(messages))}
                down = {messages[i].id: r.why for i, r in refused.items() if r.down}
                alone = {messages[i].id: r.why for i, r in refused.items() if not r.down}
                sent = [m.id for i, m in enumerate(messages) if i not in refused]
                batch.sent(sent)
                self.sent[channel] += len(sent)
                if down:
                    reachable = False
                    self.last_error = next(iter(down.values()))
                    log.warning("[PUBLISH_ERROR] %d messages stay in the outbox: %s", len(down), self.last_error)
                    self._drop_sink(channel, conn_id)
                    batch.failed(list(down), self.last_error)
                if alone:
                    self._refused(batch, alone)
            return len(batch.messages) if reachable else -1

    def _refused(self, batch: OutboxBatch, alone: dict[int, str]) -> None:
        self.last_error = next(iter(alone.values()))
        log.warning(
            "[PUBLISH_ERROR] %d messages refused by the broker, each tried again later: %s", len(alone), self.last_error
        )
        for outbox_id in batch.refused(alone, self.park_after):
            self.parked += 1
            log.error(
                "ALERT [MESSAGE_PARKED] outbox message %d was refused %d times and is parked (the File transfers "
                "page shows it and can send it again): %s",
                outbox_id,
                self.park_after,
                alone[outbox_id],
            )

    def _send(self, channel: str, conn_id: str, messages: list[OutboxMessage]) -> dict[int, Refusal]:
        """Each message with its version (`record_version`, the outbox id: a consumer keeps the highest per key),
        cut to what the broker takes; {index: why} of those the broker did not take."""
        sink = self._sinks.get((channel, conn_id))
        if sink is None:
            sink = self._sinks[(channel, conn_id)] = self._open_sink(channel, conn_id)
        limit = getattr(sink, "max_value_bytes", MAX_RECORD_BYTES)
        bodies = [fit({**m.payload, "record_version": m.id}, limit) for m in messages]
        if channel == "kafka":
            return sink.send_each(
                [
                    (m.target["topic"], m.key, body, {"filepool-outbox-id": str(m.id)})
                    for m, body in zip(messages, bodies, strict=True)
                ]
            )
        return sink.send_each(
            [
                (m.target.get("exchange") or "", m.target.get("routing_key") or "", m.key, body)
                for m, body in zip(messages, bodies, strict=True)
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
