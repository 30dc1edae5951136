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
    "client.id": "tripclick-producer",
}


class BrokersUnreachable(RuntimeError):
    """No broker answered: nothing was sent."""


class Sender:
    def __init__(self, brokers: str, topic: str, options: dict[str, Any]) -> None:
        from confluent_kafka import Producer

        self.brokers, self.topic = brokers, topic
        self.produced = self.delivered = self.failed = 0
        self.errors: dict[str, int] = {}
        self._producer = Producer({**DEFAULTS, **options, "bootstrap.servers": brokers})

    def check(self, timeout: float = 10.0) -> None:
        """Fail fast, with the brokers named, when none can be reached."""
        from confluent_kafka import KafkaException

        try:
            self._producer.list_topics(timeout=timeout)
        except KafkaException as exc:
            raise BrokersUnreachable(f"no Kafka broker reachable at {self.brokers} within {timeout:.0f}s: "
                                     f"{exc.args[0].str() if exc.args else exc}") from exc

    def _delivered(self, err: Any, _msg: Any) -> None:
        if err is None:
            self.delivered += 1
            return
        self.failed += 1
        reason = err.str()
        if reason not in self.errors:
            log.warning("Delivery failed: %s", reason)
        self.errors[reason] = self.errors.get(reason, 0) + 1

    def send(self, key: str, value: bytes) -> None:
        while True:
            try:
                self._producer.produce(self.topic, value=value, key=key, on_delivery=self._delivered)
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
        left = self._producer.flush(timeout)
        if left:
            log.warning("%d events still queued after %.0fs: counted as undelivered", left, timeout)
        return self.failed + left
