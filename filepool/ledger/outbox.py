"""The outbox that result records and notifications leave through (sql/migrations/0007_outbox.sql has the triggers
that fill it); the task messages coming in are the inbox's (inbox.py)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from filepool.ledger.repository import Ledger
from filepool.names import storable


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    target: dict[str, Any]
    key: str
    payload: dict[str, Any]


class OutboxBatch:
    """Messages taken from the outbox, locked until the block that took them ends."""

    def __init__(self, query: Callable[..., list[tuple[Any, ...]]], worker: str, rows: list[tuple[Any, ...]]):
        self._query, self._worker = query, worker
        self.messages = [OutboxMessage(int(i), t, k, p) for i, t, k, p in rows]

    def sent(self, ids: Sequence[int]) -> None:
        if ids:
            self._query("outbox_sent", ids=list(ids), worker=self._worker)

    def failed(self, ids: Sequence[int], error: str) -> None:
        """The broker took none of these (it is down): counted, never parked for it."""
        if ids:
            self._query("outbox_failed", ids=list(ids), error=storable(error[:1000]))

    def refused(self, errors: dict[int, str], park_after: int) -> list[int]:
        """The broker refused these one by one ({id: why}): each waits longer before its next try, and is parked
        at its `park_after`th refusal; returns the ids parked now."""
        if not errors:
            return []
        given = json.dumps([{"id": i, "error": storable(e[:1000])} for i, e in errors.items()])
        rows = self._query("outbox_refused", refused=given, park_after=park_after)
        return [int(i) for i, parked in rows if parked]


def notify_route(ledger: Ledger, job: str, target: dict[str, Any] | None) -> None:
    """Announce `job`'s arrivals over AMQP at `target` ({"conn_id", "exchange", "routing_key"}), or stop (None)."""
    ledger.execute("notify_route", job=job, target=None if target is None else json.dumps(target))


def pending(ledger: Ledger) -> dict[str, int]:
    """{channel: messages still to send}."""
    return {str(channel): int(n) for channel, n in ledger.rows("outbox_pending")}


@contextmanager
def outbox_batch(ledger: Ledger, channel: str, limit: int = 500) -> Iterator[OutboxBatch]:
    """The next messages to send on `channel`, oldest first; mark them `sent` or `failed` inside the block."""
    with ledger.transaction() as query:
        yield OutboxBatch(query, ledger.worker, query("outbox_take", channel=channel, limit=limit))
