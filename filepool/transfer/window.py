"""Which files of a route one run is about: the whole route (a sweep), or those of a data interval - under a
date-partitioned folder, or with a modification time inside the interval.

A window only selects: the route's ledger job and its destination keys stay relative to the route's fixed root, so
a file moved by a sweep is never moved again by an interval's run, and the other way round.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from filepool.exceptions import InvalidConfig
from filepool.names import storable


@dataclass(frozen=True)
class Window:
    """`folders`: where to list, relative to the route's root (None: the root itself). `mtime_from` and
    `mtime_until`: the modification times taken, `[from, until)`, seconds since the epoch (None: unbounded).
    `exact`: the run moves only this window's files (a backfill or a manual run of an interval); otherwise it
    moves whatever the route's queue holds (a scheduled run: files its window found, files left by earlier runs,
    retries)."""

    folders: tuple[str, ...] | None = None
    mtime_from: float | None = None
    mtime_until: float | None = None
    exact: bool = False
    headline: str = field(default="", compare=False)  # "backfill 2026-01-02 00:00-2026-01-03 00:00, select_by=..."

    def __post_init__(self) -> None:
        for folder in self.folders or ():
            parts = folder.strip("/").split("/")
            if folder.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\x00" in folder:
                raise InvalidConfig(
                    f"partition {storable(folder)!r} must be a plain relative folder under the route's root "
                    "(no leading '/', no '.' or '..' segments)"
                )
        if self.exact and self.folders is not None and len(self.folders) != 1:
            raise InvalidConfig("an exact window lists one partition")

    def roots(self, route_root: str) -> list[str]:
        """The absolute folders to list."""
        if self.folders is None:
            return [route_root]
        return [posixpath.join(route_root, folder.strip("/")) for folder in self.folders]

    def takes(self, mtime: float) -> bool:
        return (self.mtime_from is None or mtime >= self.mtime_from) and (
            self.mtime_until is None or mtime < self.mtime_until
        )

    def claim_filter(self, route_root: str) -> dict[str, object]:
        """The ledger's claim parameters that keep an exact window's workers on its files (none otherwise)."""
        if not self.exact:
            return {"path_prefix": None, "mtime_from": None, "mtime_until": None}
        prefix = None if self.folders is None else self.roots(route_root)[0].rstrip("/") + "/"
        return {"path_prefix": prefix, "mtime_from": self.mtime_from, "mtime_until": self.mtime_until}

    def describe(self) -> str:
        parts = []
        if self.folders is not None:
            parts.append("folders " + ", ".join(self.folders))
        if self.mtime_from is not None or self.mtime_until is not None:
            parts.append(f"mtime in [{self.mtime_from}, {self.mtime_until})")
        what = "; ".join(parts) or "the whole route"
        return f"{what} ({'this interval only' if self.exact else 'and whatever the queue holds'})"


SWEEP = Window()
