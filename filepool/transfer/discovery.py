"""Which listed files are stable enough to take: unchanged across `settle` seconds, or older than `min_age`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from filepool.transfer.interfaces import RemoteFile


@dataclass(frozen=True)
class Listing:
    stable: list[RemoteFile]
    unstable: list[RemoteFile]


def stable_files(
    listed: list[RemoteFile],
    restat: Callable[[list[str]], dict[str, RemoteFile]],
    settle: float,
    min_age: float,
    now: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Listing:
    """Split a listing into files to register now and files still being written.

    A file is stable when its mtime is at least `min_age` seconds old, or when its size and mtime are the same
    in a second look `settle` seconds later. Only the young files are looked at twice.
    """
    cutoff = now() - min_age
    old = [f for f in listed if f.changed_before(cutoff)]
    young = [f for f in listed if not f.changed_before(cutoff)]
    if not young or settle <= 0:
        return Listing(old + young, [])
    sleep(settle)
    again = restat([f.path for f in young])
    steady = [f for f in young if again.get(f.path) == f]
    moving = [f for f in young if again.get(f.path) != f]
    return Listing(old + steady, moving)
