"""The two modes: batch sends as fast as the broker takes it; realtime replays event_ts spacing (scaled)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TextIO

from producer.events import Event, Malformed, parse
from producer.ordering import in_time_order
from producer.sender import Sender


@dataclass
class Tally:
    lines: int = 0
    rejected: int = 0
    gaps_cut: int = 0  # realtime: waits between two events cut to --max-gap
    started: float = field(default_factory=time.monotonic)


class Rejects:
    """Malformed lines, each as a JSON line with its number and the reason; the file is made on the first one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._out: IO[str] | None = None

    def add(self, number: int, line: str, reason: str) -> None:
        if self._out is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._out = self.path.open("a", encoding="utf-8")
        self._out.write(json.dumps({"line_number": number, "reason": reason, "line": line}, ensure_ascii=False) + "\n")

    def close(self) -> None:
        if self._out is not None:
            self._out.close()


class Progress:
    """A line on stderr every `every` seconds: sent, delivered, rejected, rate."""

    def __init__(self, sender: Sender, tally: Tally, every: float) -> None:
        self._sender, self._tally, self._every = sender, tally, every
        self._next = time.monotonic() + every

    def tick(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self._next:
            return
        self._next = now + self._every
        rate = self._sender.produced / max(now - self._tally.started, 1e-9)
        write_line(
            sys.stderr,
            f"progress: {self._sender.produced:,} sent, {self._sender.delivered:,} delivered, "
            f"{self._tally.rejected:,} rejected, {rate:,.0f} events/s",
        )


def write_line(stream: TextIO, text: str) -> None:
    """`text` and its newline in one write: print() writes them apart, and Docker, reading stdout and stderr
    side by side, may put a line from the other stream between them (a summary glued behind a progress line)."""
    stream.write(text + "\n")
    stream.flush()


def _events(path: Path, tally: Tally, rejects: Rejects, max_bytes: int) -> Iterator[Event]:
    """The file's events in file order; a malformed line, or one the broker would refuse as too large, goes to
    the reject file (only its first KiB, for a large one) and is counted."""
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            tally.lines += 1
            text = line.strip()
            if not text:
                continue
            try:
                event = parse(text)
                if len(event.value) + len(event.key) > max_bytes:
                    raise Malformed(
                        f"{len(event.value):,} bytes: more than the {max_bytes:,} a message may have "
                        "(message.max.bytes)"
                    )
            except Malformed as exc:
                tally.rejected += 1
                shown = text if len(text) <= 1024 else text[:1024] + b"..."
                rejects.add(number, shown.decode(errors="replace"), str(exc))
                continue
            yield event


def batch(path: Path, sender: Sender, tally: Tally, rejects: Rejects, progress: Progress) -> None:
    for event in _events(path, tally, rejects, sender.max_bytes):
        sender.send(event.key, event.value)
        if sender.produced % 2000 == 0:
            progress.tick()


def realtime(
    path: Path,
    sender: Sender,
    tally: Tally,
    rejects: Rejects,
    progress: Progress,
    speed: float,
    max_gap: float = 60.0,
) -> None:
    """Events in event_ts order (an on-disk sort: see ordering.py), each sent when its distance from the one
    before (divided by `speed`) has passed. A gap longer than `max_gap` seconds (an event_ts far off the others,
    years ahead) is cut to `max_gap`, and counted in `tally.gaps_cut`: the replay never sleeps for years."""
    previous: float | None = None
    due = time.monotonic()
    for event in in_time_order(_events(path, tally, rejects, sender.max_bytes)):
        if previous is not None:
            gap = (event.at - previous) / speed
            if gap > max_gap:
                tally.gaps_cut += 1
                gap = max_gap
            due += gap
        previous = event.at
        while (wait := due - time.monotonic()) > 0:
            sender.wait(min(wait, 0.1))
            progress.tick()
        sender.send(event.key, event.value)
    progress.tick()
