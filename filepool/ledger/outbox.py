"""The ledger's side of events in and out: task messages taken from a topic (by task_id, in one transaction with
their files' registration) and the outbox that results and notifications leave through (sql/migrations/
0007_outbox.sql has the triggers that fill it)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from filepool.ledger.records import DiscoveredFile
from filepool.ledger.repository import _PRUNE_LOCK, Ledger, _row


@dataclass(frozen=True)
class TakenMessage:
    """A task message to take: its file version on `job` (None when it was refused, with `refusal` its result
    record), its canonical `digest` and the fields to answer with."""

    task_id: str
    digest: str
    message: dict[str, Any]
    job: str | None
    file: DiscoveredFile | None
    refusal: dict[str, Any] | None = None


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
        if ids:
            self._query("outbox_failed", ids=list(ids), error=error[:1000])


def take_messages(ledger: Ledger, messages: Sequence[TakenMessage], reply: dict[str, Any]) -> dict[str, str]:
    """Take task messages into the ledger in one transaction; {task_id: "new" | "duplicate" | "conflict"}. Give
    each task_id once: the caller settles repeats within one batch."""
    if not messages:
        return {}
    rows = []
    for m in messages:
        row: dict[str, Any] = {"task_id": m.task_id, "digest": m.digest, "message": m.message, "job": m.job}
        if m.file is not None:
            row.update(_row(m.file))
            row.pop("metadata", None)
        row["refusal"] = m.refusal
        rows.append(row)
    from filepool.ledger.queries import queries

    result = ledger._run(
        queries()["take_messages"],
        {
            "messages": json.dumps(rows),
            "reply": json.dumps(reply),
            "batch": str(uuid.uuid4()),
            "worker": ledger.worker,
            "prune_lock": _PRUNE_LOCK,
        },
    )
    return {str(task_id): str(verdict) for task_id, verdict in result}


def notify_route(ledger: Ledger, job: str, target: dict[str, Any] | None) -> None:
    """Announce `job`'s arrivals over AMQP at `target` ({"conn_id", "exchange", "routing_key"}), or stop (None)."""
    from filepool.ledger.queries import queries

    params = {"job": job, "target": None if target is None else json.dumps(target)}
    ledger._run(queries()["notify_route"], params, fetch=False)


def pending(ledger: Ledger) -> dict[str, int]:
    """{channel: messages still to send}."""
    return {str(channel): int(n) for channel, n in ledger.rows("outbox_pending")}


@contextmanager
def outbox_batch(ledger: Ledger, channel: str, limit: int = 500) -> Iterator[OutboxBatch]:
    """The next messages to send on `channel`, oldest first; mark them `sent` or `failed` inside the block."""
    with ledger.transaction() as query:
        yield OutboxBatch(query, ledger.worker, query("outbox_take", channel=channel, limit=limit))
