"""Copy one claimed file: stream it source -> destination in parts, hashing as it goes, then verify."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass

from filepool.exceptions import ConnectionFailed, FilepoolError, SizeMismatch, SourceChanged
from filepool.interfaces import Destination, NotTheSame, Source, WriteContext, Writer, WriteResult
from filepool.ledger import ClaimedFile, Completion

log = logging.getLogger(__name__)


RESUMES = 2  # times a download cut mid-file continues from where it stopped, on a fresh session


class _Reader:
    """A source file on a session borrowed from the pool; `resume(offset)` reopens it on a fresh session, once the
    file is shown to be the version claimed."""

    def __init__(self, source: Source, claimed: ClaimedFile, chunk: int, prefetch: int) -> None:
        self._source, self._claimed, self._path, self._chunk = source, claimed, claimed.source_path, chunk
        self._open(0, prefetch)

    def _open(self, offset: int, prefetch: int = 0) -> None:
        self._lease = self._source.session()
        session = self._lease.__enter__()
        try:
            self.file = session.open_file(self._path, prefetch=prefetch, offset=offset)
        except BaseException:
            self._lease.__exit__(None, None, None)
            raise
        self._parts: Generator[bytes, None, None] | None = None

    def next_part(self) -> bytes | None:
        if self._parts is None:
            self._parts = self.file.parts(self._chunk)
        return next(self._parts, None)

    def resume(self, offset: int) -> None:
        """Go on from `offset` on a fresh session, unless the file changed meanwhile (a file rewritten in place
        would splice its new bytes onto the old ones): looked at again through the listing first, as an FTP
        download cannot tell its size or mtime, then by what the reopened file says where it tells."""
        self.close()
        found = self._source.stat_files([self._path]).get(self._path)
        if found is None:
            raise _changed(self._claimed, "gone before its download could resume")
        if found.size != self._claimed.size or not found.may_be(self._claimed.mtime):  # at the listing's precision
            raise _changed(self._claimed, f"size {found.size}, mtime {found.mtime} listed before resuming")
        self._open(offset)
        _same(self._claimed, self.file.size, self.file.mtime)

    def close(self) -> None:
        """Close now, not at garbage collection: the session goes back to the pool for another file."""
        try:
            if self._parts is not None:
                self._parts.close()
            self.file.close()
        finally:
            self._lease.__exit__(None, None, None)


@dataclass(frozen=True)
class _Streamed:
    copied: int
    sha256: str
    read_seconds: float
    result: WriteResult


def copy_file(
    claimed: ClaimedFile,
    source: Source,
    destination: Destination,
    remember: Callable[[str], None] | None = None,
    fence: Callable[[], None] = lambda: None,
) -> Completion:
    """Copy one file; `remember` is told the token of a resumable upload as soon as it exists, and `fence` is
    called right before the destination commits the file: it raises (LEASE_LOST) when the file is no longer
    this worker's to write.

    A file claimed again (an earlier attempt died or failed) is first compared with what is already at the
    destination, where the destination can tell: when an earlier attempt's write did land, with the same bytes,
    the file is recorded without being written a second time.
    """
    started = time.perf_counter()
    chunk = destination.chunk_size(claimed.size)
    streamed = None
    if claimed.attempts > 1:
        streamed = _already_there(claimed, source, destination, chunk)
    if streamed is None:
        streamed = _stream(
            claimed,
            source,
            chunk,
            lambda: destination.open_writer(
                claimed.destination,
                claimed.size,
                WriteContext(claimed.upload_id, remember, f"{claimed.id}-{claimed.attempts}"),
            ),
            fence,
        )
    return completion(claimed, streamed.copied, streamed.sha256, streamed.read_seconds, streamed.result, started)


def finish(writer: Writer, sha256: bytes, fence: Callable[[], None]) -> WriteResult:
    """Every copy's end, on a copy thread or the download loop's: the fence (LEASE_LOST when the file is no longer
    this worker's to write), then the destination's commit; a failure aborts the write (see `abandon`)."""
    try:
        fence()
        return writer.commit(sha256)
    except BaseException as exc:
        abandon(writer, exc)
        raise


def abandon(writer: Writer, exc: BaseException) -> None:
    """Abort a write that failed with `exc`: an attempt that will be retried keeps its upload, so the next one
    sends only what is missing."""
    writer.abort(keep=isinstance(exc, FilepoolError) and exc.retryable)


def completion(
    claimed: ClaimedFile, copied: int, sha256: str, read_seconds: float, result: WriteResult, started: float
) -> Completion:
    """What the ledger records of a copy that landed; `write_seconds` is the writer's own count (its writes and
    commit), `started` the copy's perf_counter() start."""
    return Completion(
        id=claimed.id,
        attempt=claimed.attempts,
        bytes=copied,
        checksum=sha256,
        checksum_algo="sha256",
        etag=result.etag,
        read_seconds=round(read_seconds, 6),
        write_seconds=round(result.write_seconds, 6),
        total_seconds=round(time.perf_counter() - started, 6),
    )


def _already_there(claimed: ClaimedFile, source: Source, destination: Destination, chunk: int) -> _Streamed | None:
    probe = destination.existing_copy(claimed.destination, claimed.size)
    if probe is None:
        return None
    try:
        streamed = _stream(claimed, source, chunk, lambda: probe)
    except NotTheSame as exc:
        log.info("%s is at the destination but differs (%s): writing it again", claimed.destination, exc)
        return None
    log.info(
        "%s is already at the destination with the same bytes (an earlier attempt's write landed): "
        "recorded without writing it again",
        claimed.destination,
    )
    return streamed


def _stream(
    claimed: ClaimedFile,
    source: Source,
    chunk: int,
    open_writer: Callable[[], Writer],
    fence: Callable[[], None] = lambda: None,
) -> _Streamed:
    # A file that fits one chunk is read whole in the same round of requests as its open and stat.
    reader = _Reader(source, claimed, chunk, claimed.size if chunk >= claimed.size else 0)
    try:
        _same(claimed, reader.file.size, reader.file.mtime)
        writer = open_writer()
        digest = hashlib.sha256()
        copied = 0
        read_seconds = 0.0
        resumes = 0
        try:
            while True:
                waited = time.perf_counter()
                try:
                    data = reader.next_part()
                except ConnectionFailed as exc:
                    if resumes >= RESUMES:
                        raise
                    resumes += 1
                    log.info("Resuming %s at byte %d on a fresh session: %s", claimed.source_path, copied, exc)
                    reader.resume(copied)
                    continue
                finally:
                    read_seconds += time.perf_counter() - waited
                if data is None:
                    break
                copied += len(data)
                if copied > claimed.size:  # grew since discovery: stop before writing what was not listed
                    raise _changed(claimed, f"more than {claimed.size} bytes")
                digest.update(data)
                writer.write(data)
            if copied != claimed.size:
                if reader.file.size is None:  # the source could only tell by its end
                    raise _changed(claimed, f"{copied} bytes instead of {claimed.size}")
                raise SizeMismatch(f"{claimed.source_path}: read {copied} bytes, expected {claimed.size}")
        except BaseException as exc:
            abandon(writer, exc)
            raise
        result = finish(writer, digest.digest(), fence)
    finally:
        reader.close()
    return _Streamed(copied, digest.hexdigest(), read_seconds, result)


def _same(claimed: ClaimedFile, size: int | None, mtime: float | None) -> None:
    """SOURCE_CHANGED unless the size and mtime a source tells (None: it cannot) are the claimed version's."""
    if (size is not None and size != claimed.size) or (mtime is not None and mtime != claimed.mtime):
        raise _changed(claimed, f"size {claimed.size} -> {size}, mtime {claimed.mtime} -> {mtime}")


def _changed(claimed: ClaimedFile, how: str) -> SourceChanged:
    return SourceChanged(
        f"{claimed.source_path} changed since discovery ({how}); its new version will be discovered anew"
    )
