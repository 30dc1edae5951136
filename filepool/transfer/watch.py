"""Watching a route's folder for new files: list it over one session kept open (logged out between polls where the
connection caps its logins: `max_logins`), apply discovery's stability rule, register what is new in the ledger.
The ledger decides what is new, so a watcher that restarts neither misses nor repeats a file; the watcher only
remembers which versions it registered, to spare the ledger their upserts."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from filepool.interfaces import Listing, RemoteFile, Source, Unlisted
from filepool.ledger import Ledger
from filepool.transfer.discovery import Selection, discover
from filepool.transfer.route import Route

log = logging.getLogger(__name__)


KNOWN = 200_000  # versions a watcher remembers (about 25 MB); one forgotten costs one upsert the ledger skips


@dataclass
class _Unseen:
    """The source's listing without the versions registered already (old enough to be taken at once). It
    remembers the last KNOWN of them, oldest forgotten first: the triggerer's memory stays bounded however many
    files pass through the folder."""

    source: Listing
    selection: Selection
    known: dict[tuple[str, int, float], None] = field(default_factory=dict)
    now: float = 0.0

    def iter_files(
        self, root: str, pattern: str = "*", recursive: bool = True
    ) -> Iterator[list[RemoteFile | Unlisted]]:
        for batch in self.source.iter_files(root, pattern, recursive):
            fresh: list[RemoteFile | Unlisted] = []
            for f in batch:
                if isinstance(f, RemoteFile):
                    key = (f.path, f.size, f.mtime)
                    if key in self.known:
                        continue
                    if self.selection.old_enough(f, self.now):
                        self.known[key] = None  # discover registers it in this pass
                        if len(self.known) > KNOWN:
                            del self.known[next(iter(self.known))]
                fresh.append(f)
            yield fresh

    def stat_files(self, paths: list[str]) -> dict[str, RemoteFile]:
        return self.source.stat_files(paths)

    def has_folder(self, path: str) -> bool:
        return self.source.has_folder(path)


class Watch:
    """One route's folder, polled: `poll()` registers the new stable files and says how many."""

    def __init__(self, ledger: Ledger, route: Route, source: Source, selection: Selection) -> None:
        self.ledger, self.route, self.source, self.selection = ledger, route, source, selection
        self._listing = _Unseen(source, selection)

    def poll(self, now: float) -> int:
        self._listing.now = now
        try:
            found = discover(self.ledger, self.route, self._listing, self.selection, report=False)
        finally:
            self.source.release_logins()  # a login slot never idles here between polls
        return int(found.get("registered", 0))

    def queued(self) -> int:
        """Files of the route waiting in the ledger (registered before a restart, say)."""
        counts = self.ledger.job_counts(self.route.job)
        return counts.get("DISCOVERED", (0, 0))[0]

    def close(self) -> None:
        try:
            self.source.close()
        finally:
            self.ledger.close()
