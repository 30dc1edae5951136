"""How the ledger talks to PostgreSQL: one connection, reconnected and each statement retried while the database
is unreachable (restarts, failovers) or rolled the statement back whole (a deadlock, statement_timeout); named
statements from sql/queries.sql; a transaction for work that spans the database and outside it; the migrations.
What the ledger does with those statements is filepool.ledger.repository's."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from filepool.exceptions import LedgerError
from filepool.ledger.queries import migrations, queries

log = logging.getLogger(__name__)

_MIGRATION_LOCK = 0x66696C65706F6F6C  # "filepool"
# SQLSTATEs of a statement PostgreSQL rolled back whole: a deadlock, a serialization failure, statement_timeout.
_ROLLED_BACK = {"40P01", "40001", "57014"}


def _is_connection_error(exc: BaseException) -> bool:
    # psycopg2 and psycopg 3 both name these classes so; neither driver is imported here.
    return type(exc).__name__ in {"OperationalError", "InterfaceError"} and not _is_conflict(exc)


def _is_conflict(exc: BaseException) -> bool:
    """A statement PostgreSQL rolled back whole (deadlock, serialization failure, statement_timeout): running it
    again is safe."""
    return (getattr(exc, "pgcode", None) or getattr(exc, "sqlstate", None)) in _ROLLED_BACK


class LedgerSession:
    """One connection to the ledger database and the ways to run statements on it. Not shared between threads."""

    def __init__(self, connect: Callable[[], Any], retry_seconds: float = 60.0) -> None:
        """`retry_seconds`: how long a statement is retried while the database is unreachable."""
        self._connect = connect
        self.retry_seconds = retry_seconds
        self._conn: Any = None

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    # -- running statements ---------------------------------------------------------------------------------

    def _run(self, sql: str, params: dict[str, Any] | None = None, fetch: bool = True) -> list[tuple[Any, ...]]:
        deadline = time.monotonic() + self.retry_seconds
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

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Callable[..., list[tuple[Any, ...]]]]:
        """Run named queries in one transaction that spans work outside the database (the outbox's sends):
        yields `query(name, **params)`; commits when the block ends, rolls back when it raises. Not retried: a
        lost connection rolls the whole transaction back, which the caller runs again."""
        self._run("SELECT 1")  # connect, with retries
        conn = self._conn
        conn.autocommit = False
        try:

            def query(name: str, **params: Any) -> list[tuple[Any, ...]]:
                with conn.cursor() as cur:
                    cur.execute(queries()[name], params)
                    return list(cur.fetchall()) if cur.description else []

            yield query
            conn.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                conn.rollback()
            raise
        finally:
            with contextlib.suppress(Exception):
                conn.autocommit = True

    def rows(self, name: str, **params: Any) -> list[tuple[Any, ...]]:
        """The rows of the named query `name` (sql/queries.sql)."""
        return self._run(queries()[name], params)

    def rows_of(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        """The rows of a statement a reader outside the engine keeps (the File transfers page's overview.sql), run
        as the ledger's own are: reconnected and retried."""
        return self._run(sql, params)

    def execute(self, name: str, **params: Any) -> None:
        """Run the named query `name`, which returns no rows."""
        self._run(queries()[name], params, fetch=False)

    # -- schema ---------------------------------------------------------------------------------------------

    def migrate(self) -> list[str]:
        """Apply pending migrations; safe when many workers start at once (one advisory lock, one transaction)."""
        applied: list[str] = []
        self._run("SELECT 1")  # connect, with retries
        conn = self._conn
        conn.autocommit = False
        try:
            with conn.cursor() as cur:
                # A migration may rewrite a large table, and others wait for it: no statement_timeout here.
                cur.execute("SET LOCAL statement_timeout = 0")
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
