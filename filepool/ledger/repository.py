"""The ledger repository: one method per operation, frozen records in and out.

Every method runs one statement in autocommit mode (or a lock and one statement, as one transaction), so
each claim, batch of completions or heartbeat is atomic by itself. LedgerSession (session.py) runs them, retrying
through connection errors (PostgreSQL restarts, failovers); every statement is safe to repeat because writes are
fenced by `claimed_by` and the attempt.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from filepool.ledger.records import (
    NO_TASK,
    Claim,
    ClaimedFile,
    Completion,
    DiscoveredFile,
    Failure,
    SourceAction,
    TaskRef,
    Version,
    WorkerIdentity,
)
from filepool.ledger.session import LedgerSession
from filepool.names import clip, path_bytes, storable

# Any keys are fine as long as every filepool worker uses the same ones (the migrations' is in session.py).
_ANALYZE_LOCK = 0x66696C65616E61  # "fileana": one refresh of the statistics at a time
_ANALYZE_AFTER = 500  # rows a ledger registers before it looks at the table's statistics
PRUNE_LOCK = 0x66696C65707275  # "fileprun": registrations share it, retention takes it alone


def _path(text: str, exact: Any) -> str:
    """A source path as the source knows it: its exact bytes where the ledger keeps them (not UTF-8)."""
    return bytes(exact).decode("utf-8", "surrogateescape") if exact is not None else text


def file_row(f: DiscoveredFile) -> dict[str, Any]:
    """A discovered file as a JSON row of the ledger's statements. Built from vars(): dataclasses.asdict()
    deep-copies every field and took 8% of the GIL's time on 1,000 small files; the fields are plain values."""
    row = vars(f)
    exact = path_bytes(f.source_path)
    if exact is not None:  # a path that is not UTF-8: shown escaped, kept exactly
        row = {**row, "source_path": storable(f.source_path), "source_bytes": base64.b64encode(exact).decode()}
    return row


# Queues whose ids span this many files or more are claimed from places spread over them (see Ledger.claim_batch);
# smaller ones from their head, in id order.
CLAIM_SPREAD_FROM = 10_000
# Every so many claims of a worker on a spread queue start from its head.
CLAIM_FROM_HEAD_EVERY = 16


class Ledger(LedgerSession):
    """The ledger's operations, each on a named statement, for the worker `worker`. Not shared between threads."""

    def __init__(self, connect: Callable[[], Any], worker: str, retry_seconds: float = 60.0) -> None:
        """`retry_seconds`: how long a statement is retried while the database is unreachable."""
        super().__init__(connect, retry_seconds)
        self.worker = worker
        self._unanalyzed = 0  # rows registered here since this ledger last refreshed the table's statistics
        self._claims = 0  # claims made, for CLAIM_FROM_HEAD_EVERY
        self._place: dict[str, int | None] = {}  # job -> the id its next claim goes on after; None: from the head

    @classmethod
    def from_airflow(cls, conn_id: str, worker: str) -> Ledger:
        """A ledger on the Airflow `postgres` connection `conn_id`."""
        return cls.opener(conn_id, worker)()

    @classmethod
    def opener(cls, conn_id: str, worker: str) -> Callable[[], Ledger]:
        """A maker of ledgers on the Airflow connection `conn_id`, read once: a task's ledger connections (six or
        more) share one lookup, which in an Airflow task is a request to its API server."""
        from filepool.ledger.connect import airflow_connector

        connect = airflow_connector(conn_id)
        return lambda: cls(connect, worker)

    # -- operations -----------------------------------------------------------------------------------------

    def register(self, job: str, files: Iterable[DiscoveredFile], batch: int = 5000) -> int:
        """Register discovered files; returns how many were new."""
        new = 0
        chunk: list[dict[str, Any]] = []
        for f in files:
            chunk.append(file_row(f))
            if len(chunk) >= batch:
                new += self._register_chunk(job, chunk)
                chunk = []
        if chunk:
            new += self._register_chunk(job, chunk)
        self._note_registered(new)
        return new

    def _note_registered(self, new: int) -> None:
        """Refresh the planner's statistics of filepool_files once the rows registered here outnumber the table as
        it last counted them. Autovacuum does it too, but up to a minute later (its naptime); until then a table
        that grew fast looks small, and every claim scans and sorts all of it instead of reading the queue's index:
        122 ms instead of 2.2 ms a claim at 200,000 rows. Refreshing at each doubling made a first registration of
        200,000 files take 16.3 s instead of 15.9."""
        self._unanalyzed += new
        if self._unanalyzed <= _ANALYZE_AFTER:
            return
        counted = float(self.rows("counted_rows")[0][0])
        if self._unanalyzed > max(counted, 0.0) + _ANALYZE_AFTER:
            self.execute("refresh_statistics", lock=_ANALYZE_LOCK)
            self._unanalyzed = 0

    def canonical(self, job: str, files: list[DiscoveredFile]) -> list[DiscoveredFile]:
        """The files, each listed with a time known only to some precision (`mtime_precision`: FTP) taken as the
        version the ledger has of it where their times agree (see `canonical_mtimes`): its mtime in place of the
        listing's. A file whose listing now shows days where it showed minutes, or another zone's clock, stays the
        version that was moved. Files with exact times are returned as they are, without a statement."""
        vague = [(i, f) for i, f in enumerate(files) if f.mtime_precision]
        if not vague:
            return files
        given = [{**file_row(f), "i": i} for i, f in vague]
        out = list(files)
        for i, mtime in self.rows("canonical_mtimes", job=job, files=json.dumps(given)):
            if mtime is not None and mtime != files[i].mtime:
                out[i] = dataclasses.replace(files[i], mtime=float(mtime))
        return out

    def moved_already(self, job: str, files: Sequence[DiscoveredFile]) -> int:
        """How many of these versions were moved already (COMPLETED, or pruned since)."""
        if not files:
            return 0
        return int(self.rows("moved_already", job=job, files=json.dumps([file_row(f) for f in files]))[0][0])

    def resend(self, job: str, files: Sequence[DiscoveredFile], reason: str) -> int:
        """Queue these COMPLETED versions again, on purpose, with `reason` in a `resend_requested` event each;
        returns how many."""
        if not files:
            return 0
        rows = self.rows(
            "resend", job=job, worker=self.worker, reason=reason, files=json.dumps([file_row(f) for f in files])
        )
        return int(rows[0][0])

    def _register_chunk(self, job: str, chunk: list[dict[str, Any]]) -> int:
        rows = self.rows("register", job=job, worker=self.worker, files=json.dumps(chunk), prune_lock=PRUNE_LOCK)
        return int(rows[0][0])

    def register_worker(self, identity: WorkerIdentity, lease_seconds: float, task: TaskRef | None = None) -> None:
        """Say this worker is alive, who its process is and which task try it runs in; the files it registers and
        claims from now on belong to that task's DAG."""
        self.execute(
            "register_worker",
            **{"worker": self.worker, "lease": lease_seconds, **vars(identity), **(vars(task) if task else NO_TASK)},
        )

    def claim_batch(
        self, job: str, limit: int, lease_seconds: float, max_attempts: int = 5, only: dict[str, Any] | None = None
    ) -> Claim:
        """Claim up to `limit` files; files whose worker was lost on their last attempt become FAILED with
        WORKER_LOST on the way. A statement that only gave files up is followed by another, so an empty claim
        still means "nothing to do". `only`: the files of one data interval (`Window.claim_filter`).

        A queue whose ids span CLAIM_SPREAD_FROM files or more is claimed from places spread over it: a worker's
        first claim of the job starts at a random place in the queue, and each later one goes on from where its
        last one ended. 64 workers claiming from the head each locked rows the others had just claimed (a claim
        that finds a row taken since its snapshot keeps its lock on it until its transaction ends, and the owner's
        completion waits for that), and stepped over the index entries of files finished at the head until vacuum
        removed them. A claim that finds fewer files beyond its place goes on from the head, and so does every
        CLAIM_FROM_HEAD_EVERY-th claim (without moving the place): retries whose backoff passed and lapsed leases
        wait a few claims at most. A smaller queue is claimed from its head each time, in id order. The files of a
        claim come in id order."""
        lost: list[ClaimedFile] = []
        files: list[ClaimedFile] = []
        window = only or {"path_prefix": None, "mtime_from": None, "mtime_until": None}
        self._claims += 1
        if job not in self._place:
            start = self.rows("claim_start", job=job, spread_from=CLAIM_SPREAD_FROM)[0][0]
            self._place[job] = None if start is None else int(start)
        place = self._place[job]
        head_turn = place is None or self._claims % CLAIM_FROM_HEAD_EVERY == 0
        after = 0 if head_turn or place is None else place
        while True:
            rows = self.rows(
                "claim",
                job=job,
                worker=self.worker,
                limit=limit - len(files),
                lease=lease_seconds,
                max_attempts=max_attempts,
                after_id=after,
                **window,
            )
            files += [ClaimedFile(row[0], _path(row[1], row[8]), *row[2:7]) for row in rows if not row[7]]
            lost += [ClaimedFile(row[0], _path(row[1], row[8]), *row[2:7]) for row in rows if row[7]]
            if rows and not head_turn:
                self._place[job] = max(row[0] for row in rows)
            if len(files) < limit and after:
                after = 0  # fewer than asked beyond this place: the rest from the head
                continue
            if files or not rows:
                return Claim(sorted(files, key=lambda f: f.id), lost)

    def heartbeat(self, lease_seconds: float) -> set[tuple[int, int]]:
        """Keep this worker alive; returns the (file id, attempt) pairs it still holds."""
        rows = self.rows("heartbeat", worker=self.worker, lease=lease_seconds)
        return {(int(i), int(a)) for i, a in rows}

    def complete(self, results: Sequence[Completion]) -> set[int]:
        """Mark files COMPLETED; returns the ids that were still ours (the others lost their lease)."""
        if not results:
            return set()
        rows = self.rows("complete", worker=self.worker, results=json.dumps([vars(r) for r in results]))
        return {row[0] for row in rows}

    def fail(self, failures: Sequence[Failure]) -> set[int]:
        if not failures:
            return set()
        # an error message may quote a path that is not UTF-8: PostgreSQL takes it escaped
        given = [{**vars(f), "error_message": storable(f.error_message)} for f in failures]
        rows = self.rows("fail", worker=self.worker, failures=json.dumps(given))
        return {row[0] for row in rows}

    def release(self, files: Sequence[ClaimedFile]) -> int:
        """Give back files claimed and never started; the attempt is not counted."""
        if not files:
            return 0
        given = json.dumps([{"id": f.id, "attempt": f.attempts} for f in files])
        return int(self.rows("release", worker=self.worker, files=given)[0][0])

    def requeue_expired(self, limit: int = 1000, max_attempts: int = 5) -> tuple[int, int]:
        """Put back files whose worker is no longer alive, a batch of up to `limit`; returns (put back, given
        up on with WORKER_LOST: lost on their last allowed attempt)."""
        requeued, lost = self.rows("requeue_expired", worker=self.worker, limit=limit, max_attempts=max_attempts)[0]
        return int(requeued), int(lost)

    def mark_gone_on_host(self, me: WorkerIdentity, process_start: Callable[[int], str | None]) -> list[str]:
        """Mark as gone the workers of this host and PID namespace that hold files and whose process is no
        longer there (`process_start(pid)` is None, or another process took the pid), so that their files may
        be taken at once: a task killed and cleared in Airflow need not wait for its heartbeat to lapse. A
        worker of another PID namespace (another container with the same host name) is left to its heartbeat."""
        if me.pid_namespace is None:
            return []
        rows = self.rows("workers_on_host", host=me.host, pid_namespace=me.pid_namespace)
        gone = [name for name, pid, started in rows if started is not None and process_start(pid) != started]
        if gone:
            self.execute("mark_workers_gone", names=gone)
        return gone

    def retire_worker(self) -> None:
        """This worker ends cleanly (its files are recorded or given back): no longer alive from now on."""
        self.execute("retire_worker", worker=self.worker)

    def forget_workers(self, retention_seconds: float = 86400) -> None:
        """Delete the rows of workers dead for longer than `retention_seconds` (a day at least) that hold nothing."""
        self.execute("forget_workers", retention=retention_seconds)

    def reject(self, rejects: Sequence[dict[str, Any]]) -> int:
        """Record refused task messages: dicts with job, source_path, destination, error_code, error_message,
        metadata. Later entries for the same job, path and destination win."""
        # whatever was refused, its row fits the ledger's indexes (a refused path may be any length)
        bounded = [
            {
                **r,
                "job": clip(r["job"], 500),
                "source_path": clip(r["source_path"]),
                "destination": clip(r["destination"]),
                "error_message": clip(r["error_message"] or "", 4000),
            }
            for r in rejects
        ]
        unique = {(r["job"], r["source_path"], r["destination"]): r for r in bounded}
        if not unique:
            return 0
        return int(self.rows("reject", worker=self.worker, rejects=json.dumps(list(unique.values())))[0][0])

    def lookup(self, job: str, files: Sequence[Version]) -> dict[Version, dict[str, Any]]:
        """{(path, size, mtime, destination): row as a dict} for the given file versions of a job; a version
        moved and since pruned by retention is COMPLETED with its size."""
        if not files:
            return {}
        wanted = [{"source_path": p, "size": s, "mtime": m, "destination": d} for p, s, m, d in files]
        rows = self.rows("lookup", job=job, files=json.dumps(wanted))
        names = (
            "source_path",
            "size",
            "mtime",
            "destination",
            "status",
            "bytes_transferred",
            "total_seconds",
            "error_code",
            "error_message",
            "updated_at",
        )
        return {(r[0], int(r[1]), float(r[2]), r[3]): dict(zip(names, r, strict=True)) for r in rows}

    def prune_completed(self, older_than_seconds: float, batch: int = 10_000) -> int:
        """Shrink COMPLETED rows finished more than `older_than_seconds` ago to their version key (never moved
        again); returns how many."""
        total = 0
        while True:
            rows = self.rows("prune_completed", older_than=older_than_seconds, limit=batch, prune_lock=PRUNE_LOCK)
            n = int(rows[0][0])
            total += n
            if n < batch:
                return total

    def set_upload_id(self, file: ClaimedFile, upload_id: str) -> bool:
        rows = self.rows("set_upload_id", id=file.id, attempt=file.attempts, upload_id=upload_id, worker=self.worker)
        return int(rows[0][0]) == 1

    def pending_source_actions(self, job: str, ids: Sequence[int] | None, after: int = 0) -> list[SourceAction]:
        """Up to 500 source actions of `job` ready to be carried out (of rows `ids`, or all), in id order."""
        rows = self.rows("pending_source_actions", job=job, ids=list(ids) if ids is not None else None, after=after)
        return [SourceAction(int(i), _path(p, b), int(s), float(m), a) for i, p, s, m, a, b in rows]

    def source_actions_done(self, done: Sequence[tuple[int, str, dict[str, Any]]]) -> None:
        """(row id, event, details) of source actions carried out; `source_action_failed` leaves it pending."""
        if done:
            rows = json.dumps([{"id": i, "event": e, "details": d} for i, e, d in done])
            self.execute("source_actions_done", done=rows, worker=self.worker)

    def live_claims(self, claims: set[tuple[int, int]]) -> set[tuple[int, int]]:
        """Those of the (file id, attempt) claims that are IN_PROGRESS with a lease still running."""
        if not claims:
            return set()
        wanted = json.dumps([{"id": i, "attempt": a} for i, a in claims])
        return {(int(i), int(a)) for i, a in self.rows("live_claims", claims=wanted)}

    def live_upload_ids(self) -> set[str]:
        return {row[0] for row in self.rows("live_upload_ids")}

    def connection_room(self) -> int:
        """How many more connections the database takes now."""
        return int(self.rows("connection_room")[0][0])

    def job_counts(self, job: str) -> dict[str, tuple[int, int]]:
        """{status: (files, bytes)} for one job."""
        return {status: (int(n), int(b)) for status, n, b in self.rows("job_counts", job=job)}

    def fold_page_changes(self) -> int | None:
        """Fold the page counters' recent changes into their totals, so that reading them stays quick; returns
        how many changes were folded, None when another fold was running (it takes them)."""
        [(folded,)] = self.rows("fold_page_changes")
        return None if folded is None else int(folded)
