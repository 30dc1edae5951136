"""Kafka through confluent-kafka: a consumer of task messages that commits only what the caller says is safe,
a dead-letter producer, and a sink for result records. Connections are Airflow `kafka` connections (the
apache-kafka provider's type): their extra is librdkafka's configuration, `bootstrap.servers` at least."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from filepool.airflow_connections import read_connection
from filepool.exceptions import InvalidConfig, PublishFailed
from filepool.extras import require
from filepool.interfaces import Refusal

log = logging.getLogger(__name__)

# Defaults a connection's extra may change: a new group reads the topic from its start; a consumer that died
# gives its partitions back after 10 s (librdkafka's 45 s would hold a killed task's partitions that long).
_CONSUMER_DEFAULTS = {"auto.offset.reset": "earliest", "session.timeout.ms": 10_000, "heartbeat.interval.ms": 2_000}
# Ours to decide: the consumer commits by hand, after the ledger has the messages.
_CONSUMER = {"enable.auto.commit": False, "enable.partition.eof": False}
# Idempotent producer: a retry inside librdkafka never writes a record twice.
_PRODUCER = {"enable.idempotence": True, "acks": "all", "linger.ms": 5, "message.timeout.ms": 30_000}
# librdkafka's and the brokers' default largest record (message.max.bytes); a connection's extra may say otherwise.
MAX_RECORD_BYTES = 1_000_000
_RECORD_OVERHEAD = 2048  # the key, headers and framing around a record's value


def kafka_config(conn_id: str) -> dict[str, Any]:
    """librdkafka's configuration from the Airflow connection `conn_id` (its extra; host:port if the extra has
    no `bootstrap.servers`), with what the apache-kafka provider adds to it (`with_provider_auth`)."""
    conn = read_connection(conn_id)
    config = {k: v for k, v in conn.extra.items() if isinstance(v, str | int | float | bool)}
    if "bootstrap.servers" not in config:
        if not conn.host:
            raise InvalidConfig(f"connection {conn_id!r} has no bootstrap.servers in its extra and no host")
        config["bootstrap.servers"] = f"{conn.host}:{conn.port or 9092}"
    return with_provider_auth(conn_id, config)


def with_provider_auth(conn_id: str, config: dict[str, Any]) -> dict[str, Any]:
    """`config` as the apache-kafka provider (2.x) completes a connection's: callbacks the extra names by their
    import path (`oauth_cb`, `error_cb`, ...) when `[apache_kafka] callback_allowlist` lists them, and the token
    callback of Amazon MSK IAM (OAUTHBEARER to an MSK cluster) or of Google's Managed Kafka. The provider builds no
    client here, and reads no connection: the one the task read is handed to it. Provider 1.x completes nothing."""
    from airflow.providers.apache.kafka.hooks.base import KafkaBaseHook

    if not hasattr(KafkaBaseHook, "_build_config"):  # provider 1.x
        return config

    class CompletingHook(KafkaBaseHook):
        @classmethod
        def get_connection(cls, conn_id: str) -> Any:
            return SimpleNamespace(extra_dejson=dict(config))

    try:
        return dict(CompletingHook(kafka_config_id=conn_id)._build_config())
    except Exception as exc:  # a callback the allowlist does not name; MSK IAM's signer not installed
        if isinstance(exc, ValueError) or type(exc).__name__ == "AirflowOptionalProviderFeatureException":
            raise InvalidConfig(f"Kafka connection {conn_id!r}: {exc}") from exc
        raise


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class TopicConsumer:
    """A consumer of one topic in a consumer group that commits offsets only when told (`commit`)."""

    def __init__(self, conn_id: str, topic: str, group: str) -> None:
        kafka = require("kafka")
        self.topic = topic
        self._consumer = kafka.Consumer({**_CONSUMER_DEFAULTS, **kafka_config(conn_id), **_CONSUMER, "group.id": group})
        self.assigned = False  # until the group gives this consumer its partitions (seconds, on some brokers)
        self._consumer.subscribe([topic], on_assign=self._on_assign)

    def _on_assign(self, _consumer: Any, partitions: list[Any]) -> None:
        self.assigned = True
        log.info("Consumer of %s in its group: partitions %s", self.topic, sorted(p.partition for p in partitions))

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        """Up to `max_records` records, waiting up to `timeout` seconds for the first."""
        from confluent_kafka import KafkaError

        records = []
        for msg in self._consumer.consume(max_records, timeout):
            error = msg.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("Kafka consumer of %s: %s", self.topic, error.str())
                continue
            records.append(
                Record(str(msg.topic()), int(msg.partition() or 0), int(msg.offset() or 0), msg.key(), msg.value())
            )
        return records

    def commit(self, records: Sequence[Record]) -> None:
        """Commit past every record given (the highest offset per partition), synchronously."""
        from confluent_kafka import TopicPartition

        last: dict[tuple[str, int], int] = {}
        for r in records:
            last[(r.topic, r.partition)] = max(last.get((r.topic, r.partition), -1), r.offset)
        if last:
            self._consumer.commit(
                offsets=[TopicPartition(t, p, o + 1) for (t, p), o in last.items()], asynchronous=False
            )

    def close(self) -> None:
        self._consumer.close()


class KafkaSink:
    """Sends keyed JSON records and waits until the brokers have every one (or says which failed)."""

    def __init__(self, conn_id: str) -> None:
        kafka = require("kafka")
        self.conn_id = conn_id
        config = kafka_config(conn_id)
        self.max_value_bytes = int(config.get("message.max.bytes", MAX_RECORD_BYTES)) - _RECORD_OVERHEAD
        self._producer = kafka.Producer({**config, **_PRODUCER})

    def send(self, records: Sequence[tuple[str, str | None, Any, dict[str, str] | None]], timeout: float = 30) -> None:
        """(topic, key, JSON value, headers) each; raises PublishFailed unless the brokers took them all."""
        refused = self.send_each(records, timeout)
        if refused:
            first = next(iter(refused.values())).why
            raise PublishFailed(
                f"Kafka ({self.conn_id}) did not take {len(refused)} of {len(records)} records: {first}"
            )

    def send_each(
        self, records: Sequence[tuple[str, str | None, Any, dict[str, str] | None]], timeout: float = 30
    ) -> dict[int, Refusal]:
        """(topic, key, JSON value, headers) each; {index: why} of the records the brokers did not take. Each
        record stands alone: one too large or for a topic that does not exist is refused by itself (`down`
        False); a broker that cannot be reached refuses them all (`down` True)."""
        from confluent_kafka import KafkaError, KafkaException

        down_codes = {KafkaError._MSG_TIMED_OUT, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN}
        refused: dict[int, Refusal] = {}
        answered: set[int] = set()

        def delivered(index: int) -> Any:
            def callback(err: Any, _msg: Any) -> None:
                answered.add(index)
                if err is not None:
                    refused[index] = Refusal(err.str(), err.code() in down_codes)

            return callback

        for index, (topic, key, value, headers) in enumerate(records):
            body = value if isinstance(value, bytes) else json.dumps(value, default=str).encode()
            try:
                self._producer.produce(
                    topic, body, key, headers=list((headers or {}).items()), on_delivery=delivered(index)
                )
            except BufferError as exc:  # librdkafka's queue is full: the brokers are not taking records
                answered.add(index)
                refused[index] = Refusal(f"BufferError: {exc}", True)
            except (KafkaException, ValueError, TypeError) as exc:  # refused before it left: too large
                answered.add(index)
                refused[index] = Refusal(f"{type(exc).__name__}: {exc}", False)
            self._producer.poll(0)
        if self._producer.flush(timeout):
            refused.update({i: Refusal("timed out", True) for i in range(len(records)) if i not in answered})
        return refused

    def close(self) -> None:
        self._producer.flush(5)
