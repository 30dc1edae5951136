"""What a task does with the ledger before it moves anything: check room, migrate, say it is alive, clean up."""

from __future__ import annotations

import logging
from collections.abc import Callable

from filepool.exceptions import LedgerError
from filepool.ledger import Ledger, TaskRef
from filepool.settings import Settings
from filepool.transfer import process
from filepool.transfer.log_group import log_group

log = logging.getLogger(__name__)

# Ledger connections one transfer task holds at once: this one (start-up and summary), the worker's claims, its
# batched results, its multipart upload ids, its heartbeat, discovery's when it runs alongside the worker, and the
# outbox publisher's when the route sends arrival notifications (and one per endpoint whose connection has
# max_logins: its login slots, filepool/transfer/login_slots.py).
LEDGER_CONNECTIONS_PER_TASK = 7


def open_ledger(connect: Callable[[], Ledger], settings: Settings, task: TaskRef | None = None) -> Ledger:
    """Connect (`connect`: a `Ledger.opener`), check that PostgreSQL has room for this task's connections, apply
    pending migrations, say this worker is alive (in the Airflow task try `task`), mark gone the workers of this
    host whose process is gone, and put back the files of workers no longer alive (the stale-lock clean-up at
    start)."""
    with log_group("Ledger start-up"):
        return _start(connect(), settings, task)


def _start(ledger: Ledger, settings: Settings, task: TaskRef | None) -> Ledger:
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
    ledger.register_worker(me, settings.lease_seconds, task)
    gone = ledger.mark_gone_on_host(me, process.process_start)
    if gone:
        log.info("Workers of this host whose process is gone: %s", ", ".join(gone))
    requeued, lost = ledger.requeue_expired(max_attempts=settings.max_attempts)
    if requeued:
        log.info("Put %d files of workers no longer alive back in the queue", requeued)
    if lost:
        log.warning("%d files lost their worker on every allowed attempt: FAILED with WORKER_LOST", lost)
    return ledger
