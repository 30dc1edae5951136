"""Copy one claimed file: stream it source -> destination in parts, hashing as it goes, then verify."""

from __future__ import annotations

import hashlib
import time

from filepool.exceptions import SizeMismatch, SourceChanged
from filepool.ledger import ClaimedFile, Completion
from filepool.transfer.interfaces import Destination, SourceSession

MAX_PARTS = 10_000  # the S3 limit
MIB = 1024 * 1024


def part_size_for(size: int, part_size: int) -> int:
    """`part_size`, grown to whole MiB when a file would otherwise need more than 10,000 parts."""
    needed = -(-size // MAX_PARTS)
    return max(part_size, -(-needed // MIB) * MIB)


def copy_file(claimed: ClaimedFile, session: SourceSession, destination: Destination,
              multipart_threshold: int, part_size: int) -> Completion:
    started = time.perf_counter()
    multipart = claimed.size >= multipart_threshold
    # A small file is read whole in the same round of requests as its open and stat.
    source = session.open_file(claimed.source_path, prefetch=0 if multipart else claimed.size)
    try:
        if source.size != claimed.size or source.mtime != claimed.mtime:
            raise SourceChanged(
                f"{claimed.source_path} changed since discovery (size {claimed.size} -> {source.size}, "
                f"mtime {claimed.mtime} -> {source.mtime}); its new version will be discovered anew"
            )
        chunk = part_size_for(claimed.size, part_size) if multipart else max(claimed.size, 1)
        writer = destination.open_writer(claimed.destination, claimed.size, multipart)
        digest = hashlib.sha256()
        copied = 0
        read_seconds = 0.0
        try:
            parts = source.parts(chunk)
            while True:
                waited = time.perf_counter()
                data = next(parts, None)
                read_seconds += time.perf_counter() - waited
                if data is None:
                    break
                digest.update(data)
                copied += len(data)
                writer.write(data)
            if copied != claimed.size:
                raise SizeMismatch(f"{claimed.source_path}: read {copied} bytes, expected {claimed.size}")
            result = writer.commit(digest.digest())
        except BaseException:
            writer.abort()
            raise
    finally:
        source.close()
    return Completion(
        id=claimed.id, bytes=copied, checksum=digest.hexdigest(), checksum_algo="sha256", etag=result.etag,
        read_seconds=round(read_seconds, 6), write_seconds=round(result.write_seconds, 6),
        total_seconds=round(time.perf_counter() - started, 6),
    )
