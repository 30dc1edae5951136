"""Copies of small files on a source's download loop (`Source.downloads`: plain FTP to a local disk), the ordinary
copy (`copy_file` on the worker's threads) for the rest: a file larger than one write part (its time is in its
bytes, not in its round trips, and a download cut midway resumes where it stopped), a file claimed again (its
earlier attempt's copy may be there already, which `copy_file` checks first), and every file the loop gives up on
(`NotDoneHere`), which `copy_file` then copies with its error codes and retries. Each file's writer, fence and
commit are the ordinary copy's; only the reading differs."""

from __future__ import annotations

import contextlib
import functools
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future

from filepool.interfaces import (
    Destination,
    Download,
    Downloaded,
    Downloads,
    NotDoneHere,
    Source,
    WriteContext,
    Writer,
)
from filepool.ledger import ClaimedFile, Completion
from filepool.transfer.copy import completion, finish

Ordinary = Callable[[ClaimedFile], "Future[Completion]"]


class LoopCopies:
    def __init__(self, destination: Destination, fence: Callable[[ClaimedFile], None], ordinary: Ordinary) -> None:
        self._destination = destination
        self._fence = fence
        self._ordinary = ordinary
        self._queue: deque[tuple[ClaimedFile, Future[Completion], Writer]] = deque()
        self._loop: Downloads | None = None

    @classmethod
    def start(
        cls,
        source: Source,
        destination: Destination,
        sessions: int,
        fence: Callable[[ClaimedFile], None],
        ordinary: Ordinary,
    ) -> LoopCopies | None:
        """Copies on `source`'s download loop, or None where it has none or `destination` does not write to a
        local disk (a loop's thread must never wait on a network to write)."""
        if not destination.writes_locally:
            return None
        copies = cls(destination, fence, ordinary)
        loop = source.downloads(sessions, copies._next)
        if loop is None:
            return None
        copies._loop = loop
        return copies

    def submit(self, f: ClaimedFile) -> Future[Completion]:
        assert self._loop is not None
        if f.attempts > 1 or f.size > self._destination.chunk_size(f.size) or not self._loop.alive():
            return self._ordinary(f)
        future: Future[Completion] = Future()
        # The writer is opened here, on the caller's thread: making files was a quarter of the loop's time, and
        # the loop goes on meanwhile (the GIL is free while a file is made). 1,000 x 200 KiB: 1.11 -> 1.01 s.
        try:
            writer = self._destination.open_writer(f.destination, f.size, WriteContext(claim=f"{f.id}-{f.attempts}"))
        except BaseException as exc:
            future.set_exception(exc)
            return future
        self._queue.append((f, future, writer))
        self._loop.wake()
        if not self._loop.alive():  # it stopped meanwhile, maybe after taking what was queued
            self._to_ordinary()
        return future

    def close(self) -> None:
        assert self._loop is not None
        self._loop.close()
        self._to_ordinary()

    def _to_ordinary(self) -> None:
        """What is queued goes the ordinary way (a loop that stopped takes nothing more)."""
        while self._queue:
            try:
                f, future, writer = self._queue.popleft()
            except IndexError:  # taken meanwhile by the loop
                return
            writer.abort()
            if future.set_running_or_notify_cancel():
                _settle(future, self._ordinary(f))

    def _next(self) -> Download | None:
        """On the loop's thread: the next file not cancelled meanwhile (a worker that stops gives back what it
        has not started), with its writer open."""
        while self._queue:
            f, future, writer = self._queue.popleft()
            if not future.set_running_or_notify_cancel():
                writer.abort()
                continue
            started = time.perf_counter()
            return Download(f.source_path, f.size, writer, functools.partial(self._done, f, future, writer, started))
        return None

    def _done(
        self,
        f: ClaimedFile,
        future: Future[Completion],
        writer: Writer,
        started: float,
        outcome: Downloaded | NotDoneHere,
    ) -> None:
        """On the loop's thread: finish as `copy_file` does (copy.finish), or leave the file to the ordinary copy."""
        if isinstance(outcome, NotDoneHere):
            writer.abort()
            _settle(future, self._ordinary(f))
            return
        try:
            result = finish(writer, outcome.sha256, functools.partial(self._fence, f))
        except BaseException as exc:
            future.set_exception(exc)
            return
        future.set_result(completion(f, outcome.size, outcome.sha256.hex(), outcome.read_seconds, result, started))


@contextlib.contextmanager
def copy_starter(
    source: Source,
    destination: Destination,
    sessions: int,
    fence: Callable[[ClaimedFile], None],
    ordinary: Ordinary,
) -> Iterator[Ordinary]:
    """What starts a file's copy for a worker: `LoopCopies.submit` where the source has a download loop for this
    destination, else `ordinary` (a copy thread); the loop is closed when the block ends."""
    loop = LoopCopies.start(source, destination, sessions, fence, ordinary)
    if loop is None:
        yield ordinary
        return
    try:
        yield loop.submit
    finally:
        loop.close()


def _settle(future: Future[Completion], other: Future[Completion]) -> None:
    """`future` ends as `other` does."""

    def copy(done: Future[Completion]) -> None:
        error = done.exception()
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(done.result())

    other.add_done_callback(copy)
