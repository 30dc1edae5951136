"""Kafka through confluent-kafka: batching and compression on, every delivery counted by its callback."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("producer")

DEFAULTS: dict[str, Any] = {
    "linger.ms": 20,  # wait up to 20 ms to fill a batch: throughput without noticeable latency in realtime mode
    "batch.size": 1_000_000,
    "compression.type": "lz4",
    "acks": "all",
    "queue.buffering.max.messages": 500_000,
    "queue.buffering.max.kbytes": 512 * 1024,
    "message.timeout.ms": 60_000,  # an event not delivered within a minute counts as failed
    # the largest message sent: a longer line is rejected as malformed (set it to the broker's own limit)
    "message.max.bytes": 1_000_000,
    "client.id": "tripclick-producer",
}


class BrokersUnreachable(RuntimeError):
    """No broker answered: nothing was sent."""


class Sender:
    def __init__(self, brokers: str, topic: str, options: dict[str, Any]) -> None:
        from confluent_kafka import Producer

        self.brokers, self.topic = brokers, topic
        self.max_bytes = int({**DEFAULTS, **options}["message.max.bytes"]) - 512  # room for the record's framing
        self.produced = self.failed = 0
        self.errors: dict[str, int] = {}
        # Only failed deliveries call back: counting each success in Python cost ~0.7 us an event. Delivered is
        # then what was produced, minus the failures, minus what was still queued when flush gave up.
        self._producer = Producer(
            {
                **DEFAULTS,
                **options,
                "bootstrap.servers": brokers,
                "delivery.report.only.error": True,
                "on_delivery": self._delivered,
            }
        )
        self._left = 0
        self._closed = False

    def check(self, timeout: float = 10.0) -> None:
        """Fail fast, with the brokers named, when none can be reached."""
        from confluent_kafka import KafkaException

        try:
            self._producer.list_topics(timeout=timeout)
        except KafkaException as exc:
            raise BrokersUnreachable(
                f"no Kafka broker reachable at {self.brokers} within {timeout:.0f}s: "
                f"{exc.args[0].str() if exc.args else exc}"
            ) from exc

    @property
    def delivered(self) -> int:
        """Produced, minus failed, minus still queued (len(producer): in flight now; after close: given up on)."""
        queued = self._left if self._closed else len(self._producer)
        return self.produced - self.failed - queued

    def _delivered(self, err: Any, _msg: Any) -> None:
        if err is None:
            return
        self.failed += 1
        reason = err.str()
        if reason not in self.errors:
            log.warning("Delivery failed: %s", reason)
        self.errors[reason] = self.errors.get(reason, 0) + 1

    def send(self, key: str, value: bytes) -> None:
        while True:
            try:
                self._producer.produce(self.topic, value=value, key=key)
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                self._producer.poll(0.05)
        self.produced += 1
        if self.produced % 1000 == 0:
            self._producer.poll(0)

    def wait(self, seconds: float) -> None:
        """Sleep while serving delivery callbacks."""
        self._producer.poll(seconds)

    def close(self, timeout: float = 60.0) -> int:
        """Flush; returns how many events were never delivered (failed, or still queued at the timeout)."""
        left = self._left = self._producer.flush(timeout)
        self._closed = True
        if left:
            log.warning("%d events still queued after %.0fs: counted as undelivered", left, timeout)
        return self.failed + left
