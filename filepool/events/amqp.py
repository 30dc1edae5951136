"""AMQP 0-9-1 (RabbitMQ) through pika: persistent messages with publisher confirms. The Airflow connection (type
`amqp`, or any type) gives host, port (5672), login, password and the virtual host in `schema`; the exchange and
routing key are each notification's own (a route's `notify` argument), not the connection's."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Sequence
from typing import Any

from filepool.airflow_connections import read_connection
from filepool.extras import require
from filepool.interfaces import Refusal

# pika logs every refused connection as an ERROR with its traceback; the publisher's own PUBLISH_ERROR warning
# says what matters (what stays in the outbox, and why).
logging.getLogger("pika").setLevel(logging.CRITICAL)


class AMQPSink:
    """One connection and confirm-mode channel, opened on the first send and again after a failure."""

    def __init__(self, conn_id: str) -> None:
        self.conn_id = conn_id
        self._conn: Any = None
        self._channel: Any = None

    def _open(self) -> Any:
        pika = require("amqp")
        if self._channel is None:
            conn = read_connection(self.conn_id)
            params = pika.ConnectionParameters(
                host=conn.require_host(),
                port=conn.port or 5672,
                virtual_host=conn.schema or "/",
                credentials=pika.PlainCredentials(conn.login or "guest", conn.password or "guest"),
                connection_attempts=1,
                socket_timeout=5,
                blocked_connection_timeout=30,
            )
            self._conn = pika.BlockingConnection(params)
            self._channel = self._conn.channel()
            self._channel.confirm_delivery()
        return self._channel

    def send_each(self, messages: Sequence[tuple[str, str, str, dict[str, Any]]]) -> dict[int, Refusal]:
        """(exchange, routing key, message id, JSON body) each, persistent and confirmed one by one; {index: why}
        of those the broker did not confirm: one no queue takes (unroutable) or nacked is refused alone; once the
        connection fails, it and every message after it are refused as `down` (and the connection dropped)."""
        import pika
        from pika.exceptions import NackError, UnroutableError

        refused: dict[int, Refusal] = {}
        for index, (exchange, routing_key, message_id, body) in enumerate(messages):
            try:
                channel = self._open()
                channel.basic_publish(
                    exchange,
                    routing_key,
                    json.dumps(body, default=str).encode(),
                    pika.BasicProperties(
                        content_type="application/json", delivery_mode=2, message_id=message_id, app_id="filepool"
                    ),
                    mandatory=True,
                )
            except (UnroutableError, NackError) as exc:
                refused[index] = Refusal(f"AMQP ({self.conn_id}) {type(exc).__name__}: {exc}", False)
            except Exception as exc:  # AMQPError, a lost socket: this one and the rest wait for the broker
                self.close()
                why = f"AMQP ({self.conn_id}) did not confirm: {type(exc).__name__}: {exc}"
                refused.update({i: Refusal(why, True) for i in range(index, len(messages))})
                break
        return refused

    def close(self) -> None:
        conn, self._conn, self._channel = self._conn, None, None
        if conn is not None:
            with contextlib.suppress(Exception):  # closing a broken connection: nothing more to do
                conn.close()
