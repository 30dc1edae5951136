"""Events in event_ts order with bounded memory: an on-disk merge sort.

Events are read in runs of RUN_EVENTS; each run is sorted in memory and, when the file holds more than one run,
written to a temporary file; the runs are then merged (heapq.merge) as they are read back. Memory holds one run
(plus a line per run while merging), whatever the size of the day; the order is exact (events with equal
event_ts keep their order in the file), which a bounded reorder window could not promise.
"""

from __future__ import annotations

import heapq
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from producer.events import Event

RUN_EVENTS = 200_000


def in_time_order(events: Iterable[Event], run_events: int = RUN_EVENTS, folder: str | None = None) -> Iterator[Event]:
    runs: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="producer-sort-", dir=folder) as work:
        run: list[Event] = []
        for event in events:
            run.append(event)
            if len(run) >= run_events:
                runs.append(_write_run(run, Path(work) / f"run-{len(runs)}"))
                run = []
        run.sort(key=_at)
        if not runs:  # the day fits in one run: no file written
            yield from run
            return
        runs.append(_write_run(run, Path(work) / f"run-{len(runs)}"))
        yield from heapq.merge(*(_read_run(path) for path in runs), key=_at)


def _at(event: Event) -> float:
    return event.at


def _write_run(run: list[Event], path: Path) -> Path:
    run.sort(key=_at)
    with path.open("wb") as out:
        for event in run:  # values are single JSON lines (no newline), keys hex digests (no tab)
            out.write(b"%r\t%s\t%s\n" % (event.at, event.key.encode(), event.value))
    return path


def _read_run(path: Path) -> Iterator[Event]:
    with path.open("rb") as lines:
        for line in lines:
            at, key, value = line.rstrip(b"\n").split(b"\t", 2)
            yield Event(key.decode(), float(at), value)
