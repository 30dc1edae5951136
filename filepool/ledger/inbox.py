"""The ledger's inbox: task messages taken from a topic by task_id, in one transaction with their files'
registration, and the marks an intake run keeps of the records it has not finished."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from filepool.ledger.records import DiscoveredFile
from filepool.ledger.repository import PRUNE_LOCK, Ledger, file_row
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


def take_messages(ledger: Ledger, messages: Sequence[TakenMessage], reply: dict[str, Any]) -> dict[str, str]:
    """Take task messages into the ledger in one transaction; {task_id: "new" | "transient" | "duplicate" |
    "conflict"}. Give each task_id once: the caller settles repeats within one batch."""
    if not messages:
        return {}
    rows = []
    for m in messages:
        row: dict[str, Any] = {"task_id": m.task_id, "digest": m.digest, "message": m.message, "job": m.job}
        if m.file is not None:
            row.update(file_row(m.file))
            row.pop("metadata", None)
        row["refusal"] = m.refusal
        row["transient"] = m.transient
        rows.append(row)
    result = ledger.rows(
        "take_messages",
        messages=json.dumps(rows),
        reply=json.dumps(reply),
        batch=str(uuid.uuid4()),
        worker=ledger.worker,
        prune_lock=PRUNE_LOCK,
    )
    return {str(task_id): str(verdict) for task_id, verdict in result}


def jobs_due(ledger: Ledger, reply: dict[str, Any]) -> list[str]:
    """The jobs of the task messages answered at `reply` that have files to move now (waiting, a lapsed lease, a
    retry due)."""
    return [str(job) for (job,) in ledger.rows("intake_jobs_due", reply=json.dumps(reply))]


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
