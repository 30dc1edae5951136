"""Copy one claimed file: stream it source -> destination in parts, hashing as it goes, then verify."""

from __future__ import annotations

import hashlib
import time

from filepool.exceptions import SizeMismatch, SourceChanged
from filepool.ledger import ClaimedFile, Completion
from filepool.transfer.interfaces import Destination, SourceSession


def copy_file(claimed: ClaimedFile, session: SourceSession, destination: Destination) -> Completion:
    started = time.perf_counter()
    chunk = destination.chunk_size(claimed.size)
    # A file that fits one chunk is read whole in the same round of requests as its open and stat.
    source = session.open_file(claimed.source_path, prefetch=claimed.size if chunk >= claimed.size else 0)
    try:
        if (source.size is not None and source.size != claimed.size) or (
                source.mtime is not None and source.mtime != claimed.mtime):
            raise _changed(claimed, f"size {claimed.size} -> {source.size}, mtime {claimed.mtime} -> {source.mtime}")
        writer = destination.open_writer(claimed.destination, claimed.size)
        digest = hashlib.sha256()
        copied = 0
        read_seconds = 0.0
        parts = source.parts(chunk)
        try:
            while True:
                waited = time.perf_counter()
                data = next(parts, None)
                read_seconds += time.perf_counter() - waited
                if data is None:
                    break
                copied += len(data)
                if copied > claimed.size:  # grew since discovery: stop before writing what was not listed
                    raise _changed(claimed, f"more than {claimed.size} bytes")
                digest.update(data)
                writer.write(data)
            if copied != claimed.size:
                if source.size is None:  # the source could only tell by its end
                    raise _changed(claimed, f"{copied} bytes instead of {claimed.size}")
                raise SizeMismatch(f"{claimed.source_path}: read {copied} bytes, expected {claimed.size}")
            result = writer.commit(digest.digest())
        except BaseException:
            writer.abort()
            raise
        finally:
            parts.close()  # now, not at garbage collection: the source's session is about to be reused
    finally:
        source.close()
    return Completion(
        id=claimed.id, bytes=copied, checksum=digest.hexdigest(), checksum_algo="sha256", etag=result.etag,
        read_seconds=round(read_seconds, 6), write_seconds=round(result.write_seconds, 6),
        total_seconds=round(time.perf_counter() - started, 6),
    )


def _changed(claimed: ClaimedFile, how: str) -> SourceChanged:
    return SourceChanged(f"{claimed.source_path} changed since discovery ({how}); "
                         "its new version will be discovered anew")
