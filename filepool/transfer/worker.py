"""The worker loop: claim batches from the ledger, copy them on a thread pool, record results in batches.

The main thread claims batches; `threads` copy threads (or the source's download loop) move bytes; a recorder
thread writes finished files to the ledger in batches while the next ones copy; a heartbeat thread keeps the
leases of files in flight. Each of those has its own ledger connection, and the copy threads share one more for
the upload ids of large files. Files claimed but never started are given back when the worker stops early.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from filepool import metrics
from filepool.exceptions import ConnectionFailed, FilepoolError, LeaseLost, WorkerLost, error_code
from filepool.interfaces import Destination, Source
from filepool.ledger import ClaimedFile, Completion, Failure, Ledger
from filepool.transfer.completion import KEEP, AfterTransfer, complete_at_source
from filepool.transfer.copy import copy_file
from filepool.transfer.leases import Leases
from filepool.transfer.loop_copy import copy_starter

log = logging.getLogger(__name__)
_LINGER_POLL = 0.5  # seconds between claims while a worker lingers on an empty queue

# Endpoint-wide errors that say an endpoint refuses us as a whole: stop claiming at once (others after repeats).
_HALT_AT_ONCE = {"AUTH_FAILED", "HOST_KEY_UNKNOWN"}
_FLUSH_EVERY = 200
_FLUSH_SECONDS = 0.5
_KEEP_FAILURES = 20


@dataclass(frozen=True)
class WorkerConfig:
    job: str
    threads: int
    claim_batch: int
    lease_seconds: float
    max_attempts: int
    retry_backoff: float
    progress_interval: float
    max_files: int | None = None
    after_transfer: AfterTransfer = KEEP
    only: dict[str, Any] | None = None  # the claim filter of an exact window (Window.claim_filter)
    keep_moved: int = 0  # remember up to this many files moved (for per-file asset events), and one more
    linger: float = 0.0  # keep claiming this long after the queue ran dry (files registered meanwhile move at once)


@dataclass
class RunStats:
    started: float = field(default_factory=time.monotonic)
    completed: int = 0
    failed: int = 0
    released: int = 0
    bytes: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    failures: list[dict[str, Any]] = field(default_factory=list)
    halted_by: str | None = None
    lost_leases: int = 0
    at_source: Counter[str] = field(default_factory=Counter)  # outcomes of source actions (delete, move)
    moved: list[dict[str, Any]] = field(default_factory=list)  # the first files moved, when asked to keep them

    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)

    def line(self, in_flight: int) -> str:
        secs = self.elapsed()
        return (
            f"{self.completed:,} files ({self.bytes / 1e6:,.1f} MB) transferred, {self.failed:,} failed, "
            f"{self.completed / secs:,.1f} files/s, {self.bytes / 1e6 / secs:,.1f} MB/s, "
            f"{in_flight} in flight"
        )

    def summary(self, job: str, worker: str) -> dict[str, Any]:
        secs = self.elapsed()
        return {
            "job": job,
            "worker": worker,
            "files_transferred": self.completed,
            "files_failed": self.failed,
            "bytes_transferred": self.bytes,
            "seconds": round(secs, 3),
            "files_per_second": round(self.completed / secs, 2),
            "mb_per_second": round(self.bytes / 1e6 / secs, 2),
            "errors": dict(self.errors),
            "failures": self.failures,
            "halted_by": self.halted_by,
            "released": self.released,
            "lost_leases": self.lost_leases,
            "at_source": dict(self.at_source),
            "moved_files": self.moved,
        }


class Heartbeat(threading.Thread):
    """Keeps this worker alive every third of the lease, on its own ledger connection, and tells `leases` which
    files it still holds. A heartbeat that cannot get through gives up within a third of the lease (the
    connection's own timeouts bound each try), so the next one is never late because of it."""

    def __init__(self, ledger: Ledger, lease_seconds: float, leases: Leases) -> None:
        super().__init__(name="filepool-heartbeat", daemon=True)
        self._ledger = ledger
        self._ledger.retry_seconds = lease_seconds / 3
        self._lease = lease_seconds
        self._leases = leases
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self._lease / 3):
            sent_at = self._leases.now()
            try:
                self._leases.renewed(self._ledger.heartbeat(self._lease), sent_at)
            except FilepoolError as exc:
                log.warning("Heartbeat failed: %s", exc)
                continue
            try:
                # Workers keep the File transfers page's counters folded while they change them.
                self._ledger.fold_page_changes()
            except FilepoolError as exc:
                log.warning("Folding the page counters failed: %s", exc)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)
        self._ledger.close()


class Worker:
    def __init__(
        self,
        config: WorkerConfig,
        connect: Callable[[], Ledger],
        source: Source,
        destination: Destination,
        more_coming: Callable[[float], bool] | None = None,
    ) -> None:
        """`connect` makes a ledger connection; each thread that talks to the ledger gets its own.

        `more_coming(wait)` says whether discovery, running alongside, may still register files (after waiting
        up to `wait` seconds for its next batch): an empty claim then means "not yet", not "done".
        """
        self._more_coming = more_coming or (lambda wait: False)
        self.config = config
        self.ledger = connect()  # claims and releases, on the main thread
        self._record_ledger = connect()  # batches of results, on the recorder thread
        self._uploads_ledger = connect()  # upload ids of large files, from the copy threads (under a lock)
        self._uploads_lock = threading.Lock()
        self._recorder = ThreadPoolExecutor(1, thread_name_prefix="filepool-record")
        self._writing: Future[_Written] | None = None
        self.leases = Leases(config.lease_seconds)
        self._heartbeat = Heartbeat(connect(), config.lease_seconds, self.leases)
        self.source = source
        self.destination = destination
        self.stats = RunStats()
        self._done: list[tuple[Completion, ClaimedFile]] = []
        self._failed: list[Failure] = []
        self._last_flush = time.monotonic()
        self._endpoint_failures = 0

    def run(self) -> dict[str, Any]:
        cfg = self.config
        in_flight: dict[Future[Completion], ClaimedFile] = {}
        # Copy threads hand finished futures over a queue: waiting with concurrent.futures.wait() on every
        # future in flight, once per finished file, cost the main thread (and the GIL) more than the claims.
        finished: queue.SimpleQueue[Future[Completion]] = queue.SimpleQueue()
        claimed_total = 0
        exhausted = False
        last_files_at = time.monotonic()
        next_progress = time.monotonic() + cfg.progress_interval
        self._heartbeat.start()
        try:
            # what an earlier run left half done: files COMPLETED whose source action it did not get to
            self.stats.at_source.update(complete_at_source(self._record_ledger, cfg.job, self.source))
            with (
                ThreadPoolExecutor(cfg.threads, thread_name_prefix="filepool-copy") as pool,
                # a file's copy starts on the source's download loop where it has one, else on a copy thread
                copy_starter(
                    self.source, self.destination, cfg.threads, self.leases.check, lambda f: pool.submit(self._copy, f)
                ) as copy,
            ):
                while True:
                    # Claim in batches of at least 2 x `threads` files: one statement per batch, never one per file.
                    room = cfg.threads * 4 - len(in_flight)
                    if cfg.max_files is not None:
                        room = min(room, cfg.max_files - claimed_total)
                    wanted = room >= 2 * cfg.threads or (room > 0 and len(in_flight) < cfg.threads)
                    lingering = time.monotonic() - last_files_at < cfg.linger
                    if not exhausted and self.stats.halted_by is None and wanted:
                        coming = self._more_coming(0) or lingering  # asked before the claim: none slips by
                        sent_at = self.leases.now()
                        claim = self.ledger.claim_batch(
                            cfg.job, min(room, cfg.claim_batch), cfg.lease_seconds, cfg.max_attempts, cfg.only
                        )
                        batch = claim.files
                        self.leases.claimed(batch, sent_at)
                        for f in claim.lost:
                            lost = WorkerLost(f"its worker was lost on each of {f.attempts} attempts; not tried again")
                            self._count_failure(f, lost.code, lost.message, None)
                        claimed_total += len(batch)
                        if batch:
                            last_files_at = time.monotonic()
                        exhausted = (not batch and not coming) or (
                            cfg.max_files is not None and claimed_total >= cfg.max_files
                        )
                        for f in batch:
                            future = copy(f)
                            in_flight[future] = f
                            future.add_done_callback(finished.put)
                    if not in_flight:
                        if exhausted or self.stats.halted_by is not None:
                            break
                        if not self._more_coming(_FLUSH_SECONDS) and lingering:  # nothing registered yet: wait
                            time.sleep(_LINGER_POLL)
                        continue
                    for future in _drain(finished, _FLUSH_SECONDS):
                        if future in in_flight:  # not one cancelled by _release_queued
                            self._record(in_flight.pop(future), future)
                    if self.stats.halted_by is not None:
                        self._release_queued(in_flight)
                    self._flush(force=False)
                    if time.monotonic() >= next_progress:
                        log.info("Progress: %s", self.stats.line(len(in_flight)))
                        next_progress = time.monotonic() + cfg.progress_interval
        finally:
            try:
                self._flush(force=True)
            finally:
                self._recorder.shutdown()
                self._heartbeat.stop()
                for ledger in (self.ledger, self._record_ledger, self._uploads_ledger):
                    ledger.close()
        return self.stats.summary(cfg.job, self.ledger.worker)

    def _copy(self, f: ClaimedFile) -> Completion:
        def remember(upload_id: str) -> None:
            with self._uploads_lock:
                self._uploads_ledger.set_upload_id(f, upload_id)

        def fence() -> None:
            self.leases.check(f)

        try:
            return copy_file(f, self.source, self.destination, remember, fence)
        except ConnectionFailed as exc:
            # Reads cut mid-file resume inside copy_file; a dropped destination session is worth one more
            # whole try right away. A second failure goes to the ledger and its backoff.
            log.info("Retrying %s once on fresh sessions: %s", f.source_path, exc)
            return copy_file(f, self.source, self.destination, remember, fence)

    def _record(self, f: ClaimedFile, future: Future[Completion]) -> None:
        exc = future.exception()
        if exc is None:
            done = future.result()
            self._done.append((done, f))
            self.stats.completed += 1
            self.stats.bytes += done.bytes
            self._endpoint_failures = 0
            return
        self._record_failure(f, exc)

    def _record_failure(self, f: ClaimedFile, exc: BaseException) -> None:
        self.leases.forget(f)
        if isinstance(exc, LeaseLost):
            # Not this run's failure: the file is another worker's now, or back in the queue. Recorded (fenced:
            # it changes the row only if nobody took it) so that it is retried at once. A worker that cannot
            # keep its leases takes no more files.
            retry_in = 0.0 if f.attempts < self.config.max_attempts else None
            self._failed.append(Failure(f.id, f.attempts, exc.code, exc.message[:2000], retry_in))
            self.stats.lost_leases += 1
            log.warning("Not written: %s", exc)
            if self.stats.halted_by is None:
                log.error("Stopping: this worker's leases could not be renewed; files not started go back")
                self.stats.halted_by = exc.code
            return
        code = error_code(exc)
        message = str(exc.message if isinstance(exc, FilepoolError) else f"{type(exc).__name__}: {exc}")
        if not isinstance(exc, FilepoolError):
            log.error("Unexpected error on %s", f.source_path, exc_info=exc)
        retryable = isinstance(exc, FilepoolError) and exc.retryable and f.attempts < self.config.max_attempts
        retry_in = min(self.config.retry_backoff * 2 ** (f.attempts - 1), 3600.0) if retryable else None
        self._failed.append(Failure(f.id, f.attempts, code, message[:2000], retry_in))
        self._count_failure(f, code, message, retry_in)
        if isinstance(exc, FilepoolError) and exc.endpoint_wide:
            self._endpoint_failures += 1
            if code in _HALT_AT_ONCE or self._endpoint_failures >= max(3, self.config.threads):
                if self.stats.halted_by is None:
                    log.error("Stopping: %s; files not started are given back to the queue", exc)
                self.stats.halted_by = code

    def _count_failure(self, f: ClaimedFile, code: str, message: str, retry_in: float | None) -> None:
        """Count and log a failed file (its ledger row is written by the caller, or already was)."""
        self.stats.failed += 1
        self.stats.errors[code] += 1
        if len(self.stats.failures) < _KEEP_FAILURES:
            self.stats.failures.append({"path": f.source_path, "error_code": code, "error_message": message})
        log.warning(
            "Failed %s: [%s] %s (attempt %d, %s)",
            f.source_path,
            code,
            message,
            f.attempts,
            f"retry in {retry_in:.0f}s" if retry_in is not None else "no retry",
        )

    def _release_queued(self, in_flight: dict[Future[Completion], ClaimedFile]) -> None:
        cancelled = [f for future, f in list(in_flight.items()) if future.cancel()]
        for future in [fu for fu in in_flight if fu.cancelled()]:
            self.leases.forget(in_flight.pop(future))
        if cancelled:
            self.stats.released += self.ledger.release(cancelled)

    def _flush(self, force: bool) -> None:
        """Hand finished files to the recorder thread, one batch in flight at a time, so claiming never waits
        on a destination sync or a ledger write; with `force`, wait until everything is written."""
        while True:
            if self._writing is not None and (force or self._writing.done()):
                self._settle(self._writing.result())
                self._writing = None
            pending = len(self._done) + len(self._failed)
            due = pending >= _FLUSH_EVERY or time.monotonic() - self._last_flush > _FLUSH_SECONDS
            if self._writing is None and pending and (force or due):
                done, failed = self._done, self._failed
                self._done, self._failed = [], []
                self._writing = self._recorder.submit(self._write, done, failed)
                self._last_flush = time.monotonic()
            if not force or (self._writing is None and not self._done and not self._failed):
                return

    def _write(self, done: list[tuple[Completion, ClaimedFile]], failed: list[Failure]) -> _Written:
        """On the recorder thread: make the batch durable at the destination, then record it in the ledger."""
        refused: list[tuple[Completion, ClaimedFile, Exception]] = []
        if done:  # durable first, then COMPLETED (a destination's group commit)
            bad = self.destination.sync([f.destination for _, f in done], self._fence_claim)
            refused = [(d, f, bad[f.destination]) for d, f in done if f.destination in bad]
            done = [(d, f) for d, f in done if f.destination not in bad]
        for _, f in done:
            self.leases.forget(f)
        after = self.config.after_transfer
        if after.action != "keep":
            done = [(replace(d, source_action=after.pending(f.source_path)), f) for d, f in done]
        kept = self._record_ledger.complete([d for d, _ in done])
        self._record_ledger.fail(failed)
        ours = [d for d, _ in done if d.id in kept]
        metrics.recorded(self.config.job, [d.total_seconds for d in ours], sum(d.bytes for d in ours), len(failed))
        at_source = Counter[str]()
        if after.action != "keep" and kept:  # only once COMPLETED is durable
            at_source = complete_at_source(self._record_ledger, self.config.job, self.source, sorted(kept))
        room = self.config.keep_moved + 1 - len(self.stats.moved)  # read only here: the main thread appends
        moved = [
            {"source": f.source_path, "destination": f.destination, "size": d.bytes, "sha256": d.checksum}
            for d, f in done
            if d.id in kept
        ][: max(room, 0)]
        return _Written(refused, sum(1 for d, _ in done if d.id not in kept), at_source, moved)

    def _fence_claim(self, claim: str, key: str) -> None:
        """The fence of a destination that commits in groups: `claim` is the "id-attempt" its writer was given."""
        file_id, _, attempt = claim.partition("-")
        self.leases.check_claim(int(file_id), int(attempt), key)

    def _settle(self, written: _Written) -> None:
        """On the main thread: files the destination refused at its sync become failures."""
        for done, f, exc in written.refused:
            self.stats.completed -= 1
            self.stats.bytes -= done.bytes
            self._record_failure(f, exc)
        self.stats.at_source.update(written.at_source)
        self.stats.moved.extend(written.moved[: self.config.keep_moved + 1 - len(self.stats.moved)])
        if written.lost:
            self.stats.lost_leases += written.lost
            log.warning("%d files finished after their lease passed to another worker", written.lost)


def _drain(finished: queue.SimpleQueue[Future[Completion]], timeout: float) -> list[Future[Completion]]:
    """Every future finished so far, waiting up to `timeout` for the first."""
    try:
        got = [finished.get(timeout=timeout)]
    except queue.Empty:
        return []
    while True:
        try:
            got.append(finished.get_nowait())
        except queue.Empty:
            return got


@dataclass(frozen=True)
class _Written:
    refused: list[tuple[Completion, ClaimedFile, Exception]]
    lost: int
    at_source: Counter[str]
    moved: list[dict[str, Any]]
