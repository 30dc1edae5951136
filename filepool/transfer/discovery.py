"""Discovery: list a route's source, keep the files that are stable, register them in the ledger.

The source lists folder by folder (`Listing.iter_files`); files old enough are registered while the rest is still
being listed, so a worker running alongside (`Discovery`, a thread) copies them at once; young files get a second
look at the end (`Selection.settled`) and are taken only if they did not change.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from filepool.exceptions import SourceNotFound
from filepool.interfaces import Listing, RemoteFile, Unlisted
from filepool.ledger import DiscoveredFile, Ledger
from filepool.names import storable
from filepool.transfer.folders import ListedFolders
from filepool.transfer.route import Route
from filepool.transfer.window import SWEEP, Window

log = logging.getLogger(__name__)

# While the listing goes on, files are registered in statements of 200, or sooner when the last statement is
# 0.2 s old (the first batch at once), so a worker never idles long behind a slow listing.
_REGISTER_EVERY = 200
_REGISTER_SECONDS = 0.2
_LOGGED_UNLISTED = 20


@dataclass(frozen=True)
class Selection:
    """Which listed files discovery takes: names matching `pattern` (in sub-folders too when `recursive`), once
    stable. The stability rule: a file is stable when its mtime is at least `min_age` seconds old, or when its size
    and mtime are the same in a second look `settle` seconds later (`settle` 0: every listed file at once)."""

    pattern: str = "*"
    recursive: bool = True
    settle: float = 5.0
    min_age: float = 60.0

    def old_enough(self, f: RemoteFile, now: float) -> bool:
        """Taken without a second look."""
        return self.settle <= 0 or f.changed_before(now - self.min_age)

    def settled(
        self,
        young: list[RemoteFile],
        restat: Callable[[list[str]], dict[str, RemoteFile]],
        sleep: Callable[[float], None] = time.sleep,
    ) -> tuple[list[RemoteFile], list[RemoteFile]]:
        """(steady, still changing): the young files looked at again `settle` seconds later."""
        if not young:
            return [], []
        sleep(self.settle)
        again = restat([f.path for f in young])
        return [f for f in young if again.get(f.path) == f], [f for f in young if again.get(f.path) != f]


@dataclass
class _Registrar:
    """Registers batches of stable files of one window; for an exact window (one data interval's run) it first
    counts those moved already and, when told to `resend` (the reason), queues them again."""

    ledger: Ledger
    route: Route
    window: Window
    resend: str | None
    registered: Callable[[], None] | None
    folders: ListedFolders | None = None
    new: int = 0
    sent: int = 0  # files sent to the ledger
    selected: int = 0
    moved_already: int = 0
    resent: int = 0

    def __call__(self, files: list[RemoteFile]) -> None:
        found = self.ledger.canonical(  # a coarse FTP LIST time is the version the ledger has, where they agree
            self.route.job,
            [
                DiscoveredFile(
                    f.path, f.size, f.mtime, self.route.destination_for(f.path), None, f.mtime_precision, f.mtime_offset
                )
                for f in files
            ],
        )
        self.sent += len(found)
        if self.window.exact:
            self.selected += len(found)
            done = self.ledger.moved_already(self.route.job, found)  # before registering: none of ours yet
            self.moved_already += done
            if done and self.resend:
                self.resent += self.ledger.resend(self.route.job, found, self.resend)
        self.new += self.ledger.register(self.route.job, found)
        if self.folders is not None:
            self.folders.registered()
        if self.registered is not None:
            self.registered()


def discover(
    ledger: Ledger,
    route: Route,
    source: Listing,
    selection: Selection,
    registered: Callable[[], None] | None = None,
    window: Window = SWEEP,
    resend: str | None = None,
    report: bool = True,
) -> dict[str, Any]:
    """List `route`'s source folder (the folders of `window`), register its stable files (those whose mtime is in
    `window`) idempotently, `registered()` being called after each statement, and record the entries not taken;
    returns the counts and timings for the task's summary. `resend`: the reason to send an exact window's files
    moved already once more. `report`: log what it found (a watcher polling every few seconds does not: a line a
    poll is too many; what goes wrong is logged all the same)."""
    started = time.monotonic()
    if not source.has_folder(route.source_root):
        raise SourceNotFound(f"the source folder {route.source_root} does not exist (route {route.source})")
    now = time.time()
    unlisted: list[Unlisted] = []
    listed = outside = 0
    last_registered = float("-inf")
    ready: list[RemoteFile] = []
    young: list[RemoteFile] = []
    # Only a sweep skips unchanged folders: the run of one data interval selects by time and counts what it finds.
    folders = ListedFolders(ledger, route.job) if window == SWEEP and resend is None else None
    register = _Registrar(ledger, route, window, resend, registered, folders)

    for root in window.roots(route.source_root):
        for batch in source.iter_files(root, selection.pattern, selection.recursive):  # one folder's entries
            taken: list[RemoteFile] = []
            whole = True  # every entry of the folder taken at once: its digest may be kept
            for f in batch:
                if isinstance(f, Unlisted):
                    unlisted.append(f)
                    whole = False
                    continue
                listed += 1
                if not window.takes(f.mtime):
                    outside += 1
                    whole = False
                    continue
                if selection.old_enough(f, now):
                    taken.append(f)
                else:
                    young.append(f)
                    whole = False
            if not (folders is not None and whole and taken and folders.unchanged(taken)):
                ready.extend(taken)
            if ready and (len(ready) >= _REGISTER_EVERY or time.monotonic() - last_registered >= _REGISTER_SECONDS):
                register(ready)
                ready, last_registered = [], time.monotonic()
    register(ready)
    listed_at = time.monotonic()
    steady, moving = selection.settled(young, source.stat_files)
    if steady:
        register(steady)
    finished = time.monotonic()
    _record_unlisted(ledger, route, unlisted)
    info = log.info if report else log.debug
    info(
        "Discovery: %d files listed, %d new, %d still changing (taken on a later run), %d entries not taken",
        listed,
        register.new,
        len(moving),
        len(unlisted),
    )
    outcome: dict[str, Any] = {
        "listed": listed,
        "registered": register.new,
        "sent": register.sent,
        "rejected": len(unlisted),
        "still_changing": len(moving),
        "seconds": round(finished - started, 3),
        "listing_seconds": round(listed_at - started, 3),
        "settle_seconds": round(finished - listed_at, 3),
    }
    if folders is not None:
        outcome |= {"unchanged_folders": folders.unchanged_folders, "unchanged_files": folders.unchanged_files}
        info(
            "%d folders (%d files) as at the last sweep: not sent to the ledger; %d files sent",
            folders.unchanged_folders,
            folders.unchanged_files,
            register.sent,
        )
    if window != SWEEP:
        outcome |= {"window": window.headline or window.describe(), "outside_window": outside}
        info("Selected by this run's data interval: %s; %d listed files outside it", window.describe(), outside)
    if window.exact:
        outcome |= {"selected": register.selected, "moved_already": register.moved_already, "resent": register.resent}
        info(
            "This interval: %d files selected, %d moved already%s",
            register.selected,
            register.moved_already,
            f", {register.resent} of them sent again on purpose ({resend})" if resend else "",
        )
    return outcome


def _record_unlisted(ledger: Ledger, route: Route, unlisted: list[Unlisted]) -> None:
    """Entries of the listing not taken: a FAILED row each (their code, a `rejected` event), and the log."""
    for u in unlisted[:_LOGGED_UNLISTED]:
        log.warning("Not taken from the listing: [%s] %s", u.code, storable(u.message))
    if len(unlisted) > _LOGGED_UNLISTED:
        log.warning("... and %d more entries not taken (all in the ledger)", len(unlisted) - _LOGGED_UNLISTED)
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
    """`discover` on its own thread and ledger connection (closed at the end), so the worker copies files as they
    are registered; the worker asks `more_coming` before it decides the queue is empty."""

    def __init__(
        self,
        ledger: Ledger,
        route: Route,
        source: Listing,
        selection: Selection,
        window: Window = SWEEP,
        resend: str | None = None,
    ) -> None:
        super().__init__(name="filepool-discovery", daemon=True)
        self._ledger = ledger
        self._route = route
        self._source = source
        self._selection = selection
        self._window = window
        self._resend = resend
        self._news = threading.Event()
        self._finished = threading.Event()
        self.result: dict[str, Any] | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = discover(
                self._ledger, self._route, self._source, self._selection, self._news.set, self._window, self._resend
            )
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
