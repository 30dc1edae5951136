"""One transfer task on one route, in order: the ledger's start-up, discovery (on its own thread while the worker
moves what it registers), the worker, and the summary with the route's ledger counts."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from filepool.ledger import Ledger, TaskRef
from filepool.settings import Settings
from filepool.transfer.completion import KEEP, AfterTransfer
from filepool.transfer.discovery import Discovery, Selection, discover
from filepool.transfer.interfaces import Destination, Source
from filepool.transfer.log_group import log_group
from filepool.transfer.route import Route
from filepool.transfer.startup import open_ledger
from filepool.transfer.worker import Worker, WorkerConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TransferTask:
    """What one task does on `route`: discover with `selection` (None: not at all), then move the route's queue
    with a destination (None: discovery only), `threads` at a time, at most `max_files` files."""

    ledger_conn_id: str
    worker: str
    route: Route
    threads: int
    settings: Settings
    selection: Selection | None
    max_files: int | None = None
    after_transfer: AfterTransfer = KEEP
    task: TaskRef | None = None  # the Airflow task try, recorded with the worker

    def run(self, source: Source, destination: Destination | None) -> dict[str, Any]:
        log.info("Worker %s on %s (%d threads)", self.worker, self.route.job, self.threads)
        ledger = open_ledger(self.ledger_conn_id, self.worker, self.settings, self.task)
        summary: dict[str, Any] = {"job": self.route.job, "worker": self.worker}
        discovery = None
        try:
            if self.selection is not None and destination is not None:  # move files while the rest is listed
                discovery = Discovery(self._connect(), self.route, source, self.selection)
                discovery.start()
            elif self.selection is not None:
                with log_group(f"Discovery on {self.route.job}"):
                    summary["discovery"] = discover(ledger, self.route, source, self.selection)
            if destination is not None:
                more_coming = discovery.more_coming if discovery is not None else None
                summary.update(
                    move_queued(
                        self._connect,
                        self.route.job,
                        source,
                        destination,
                        self.threads,
                        self.settings,
                        self.max_files,
                        more_coming,
                        self.after_transfer,
                    )
                )
            if discovery is not None:
                summary["discovery"] = discovery.outcome()
            counts = ledger.job_counts(self.route.job)
            summary["ledger"] = {status: n for status, (n, _) in sorted(counts.items())}
            ledger.retire_worker()
        finally:
            if discovery is not None:
                discovery.join()  # it lists over the source's sessions: done before they close
            ledger.close()
        _log_summary(summary)
        return summary

    def _connect(self) -> Ledger:
        return Ledger.from_airflow(self.ledger_conn_id, self.worker)


def move_queued(
    connect: Callable[[], Ledger],
    job: str,
    source: Source,
    destination: Destination,
    threads: int,
    settings: Settings,
    max_files: int | None = None,
    more_coming: Callable[[float], bool] | None = None,
    after_transfer: AfterTransfer = KEEP,
) -> dict[str, Any]:
    """Claim the files queued on `job` and move them until the queue is empty (or `more_coming` says discovery is
    over); `connect()` opens each of the worker's ledger connections."""
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
    with log_group(f"Transfer of {job} (progress every {settings.progress_interval:g} s)"):
        return Worker(config, connect, source, destination, more_coming).run()


def _log_summary(summary: dict[str, Any]) -> None:
    if "files_transferred" not in summary:
        return
    log.info(
        "Summary for %s: %d files (%.1f MB) transferred and verified in %.1fs (%.1f files/s, %.1f MB/s), "
        "%d failed%s; ledger: %s",
        summary["job"],
        summary["files_transferred"],
        summary["bytes_transferred"] / 1e6,
        summary["seconds"],
        summary["files_per_second"],
        summary["mb_per_second"],
        summary["files_failed"],
        f" {summary['errors']}" if summary["errors"] else "",
        summary["ledger"],
    )
