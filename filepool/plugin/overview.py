"""What the File transfers page reads from the ledger, and its two actions, scoped to the DAGs a user may see.

A file belongs to the DAG of the worker that registered or last claimed it (`dag_id`); a file without one (moved
outside Airflow) is shown only to users with rights on every DAG.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from filepool.ledger.queries import named_sql
from filepool.ledger.repository import Ledger
from filepool.metrics import route_slug


@dataclass(frozen=True)
class Scope:
    """The DAGs a user may read (or edit): `every` DAG, or those in `dag_ids`."""

    every: bool
    dag_ids: frozenset[str] = frozenset()

    def allows(self, dag_id: str | None) -> bool:
        return self.every or (dag_id is not None and dag_id in self.dag_ids)

    def params(self) -> dict[str, Any]:
        return {"all": self.every, "dag_ids": sorted(self.dag_ids)}


# The columns of the queries search_files and file (overview.sql), in order.
_FILE = (
    "id", "route", "source_path", "size", "mtime", "destination", "status", "attempts", "error_code", "error_message",
    "dag_id", "claimed_by", "lease_until", "updated_at", "completed_at",
)  # fmt: skip
_FILE_DETAIL = (
    *_FILE,
    "next_attempt_at",
    "bytes_transferred",
    "checksum",
    "checksum_algo",
    "total_seconds",
    "created_at",
)


def _literal(text: str) -> str:
    """`text` matched as typed by LIKE (a `_` in a file name is not "any character")."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class Overview:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def _rows(self, name: str, **params: Any) -> list[tuple[Any, ...]]:
        return self.ledger.rows_of(named_sql("filepool.plugin", "overview.sql")[name], **params)

    def routes(self, scope: Scope, fold: bool = True) -> list[dict[str, Any]]:
        """Per route: files and bytes by status, backlog, age of the oldest waiting file, its DAGs. `fold`: fold
        the counters' recent changes first (a write, which keeps later reads quick); the counts are the same
        either way."""
        if fold:
            self.ledger.fold_page_changes()
        routes: dict[str, dict[str, Any]] = {}
        for job, dag_id, status, files, size in self._rows("route_counts"):
            route = routes.setdefault(
                job, {"route": job, "slug": route_slug(job), "status": {}, "bytes": {}, "dag_ids": set()}
            )
            route["status"][status] = route["status"].get(status, 0) + int(files)
            route["bytes"][status] = route["bytes"].get(status, 0) + int(size)
            route["dag_ids"].add(dag_id)  # '' for files moved outside Airflow
        now = time.time()
        oldest = {job: now - at.timestamp() for job, at in self._rows("oldest_waiting")}
        shown = []
        for job, route in routes.items():
            if not (scope.every or ("" not in route["dag_ids"] and route["dag_ids"] <= scope.dag_ids)):
                continue
            route["dag_ids"] = sorted(route["dag_ids"] - {""})
            status = route["status"]
            route["backlog"] = status.get("DISCOVERED", 0) + status.get("IN_PROGRESS", 0)
            route["oldest_waiting_seconds"] = round(oldest[job], 1) if job in oldest else None
            shown.append(route)
        return shown

    def throughput(self, scope: Scope, hours: int = 6, bucket_seconds: int = 60) -> list[dict[str, Any]]:
        """Files and MB completed per minute (averaged over `bucket_seconds`, whole minutes), per route."""
        if bucket_seconds % 60:
            raise ValueError("bucket_seconds must be whole minutes: completions are counted per minute")
        rows = self._rows("throughput", hours=hours, bucket=bucket_seconds, **scope.params())
        minutes = bucket_seconds / 60
        return [
            {
                "route": job,
                "at": _iso(at),
                "files_per_minute": int(n) / minutes,
                "mb_per_minute": int(b) / 1e6 / minutes,  # sum(bigint) is numeric
            }
            for job, at, n, b in rows
        ]

    def failures(self, scope: Scope) -> list[dict[str, Any]]:
        keys = ("route", "error_code", "files", "latest_message", "max_attempts", "latest_at")
        return [
            dict(zip(keys, (*row[:5], _iso(row[5])), strict=True)) for row in self._rows("failures", **scope.params())
        ]

    def workers(self, scope: Scope) -> list[dict[str, Any]]:
        keys = (
            "name",
            "host",
            "dag_id",
            "run_id",
            "task_id",
            "map_index",
            "try_number",
            "started_at",
            "alive_until",
            "alive",
            "files_held",
            "earliest_lease",
            "latest_lease",
        )
        out = []
        for row in self._rows("workers", **scope.params()):
            worker = dict(zip(keys, row, strict=True))
            for k in ("started_at", "alive_until", "earliest_lease", "latest_lease"):
                worker[k] = _iso(worker[k])
            out.append(worker)
        return out

    def search(
        self, scope: Scope, text: str, server: str = "", before: int | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        rows = self._rows(
            "search_files", text=_literal(text), server=_literal(server), before=before, limit=limit, **scope.params()
        )
        return [_dates(dict(zip(_FILE, row, strict=True))) for row in rows]

    def file(self, file_id: int) -> dict[str, Any] | None:
        rows = self._rows("file", id=file_id)
        if not rows:
            return None
        found = _dates(dict(zip(_FILE_DETAIL, rows[0], strict=True)))
        found["events"] = [
            {
                "at": _iso(at),
                "event": event,
                "worker": worker,
                "details": details,
                "task_instance": {
                    "dag_id": dag,
                    "run_id": run,
                    "task_id": task,
                    "map_index": index,
                    "try_number": tried,
                }
                if dag
                else None,
            }
            for at, event, worker, details, dag, run, task, index, tried in self._rows("file_events", id=file_id)
        ]
        return found

    def outbox(self, scope: Scope) -> dict[str, Any]:
        """Per channel, messages to send and parked; and the parked messages this user may see, with their error."""
        counts = {ch: {"pending": int(p), "parked": int(k)} for ch, p, k in self._rows("outbox_counts")}
        keys = ("id", "channel", "target", "key", "attempts", "last_error", "parked_at", "created_at", "dag_id")
        parked = [_dates(dict(zip(keys, row, strict=True))) for row in self._rows("outbox_parked", **scope.params())]
        return {"channels": counts, "parked": parked}

    def outbox_message(self, message_id: int) -> tuple[bool, str | None] | None:
        """(parked, its file's DAG) of an outbox message; None when there is none."""
        rows = self._rows("outbox_message", id=message_id)
        return (bool(rows[0][1]), rows[0][2]) if rows else None

    def send_again(self, message_id: int) -> bool:
        """A parked message is sent again by the next publisher; False when it is not parked."""
        return bool(self._rows("outbox_unpark", id=message_id))

    def retry_now(self, file_id: int, user: str) -> bool:
        """A FAILED file is due again now; False when it is not FAILED."""
        return bool(self._rows("retry_now", id=file_id, user=user)[0][0])

    def requeue_stuck(self, file_id: int, user: str) -> bool:
        """An IN_PROGRESS file whose holder's lease lapsed goes back to the queue; False when its holder is alive
        (or it is not IN_PROGRESS)."""
        return bool(self._rows("requeue_stuck", id=file_id, user=user)[0][0])


def _dates(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _iso(v) if isinstance(v, datetime) else v for k, v in row.items()}
