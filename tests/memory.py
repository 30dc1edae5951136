"""In-memory endpoints and a broker for fast tests of the engine's logic: a Source over a dict of files, a
Destination that keeps what it was given (and counts each write), and a Sink that takes, refuses or is down as a
test says. They implement filepool.interfaces as the real endpoints do; the ledger stays the real PostgreSQL
(it is what the engine's guarantees rest on). What only a real server can prove (sessions, resumes, protocol
errors, multipart uploads) stays in tests/integration."""

from __future__ import annotations

import fnmatch
import posixpath
import threading
from collections import Counter
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from filepool.exceptions import FileNotFound, FilepoolError, TransferIOError
from filepool.interfaces import (
    NO_CONTEXT,
    Destination,
    Refusal,
    RemoteFile,
    Source,
    Unlisted,
    WriteContext,
    WriteResult,
)


@dataclass
class MemoryFile:
    data: bytes
    mtime: float = 1_000_000.0


@dataclass
class _Open:
    path: str
    file: MemoryFile
    offset: int
    fail: BaseException | None

    @property
    def size(self) -> int:
        return len(self.file.data)

    @property
    def mtime(self) -> float:
        return self.file.mtime

    def parts(self, part_size: int) -> Generator[bytes, None, None]:
        for start in range(self.offset, len(self.file.data), part_size):
            if self.fail is not None and start > 0:  # fails after its first part
                raise self.fail
            yield self.file.data[start : start + part_size]
        if self.fail is not None and len(self.file.data) <= part_size:
            raise self.fail

    def close(self) -> None:
        return None


class _Session:
    def __init__(self, source: MemorySource) -> None:
        self._source = source

    def open_file(self, path: str, prefetch: int = 0, offset: int = 0) -> _Open:
        found = self._source.files.get(path)
        if found is None:
            raise FileNotFound(f"{path} not found")
        self._source.opened[path] += 1
        return _Open(path, found, offset, self._source.failing.get(path))

    def stat_files(self, paths: list[str]) -> dict[str, RemoteFile]:
        return self._source.stat_files(paths)

    def remove(self, path: str) -> None:
        del self._source.files[path]

    def move(self, path: str, target: str) -> None:
        self._source.files[target] = self._source.files.pop(path)


@dataclass
class MemorySource(Source):
    """Files by absolute path; `failing[path]` is raised while that file is read (after its first part)."""

    files: dict[str, MemoryFile]
    failing: dict[str, BaseException] = field(default_factory=dict)
    opened: Counter[str] = field(default_factory=Counter)

    @contextmanager
    def session(self) -> Iterator[_Session]:
        yield _Session(self)

    def iter_files(
        self, root: str, pattern: str = "*", recursive: bool = True
    ) -> Iterator[list[RemoteFile | Unlisted]]:
        listed: list[RemoteFile | Unlisted] = []
        for path, f in sorted(self.files.items()):
            inside = path.startswith(root.rstrip("/") + "/")
            deeper = "/" in path[len(root.rstrip("/")) + 1 :]
            if inside and (recursive or not deeper) and fnmatch.fnmatchcase(posixpath.basename(path), pattern):
                listed.append(RemoteFile(path, len(f.data), f.mtime))
        yield listed

    def stat_files(self, paths: list[str]) -> dict[str, RemoteFile]:
        return {p: RemoteFile(p, len(self.files[p].data), self.files[p].mtime) for p in paths if p in self.files}

    def has_folder(self, path: str) -> bool:
        return any(p.startswith(path.rstrip("/") + "/") for p in self.files)


class _Writer:
    def __init__(self, destination: MemoryDestination, key: str) -> None:
        self._destination, self._key, self._data = destination, key, bytearray()

    def write(self, data: bytes) -> None:
        self._data += data

    def commit(self, sha256: bytes) -> WriteResult:
        with self._destination.lock:
            self._destination.objects[self._key] = bytes(self._data)
            self._destination.writes[self._key] += 1
        return WriteResult(None, 0.0)

    def abort(self, keep: bool = False) -> None:
        self._destination.aborted.append(self._key)


@dataclass
class MemoryDestination(Destination):
    """Objects by key, each write counted; `part` bytes per write."""

    part: int = 64 * 1024
    objects: dict[str, bytes] = field(default_factory=dict)
    writes: Counter[str] = field(default_factory=Counter)
    aborted: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def chunk_size(self, size: int) -> int:
        return self.part

    def open_writer(self, key: str, size: int, context: WriteContext = NO_CONTEXT) -> _Writer:
        return _Writer(self, key)


@dataclass
class MemorySink:
    """A broker: takes every item but those at `refuse` (by a predicate on the item), or none while `down`."""

    refuse: Any = None  # item -> why it is refused, or None
    down: str | None = None
    sent: list[Any] = field(default_factory=list)
    closed: int = 0

    def send_each(self, items: Sequence[Any]) -> dict[int, Refusal]:
        if self.down is not None:
            return {i: Refusal(self.down, True) for i in range(len(items))}
        refused: dict[int, Refusal] = {}
        for i, item in enumerate(items):
            why = self.refuse(item) if self.refuse is not None else None
            if why is None:
                self.sent.append(item)
            else:
                refused[i] = Refusal(why, False)
        return refused

    def close(self) -> None:
        self.closed += 1


def io_error(path: str) -> FilepoolError:
    """What a source raises for a file it cannot read to the end (an I/O error, not the connection's)."""
    return TransferIOError(f"Input/output error reading {path}")
