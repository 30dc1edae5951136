"""One transfer task on one route, in order: the ledger's start-up, discovery (on its own thread while the worker
moves what it registers), the worker, and the summary with the route's ledger counts."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from filepool.interfaces import Destination, SinkOpener, Source
from filepool.ledger import Ledger, TaskRef
from filepool.ledger.outbox import notify_route
from filepool.settings import Settings
from filepool.transfer.completion import KEEP, AfterTransfer
from filepool.transfer.discovery import Discovery, Selection, discover
from filepool.transfer.log_group import log_group
from filepool.transfer.login_slots import login_gate
from filepool.transfer.publish import Publisher, PublisherThread
from filepool.transfer.route import Route
from filepool.transfer.startup import open_ledger
from filepool.transfer.window import SWEEP, Window
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
    window: Window = SWEEP  # the files of this run's data interval (a sweep: all of them)
    resend: str | None = None  # why this run sends its interval's files moved already once more (None: it does not)
    notify: dict[str, Any] | None = None  # arrival notifications over AMQP: {"conn_id", "exchange", "routing_key"}
    notify_timeout: float = 60.0  # how long the task waits at its end for a broker that does not take them
    keep_moved: int = 0  # list up to this many moved files in the summary's `moved_files` (per-file asset events)
    linger: float = 0.0  # keep claiming this long after the route's queue ran dry
    sinks: SinkOpener | None = None  # the brokers `notify` sends through (filepool.events.sinks.open_sink)

    def __post_init__(self) -> None:
        if self.notify and self.sinks is None:  # never a task that says it notifies and silently does not
            raise ValueError("TransferTask: notify needs sinks (filepool.events.sinks.open_sink)")

    def run(self, source: Source, destination: Destination | None) -> dict[str, Any]:
        # The route named once, readably; the lines after this say "the route" (its ledger job is in the summary)
        log.info("Route: %s (%d threads, worker %s)", self.route.describe(), self.threads, self.worker)
        ledger = open_ledger(self._connect, self.settings, self.task)
        summary: dict[str, Any] = {"job": self.route.job, "worker": self.worker}
        gate_for = login_gate(self._connect, self.settings.lease_seconds)
        for endpoint in (source, destination):  # before any session opens: discovery's listing counts too
            if endpoint is not None:
                endpoint.share_logins(gate_for)
        discovery = None
        publisher: PublisherThread | None = None
        try:
            if self.selection is not None and destination is not None:  # move files while the rest is listed
                discovery = Discovery(self._connect(), self.route, source, self.selection, self.window, self.resend)
                discovery.start()
            elif self.selection is not None:
                with log_group("Discovery"):
                    summary["discovery"] = discover(
                        ledger, self.route, source, self.selection, None, self.window, self.resend
                    )
            notify_route(ledger, self.route.job, self.notify)
            if self.notify and self.sinks is not None:  # both, or neither: __post_init__
                publisher = PublisherThread(Publisher(self._connect, self.sinks))
            if publisher is not None:
                publisher.start()
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
                        self.window.claim_filter(self.route.source_root),
                        self.keep_moved,
                        self.linger,
                    )
                )
            if discovery is not None:
                summary["discovery"] = discovery.outcome()
            if publisher is not None:
                summary["notifications"] = self._notified(publisher)
            counts = ledger.job_counts(self.route.job)
            summary["ledger"] = {status: n for status, (n, _) in sorted(counts.items())}
            ledger.retire_worker()
        finally:
            if discovery is not None:
                discovery.join()  # it lists over the source's sessions: done before they close
            if publisher is not None and publisher.is_alive():  # the run failed: what is left goes next time
                publisher.stop()
                publisher.publisher.close()
            ledger.close()
        if "files_transferred" in summary:
            moved, failed = summary["files_transferred"], summary["files_failed"]
            report = interval_report(summary.get("discovery", {}), moved, failed)
            if report is not None:
                summary["interval"] = report
                log_interval_report(report)
        _log_summary(summary)
        return summary

    def _connect(self) -> Ledger:
        return self._opener()

    @functools.cached_property
    def _opener(self) -> Callable[[], Ledger]:
        return Ledger.opener(self.ledger_conn_id, self.worker)

    def _notified(self, thread: PublisherThread) -> dict[str, Any]:
        """Send what the run's files left in the outbox, waiting up to `notify_timeout` for a broker that is
        down; what is still unsent then goes with the next run's (or the maintenance DAG's) publisher."""
        thread.stop()
        publisher = thread.publisher
        try:
            left = publisher.drain(self.notify_timeout)
        finally:
            publisher.close()
        if left:
            log.warning(
                "Arrival notifications: %d sent; %s still in the outbox (%s), sent by the next run",
                publisher.sent["amqp"],
                left,
                publisher.last_error,
            )
        else:
            log.info("Arrival notifications: %d sent over AMQP", publisher.sent["amqp"])
        return {"sent": publisher.sent["amqp"], "left": left}


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
    only: dict[str, Any] | None = None,
    keep_moved: int = 0,
    linger: float = 0.0,
) -> dict[str, Any]:
    """Claim the files queued on `job` and move them until the queue is empty (or `more_coming` says discovery is
    over); `connect()` opens each of the worker's ledger connections. `only`: claim the files of one data interval
    alone (`Window.claim_filter`)."""
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
        only=only,
        keep_moved=keep_moved,
        linger=linger,
    )
    with log_group(f"Transfer (progress every {settings.progress_interval:g} s)"):
        return Worker(config, connect, source, destination, more_coming).run()


def interval_report(discovery: dict[str, Any], moved: int, failed: int) -> dict[str, Any] | None:
    """What became of the files one data interval's run selected (None for a sweep), parts that add up to
    `selected`: `moved` (versions this run moved for the first time), `resent` (moved before and sent again on
    purpose by this run), `moved_already` (moved before, left alone), `failed`, and `other` (moved meanwhile by
    another run of the same interval, or still waiting). `moved`/`failed`: what this run's transfer did."""
    if "selected" not in discovery:
        return None
    selected, before, resent = discovery["selected"], discovery["moved_already"], discovery.get("resent", 0)
    new = max(0, moved - resent)
    already = before - resent
    return {
        "window": discovery["window"],
        "selected": selected,
        "moved": new,
        "resent": resent,
        "moved_already": already,
        "failed": failed,
        "other": max(0, selected - new - resent - already - failed),
    }


def interval_line(report: dict[str, Any]) -> str:
    """One line a user reads: "backfill 2026-01-02 00:00-2026-01-03 00:00, select_by=partition 2026-01-02/: 12
    selected, 12 moved, 0 moved already" (and the other parts when there are any)."""
    parts = [f"{report['selected']} selected", f"{report['moved']} moved", f"{report['moved_already']} moved already"]
    if report["resent"]:
        parts.append(f"{report['resent']} sent again on purpose")
    if report["failed"]:
        parts.append(f"{report['failed']} failed")
    if report["other"]:
        parts.append(f"{report['other']} moved by another run of this interval or still waiting")
    return f"{report['window']}: {', '.join(parts)}"


def log_interval_report(report: dict[str, Any]) -> None:
    log.info("%s", interval_line(report))


def _log_summary(summary: dict[str, Any]) -> None:
    if "files_transferred" not in summary:
        return
    errors = ", ".join(f"{code}: {n}" for code, n in sorted(summary["errors"].items()))
    log.info(
        "Summary: %d files (%.1f MB) transferred and verified in %.1f s (%.1f files/s, %.1f MB/s), %d failed%s; "
        "the route's files in the ledger now: %s",
        summary["files_transferred"],
        summary["bytes_transferred"] / 1e6,
        summary["seconds"],
        summary["files_per_second"],
        summary["mb_per_second"],
        summary["files_failed"],
        f" ({errors})" if errors else "",
        counts_text(summary["ledger"]),
    )


def counts_text(counts: dict[str, int]) -> str:
    """{"COMPLETED": 6, "FAILED": 1} as "6 COMPLETED, 1 FAILED" ("none" when empty)."""
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none"
