"""Until when this worker may still write each file it claimed, by its own clock: the fence of two writers.

A claim or a heartbeat sent at local time t keeps its files until t + lease: the ledger set its own deadline
after t, so the local one ends first. A file is committed at the destination only while its deadline is more
than a margin away; past it another worker may have taken the file over, and of two writers of one file only
one may ever succeed. Knowing this costs no query per file: the deadlines come from the statements the
worker runs anyway.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from filepool.exceptions import LeaseLost
from filepool.ledger import ClaimedFile


class Leases:
    def __init__(self, lease_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._lease = lease_seconds
        # Room for the commit itself (a rename, a PUT, completing a multipart upload) and for clock drift.
        self.margin = min(5.0, lease_seconds / 10)
        self._clock = clock
        self._held: dict[int, tuple[int, float]] = {}  # file id -> (attempt, local deadline)
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._clock()

    def claimed(self, files: Iterable[ClaimedFile], sent_at: float) -> None:
        with self._lock:
            for f in files:
                self._held[f.id] = (f.attempts, sent_at + self._lease)

    def renewed(self, held: set[tuple[int, int]], sent_at: float) -> None:
        """A heartbeat sent at `sent_at` says these (id, attempt) pairs are still this worker's."""
        with self._lock:
            for file_id, (attempt, _) in list(self._held.items()):
                if (file_id, attempt) in held:
                    self._held[file_id] = (attempt, sent_at + self._lease)

    def check(self, f: ClaimedFile) -> None:
        """Raise LEASE_LOST unless this claim of `f` is still held for longer than the margin."""
        self.check_claim(f.id, f.attempts, f.source_path)

    def check_claim(self, file_id: int, attempt: int, what: str) -> None:
        """`check` by file id and attempt; `what` names the file in the error."""
        with self._lock:
            held, deadline = self._held.get(file_id, (None, float("-inf")))
        if held != attempt:
            raise LeaseLost(f"{what}: claimed again since this attempt, or no longer held; not written")
        left = deadline - self._clock()
        if left <= self.margin:
            raise LeaseLost(
                f"{what}: the lease could not be renewed in time ({-left:.1f}s past, or too close to its end); "
                "not written, another worker may hold it"
            )

    def forget(self, f: ClaimedFile) -> None:
        with self._lock:
            if self._held.get(f.id, (None,))[0] == f.attempts:
                del self._held[f.id]
