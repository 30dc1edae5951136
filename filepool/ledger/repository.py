"""The ledger repository: one method per operation, frozen records in and out.

Every method runs one statement in autocommit mode, so each claim, batch of completions or heartbeat is
atomic by itself. Connection errors are retried for a while (PostgreSQL restarts, failovers); every statement
is safe to repeat because writes are fenced by `claimed_by`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from filepool.exceptions import LedgerError
from filepool.ledger.queries import migrations, queries

log = logging.getLogger(__name__)

# Any key is fine as long as every filepool worker uses the same one.
_MIGRATION_LOCK = 0x66696C65706F6F6C  # "filepool"


@dataclass(frozen=True)
class ClaimedFile:
    id: int
    source_path: str
    size: int
    mtime: float
    destination: str
    attempts: int
    upload_id: str | None


@dataclass(frozen=True)
class Completion:
    id: int
    bytes: int
    checksum: str
    checksum_algo: str
    etag: str | None
    read_seconds: float
    write_seconds: float
    total_seconds: float


@dataclass(frozen=True)
class Failure:
    id: int
    error_code: str
    error_message: str
    retry_in: float | None  # seconds until the next attempt; None = never


@dataclass(frozen=True)
class DiscoveredFile:
    source_path: str
    size: int
    mtime: float
    destination: str
    metadata: dict[str, Any] | None = None


def _is_connection_error(exc: BaseException) -> bool:
    # psycopg2 and psycopg 3 both name these classes so; neither driver is imported here.
    return type(exc).__name__ in {"OperationalError", "InterfaceError"} and not _is_conflict(exc)


def _is_conflict(exc: BaseException) -> bool:
    """A deadlock or serialization failure: PostgreSQL rolled the statement back, running it again is safe."""
    return (getattr(exc, "pgcode", None) or getattr(exc, "sqlstate", None)) in {"40P01", "40001"}


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _pid_of(holder: str, host: str) -> int | None:
    pid = holder[len(host) + 1 :].partition(":")[0]
    return int(pid) if pid.isdigit() else None


class Ledger:
    """A connection to the ledger database and the operations on it. Not shared between threads."""

    def __init__(self, connect: Callable[[], Any], worker: str, retry_seconds: float = 60.0) -> None:
        self._connect = connect
        self.worker = worker
        self._retry_seconds = retry_seconds
        self._conn: Any = None

    @classmethod
    def from_airflow(cls, conn_id: str, worker: str) -> Ledger:
        """A ledger on the Airflow `postgres` connection `conn_id`."""

        from filepool.ledger.connect import airflow_connector

        return cls(airflow_connector(conn_id), worker)

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    # -- running statements ---------------------------------------------------------------------------------

    def _run(self, sql: str, params: dict[str, Any] | None = None, fetch: bool = True) -> list[tuple[Any, ...]]:
        deadline = time.monotonic() + self._retry_seconds
        delay = 0.2
        while True:
            try:
                if self._conn is None:
                    self._conn = self._connect()
                    self._conn.autocommit = True
                with self._conn.cursor() as cur:
                    cur.execute(sql, params)
                    return list(cur.fetchall()) if fetch else []
            except Exception as exc:
                if _is_conflict(exc) and time.monotonic() < deadline:
                    log.info(
                        "Ledger statement rolled back by PostgreSQL (%s); running it again",
                        exc.pgcode if hasattr(exc, "pgcode") else type(exc).__name__,
                    )
                    continue
                if not _is_connection_error(exc):
                    raise LedgerError(f"ledger statement failed: {exc}") from exc
                self.close()
                if time.monotonic() > deadline:
                    raise LedgerError(f"ledger database unreachable: {exc}") from exc
                log.warning("Ledger connection lost (%s); retrying in %.1fs", type(exc).__name__, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _query(self, name: str, **params: Any) -> list[tuple[Any, ...]]:
        return self._run(queries()[name], params)

    # -- schema ---------------------------------------------------------------------------------------------

    def migrate(self) -> list[str]:
        """Apply pending migrations; safe when many workers start at once (one advisory lock, one transaction)."""
        applied: list[str] = []
        self._run("SELECT 1")  # connect, with retries
        conn = self._conn
        conn.autocommit = False
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                cur.execute(
                    "CREATE TABLE IF NOT EXISTS filepool_migrations ("
                    " version integer PRIMARY KEY, name text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())"
                )
                cur.execute("SELECT version FROM filepool_migrations")
                done = {row[0] for row in cur.fetchall()}
                for version, name, sql in migrations():
                    if version in done:
                        continue
                    cur.execute(sql)
                    cur.execute("INSERT INTO filepool_migrations (version, name) VALUES (%s, %s)", (version, name))
                    applied.append(name)
            conn.commit()
        except Exception as exc:
            conn.rollback()
            raise LedgerError(f"ledger migration failed: {exc}") from exc
        finally:
            conn.autocommit = True
        if applied:
            log.info("Ledger migrations applied: %s", ", ".join(applied))
        return applied

    # -- operations -----------------------------------------------------------------------------------------

    def register(self, job: str, files: Iterable[DiscoveredFile], batch: int = 5000) -> int:
        """Register discovered files; returns how many were new."""
        new = 0
        chunk: list[dict[str, Any]] = []
        for f in files:
            # Rows go to PostgreSQL as JSON built from vars(), here and below: dataclasses.asdict() deep-copies
            # every field and took 8% of the GIL's time on 1,000 small files; the fields are plain values.
            chunk.append(vars(f))
            if len(chunk) >= batch:
                new += self._register_chunk(job, chunk)
                chunk = []
        if chunk:
            new += self._register_chunk(job, chunk)
        return new

    def _register_chunk(self, job: str, chunk: list[dict[str, Any]]) -> int:
        rows = self._query("register", job=job, worker=self.worker, files=json.dumps(chunk))
        return int(rows[0][0])

    def claim(self, job: str, limit: int, lease_seconds: float) -> list[ClaimedFile]:
        rows = self._query("claim", job=job, worker=self.worker, limit=limit, lease=lease_seconds)
        return [ClaimedFile(*row) for row in rows]

    def extend_leases(self, lease_seconds: float) -> None:
        self._run(queries()["extend_leases"], {"worker": self.worker, "lease": lease_seconds}, fetch=False)

    def complete(self, results: Sequence[Completion]) -> set[int]:
        """Mark files COMPLETED; returns the ids that were still ours (the others lost their lease)."""
        if not results:
            return set()
        rows = self._query("complete", worker=self.worker, results=json.dumps([vars(r) for r in results]))
        return {row[0] for row in rows}

    def fail(self, failures: Sequence[Failure]) -> set[int]:
        if not failures:
            return set()
        rows = self._query("fail", worker=self.worker, failures=json.dumps([vars(f) for f in failures]))
        return {row[0] for row in rows}

    def release(self, ids: Sequence[int]) -> int:
        if not ids:
            return 0
        return int(self._query("release", worker=self.worker, ids=list(ids))[0][0])

    def requeue_expired(self, limit: int = 1000, dead_holders: Sequence[str] = ()) -> int:
        """Put back files whose lease expired, and at once those held by `dead_holders`."""
        return int(self._query("requeue_expired", worker=self.worker, limit=limit, holders=list(dead_holders))[0][0])

    def requeue_dead_on_host(self, host: str, is_alive: Callable[[int], bool]) -> int:
        """Give back at once the files held by workers of this host whose process is gone (a task killed and
        cleared in Airflow need not wait for the leases to expire). Worker names are "host:pid:..."."""
        holders = [row[0] for row in self._query("holders_on_host", prefix=f"{_like_escape(host)}:%")]
        dead = [h for h in holders if (pid := _pid_of(h, host)) is not None and not is_alive(pid)]
        return self.requeue_expired(dead_holders=dead) if dead else 0

    def reject(self, rejects: Sequence[dict[str, Any]]) -> int:
        """Record refused task messages: dicts with job, source_path, destination, error_code, error_message,
        metadata. Later entries for the same job and path win."""
        unique = {(r["job"], r["source_path"]): r for r in rejects}
        if not unique:
            return 0
        return int(self._query("reject", worker=self.worker, rejects=json.dumps(list(unique.values())))[0][0])

    def lookup(self, job: str, files: Sequence[tuple[str, int, float]]) -> dict[tuple[str, int, float], dict[str, Any]]:
        """{(path, size, mtime): row as a dict} for the given file versions of a job."""
        if not files:
            return {}
        wanted = [{"source_path": p, "size": s, "mtime": m} for p, s, m in files]
        rows = self._query("lookup", job=job, files=json.dumps(wanted))
        names = (
            "source_path",
            "size",
            "mtime",
            "status",
            "destination",
            "bytes_transferred",
            "total_seconds",
            "error_code",
            "error_message",
            "updated_at",
        )
        return {(r[0], int(r[1]), float(r[2])): dict(zip(names, r, strict=True)) for r in rows}

    def prune_completed(self, older_than_seconds: float, batch: int = 10_000) -> int:
        """Delete COMPLETED rows finished more than `older_than_seconds` ago; returns how many."""
        total = 0
        while True:
            n = int(self._query("prune_completed", older_than=older_than_seconds, limit=batch)[0][0])
            total += n
            if n < batch:
                return total

    def set_upload_id(self, file_id: int, upload_id: str) -> bool:
        return int(self._query("set_upload_id", id=file_id, upload_id=upload_id, worker=self.worker)[0][0]) == 1

    def live_upload_ids(self) -> set[str]:
        return {row[0] for row in self._query("live_upload_ids")}

    def job_counts(self, job: str) -> dict[str, tuple[int, int]]:
        """{status: (files, bytes)} for one job."""
        return {status: (int(n), int(b)) for status, n, b in self._query("job_counts", job=job)}
