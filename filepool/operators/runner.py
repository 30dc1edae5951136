"""What every filepool transfer operator does around the engine: ledger set-up, discovery, the worker, the log."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from filepool.exceptions import InvalidConfig, LedgerError, TransferFailed
from filepool.ledger import Ledger
from filepool.ledger.repository import DiscoveredFile
from filepool.names import storable
from filepool.settings import Settings
from filepool.transfer import process
from filepool.transfer.completion import KEEP, AfterTransfer
from filepool.transfer.discovery import stable_files
from filepool.transfer.interfaces import Destination, RemoteFile, Source, Unlisted
from filepool.transfer.route import Route
from filepool.transfer.worker import Worker, WorkerConfig

log = logging.getLogger(__name__)


def worker_name(context: Any, slot: int | None = None) -> str:
    """Unique per task try: host, pid, task (with its worker slot) and a random suffix (a retried task is a new
    worker)."""
    ti = context.get("ti") if context else None
    task = f"{ti.dag_id}.{ti.task_id}" if ti is not None else "standalone"
    if slot is not None:
        task += f"[{slot}]"
    return f"{socket.gethostname()}:{os.getpid()}:{task}:{uuid.uuid4().hex[:8]}"


def positive_int(name: str, value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1:
        raise InvalidConfig(f"{name} must be a whole number of at least 1, got {value!r}")
    return number


def as_list(name: str, value: Any) -> list[Any]:
    """A list argument that may arrive as a list, a JSON list, or a comma-separated string (a template
    rendered without `render_template_as_native_obj`)."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError as exc:
                raise InvalidConfig(f"{name} is not a valid JSON list: {exc}") from exc
        else:
            return [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(value, list | tuple):
        raise InvalidConfig(f"{name} must be a list, got {type(value).__name__}")
    return list(value)


def seconds(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if number < 0:
        raise InvalidConfig(f"{name} must be a number of seconds, 0 or more, got {value!r}")
    return number


# Ledger connections one transfer task holds at once: this one (start-up and summary), the worker's claims, its
# batched results, its multipart upload ids, its heartbeat, and discovery's when it runs alongside the worker.
LEDGER_CONNECTIONS_PER_TASK = 6


def open_ledger(conn_id: str, worker: str, settings: Settings) -> Ledger:
    """Connect, check that PostgreSQL has room for this task's connections, apply pending migrations, say this
    worker is alive, mark gone the workers of this host whose process is gone, and put back the files of workers
    no longer alive (the stale-lock clean-up at start)."""
    ledger = Ledger.from_airflow(conn_id, worker)
    room = ledger.connection_room()
    if room < LEDGER_CONNECTIONS_PER_TASK - 1:  # this one is open already
        ledger.close()
        raise LedgerError(
            f"the ledger database takes {room} more connections; a transfer task needs "
            f"{LEDGER_CONNECTIONS_PER_TASK}: raise PostgreSQL's max_connections, or run fewer filepool tasks at "
            "once (a pool, max_active_tasks, or --max-active-runs for a backfill, whose default is 10 runs)"
        )
    ledger.migrate()
    me = process.identity()
    ledger.register_worker(me, settings.lease_seconds)
    gone = ledger.mark_gone_on_host(me, process.process_start)
    if gone:
        log.info("Workers of this host whose process is gone: %s", ", ".join(gone))
    requeued, lost = ledger.requeue_expired(max_attempts=settings.max_attempts)
    if requeued:
        log.info("Put %d files of workers no longer alive back in the queue", requeued)
    if lost:
        log.warning("%d files lost their worker on every allowed attempt: FAILED with WORKER_LOST", lost)
    return ledger


# While the listing goes on, files are registered in statements of 200, or sooner when the last statement is
# 0.2 s old (the first batch at once), so a worker never idles long behind a slow listing.
_REGISTER_EVERY = 200
_REGISTER_SECONDS = 0.2


def discover(
    ledger: Ledger,
    route: Route,
    lister: Any,
    pattern: str,
    recursive: bool,
    settle: float,
    min_age: float,
    registered: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """List the source, keep the stable files and register them idempotently.

    A lister with `iter_files` hands over its listing folder by folder, and files old enough are registered
    while the rest is still being listed (`registered()` is called after each statement, so a worker running
    alongside can claim them at once); young files wait for the settle check at the end.
    """
    started = time.monotonic()
    if hasattr(lister, "iter_files"):
        batches: Iterable[list[RemoteFile | Unlisted]] = lister.iter_files(route.source_root, pattern, recursive)
    else:
        batches = [lister.list_files(route.source_root, pattern, recursive)]
    unlisted: list[Unlisted] = []
    cutoff = time.time() - min_age
    listed = new = 0
    last_registered = float("-inf")
    ready: list[RemoteFile] = []
    young: list[RemoteFile] = []

    def register(files: list[RemoteFile]) -> int:
        count = ledger.register(
            route.job, (DiscoveredFile(f.path, f.size, f.mtime, route.destination_for(f.path)) for f in files)
        )
        if registered is not None:
            registered()
        return count

    for batch in batches:
        for f in batch:
            if isinstance(f, Unlisted):
                unlisted.append(f)
                continue
            listed += 1
            (ready if settle <= 0 or f.changed_before(cutoff) else young).append(f)
        if ready and (len(ready) >= _REGISTER_EVERY or time.monotonic() - last_registered >= _REGISTER_SECONDS):
            new, ready, last_registered = new + register(ready), [], time.monotonic()
    new += register(ready)
    listed_at = time.monotonic()
    listing = stable_files(young, lister.stat_files, settle, min_age)
    new += register(listing.stable) if listing.stable else 0
    finished = time.monotonic()
    _record_unlisted(ledger, route, unlisted)
    result = {
        "listed": listed,
        "registered": new,
        "rejected": len(unlisted),
        "still_changing": len(listing.unstable),
        "seconds": round(finished - started, 3),
        "listing_seconds": round(listed_at - started, 3),
        "settle_seconds": round(finished - listed_at, 3),
    }
    log.info(
        "Discovery on %s: %d files listed, %d new, %d still changing (taken on a later run), %d entries not taken",
        route.source,
        listed,
        new,
        len(listing.unstable),
        len(unlisted),
    )
    return result


def _record_unlisted(ledger: Ledger, route: Route, unlisted: list[Unlisted]) -> None:
    """Entries of the listing not taken: a FAILED row each (their code, a `rejected` event), and the log."""
    for u in unlisted[:20]:
        log.warning("Not taken from the listing: [%s] %s", u.code, storable(u.message))
    if len(unlisted) > 20:
        log.warning("... and %d more entries not taken (all in the ledger)", len(unlisted) - 20)
    ledger.reject(
        [
            {
                "job": route.job,
                "source_path": storable(u.path),
                "destination": "",
                "error_code": u.code,
                "error_message": storable(u.message),
                "metadata": {},
            }
            for u in unlisted
        ]
    )


class Discovery(threading.Thread):
    """`discover` on its own thread and ledger connection, so the worker copies files as they are registered."""

    def __init__(self, ledger: Ledger, run: Callable[[Ledger, Callable[[], None]], dict[str, Any]]) -> None:
        """`run(ledger, registered)` discovers on `ledger` (closed at the end), calling `registered()` as it goes."""
        super().__init__(name="filepool-discovery", daemon=True)
        self._ledger = ledger
        self._run = run
        self._news = threading.Event()
        self._finished = threading.Event()
        self.result: dict[str, Any] | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self._run(self._ledger, self._news.set)
        except BaseException as exc:  # re-raised on the task's thread by outcome()
            self.error = exc
        finally:
            self._ledger.close()
            self._finished.set()
            self._news.set()

    def more_coming(self, wait: float = 0.0) -> bool:
        """False once discovery is over; with `wait`, first wait that long for a new registration."""
        if wait and self._news.wait(wait):
            self._news.clear()
        return not self._finished.is_set()

    def outcome(self) -> dict[str, Any]:
        self.join()
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def transfer(
    ledger_conn_id: str,
    worker: str,
    job: str,
    source: Source,
    destination: Destination,
    threads: int,
    settings: Settings,
    max_files: int | None = None,
    more_coming: Callable[[float], bool] | None = None,
    after_transfer: AfterTransfer = KEEP,
) -> dict[str, Any]:
    config = WorkerConfig(
        job=job,
        threads=threads,
        claim_batch=settings.claim_batch,
        lease_seconds=settings.lease_seconds,
        max_attempts=settings.max_attempts,
        retry_backoff=settings.retry_backoff_seconds,
        progress_interval=settings.progress_interval,
        max_files=max_files,
        after_transfer=after_transfer,
    )
    return Worker(config, lambda: Ledger.from_airflow(ledger_conn_id, worker), source, destination, more_coming).run()


def finish(summary: dict[str, Any], ledger: Ledger, route: Route, context: Any, fail_on_file_errors: bool) -> None:
    """Log the closing summary, push it to XCom as `summary`, and fail the task if files failed."""
    counts = ledger.job_counts(route.job)
    summary["ledger"] = {status: n for status, (n, _) in sorted(counts.items())}
    if "files_transferred" in summary:
        log.info(
            "Summary for %s: %d files (%.1f MB) transferred and verified in %.1fs (%.1f files/s, %.1f MB/s), "
            "%d failed%s; ledger: %s",
            route.job,
            summary["files_transferred"],
            summary["bytes_transferred"] / 1e6,
            summary["seconds"],
            summary["files_per_second"],
            summary["mb_per_second"],
            summary["files_failed"],
            f" {summary['errors']}" if summary["errors"] else "",
            summary["ledger"],
        )
    ti = context.get("ti") if context else None
    if ti is not None:
        ti.xcom_push(key="summary", value=summary)
    if fail_on_file_errors and summary.get("files_failed"):
        raise TransferFailed(
            f"{summary['files_failed']} of {summary['files_failed'] + summary['files_transferred']} files "
            f"failed on {route.job}: {summary['errors']}; they are retried on a later run"
            + (f" (stopped early: {summary['halted_by']})" if summary.get("halted_by") else "")
        )
