"""The ledger's side of events in and out: task messages taken from a topic (by task_id, in one transaction with
their files' registration) and the outbox that results and notifications leave through (sql/migrations/
0007_outbox.sql has the triggers that fill it)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from filepool.ledger.records import DiscoveredFile
from filepool.ledger.repository import _PRUNE_LOCK, Ledger, _row
from filepool.names import storable


class Record(Protocol):
    """Where a record sits in its topic (a Kafka record)."""

    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


R = TypeVar("R", bound=Record)


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
    transient: bool = False  # refused for a reason that may pass: answered, its task_id left free


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


def take_messages(ledger: Ledger, messages: Sequence[TakenMessage], reply: dict[str, Any]) -> dict[str, str]:
    """Take task messages into the ledger in one transaction; {task_id: "new" | "transient" | "duplicate" |
    "conflict"}. Give each task_id once: the caller settles repeats within one batch."""
    if not messages:
        return {}
    rows = []
    for m in messages:
        row: dict[str, Any] = {"task_id": m.task_id, "digest": m.digest, "message": m.message, "job": m.job}
        if m.file is not None:
            row.update(_row(m.file))
            row.pop("metadata", None)
        row["refusal"] = m.refusal
        row["transient"] = m.transient
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


def jobs_due(ledger: Ledger, reply: dict[str, Any]) -> list[str]:
    """The jobs of the task messages answered at `reply` that have files to move now (waiting, a lapsed lease, a
    retry due)."""
    return [str(job) for (job,) in ledger.rows("intake_jobs_due", reply=json.dumps(reply))]


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


class IntakeMarks:
    """What an intake run of one consumer group took from a topic and has not finished, kept in the ledger so that
    the next run (after a failure, or a process that died) knows which records to take one at a time."""

    def __init__(self, ledger: Ledger, group: str, topic: str) -> None:
        self._ledger, self._key = ledger, {"group": group, "topic": topic}

    def split(self, records: Sequence[R]) -> tuple[list[R], list[R]]:
        """(records inside a range an earlier try did not finish, the others), each in the order given."""
        ranges = {int(p): (int(a), int(b)) for p, a, b in self._ledger.rows("intake_marks", **self._key)}

        def inside(r: R) -> bool:
            first, last = ranges.get(r.partition, (0, -1))
            return first <= r.offset <= last

        return [r for r in records if inside(r)], [r for r in records if not inside(r)]

    def mark(self, records: Sequence[Record]) -> tuple[int, str | None]:
        """Note the records' ranges as being taken; returns the most tries any of them has had, with its error."""
        spans: dict[int, list[int]] = {}
        for r in records:
            spans.setdefault(r.partition, []).append(r.offset)
        ranges = [{"partition": p, "first_offset": min(o), "last_offset": max(o)} for p, o in spans.items()]
        rows = self._ledger.rows("intake_mark", ranges=json.dumps(ranges), **self._key)
        _partition, attempts, error = max(rows, key=lambda row: row[1])
        return int(attempts), error

    def failed(self, record: Record, error: BaseException) -> None:
        text = storable(str(error)[:2000])
        self._ledger.execute("intake_mark_failed", partition=record.partition, error=text, **self._key)

    def clear(self, records: Sequence[Record]) -> None:
        self._ledger.execute("intake_unmark", partitions=sorted({r.partition for r in records}), **self._key)
