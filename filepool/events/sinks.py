"""The brokers the outbox publisher sends through, by channel: result records to Kafka, notifications over AMQP.
Each client is imported only when its channel is used."""

from __future__ import annotations

from filepool.interfaces import Sink


def open_sink(channel: str, conn_id: str) -> Sink:
    if channel == "kafka":
        from filepool.events.kafka import KafkaSink

        return KafkaSink(conn_id)
    from filepool.events.amqp import AMQPSink

    return AMQPSink(conn_id)
