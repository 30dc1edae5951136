"""What the engine needs from a source and a destination: every capability it uses, declared here; endpoints/
provides them. An endpoint subclasses `Source` or `Destination` and inherits the default of what is optional, so
mypy reports a missing method as an error where the endpoint is created."""

from __future__ import annotations

from collections.abc import Callable, Collection, Generator, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class RemoteFile:
    """A listed file: its path at the source, size in bytes and modification time (epoch seconds).

    `mtime_slack`: how much later than `mtime` the file may really have changed, where a listing cannot tell
    exactly (FTP LIST shows minutes, in the server's time zone): discovery counts a file as old only by
    `mtime + mtime_slack`, so a young file never looks old. `mtime_precision` (0: exact) and `mtime_offset` (the
    UTC offset a local time was read with; None: UTC) say what the listing gave (see DiscoveredFile)."""

    path: str
    size: int
    mtime: float
    mtime_slack: float = 0.0
    mtime_precision: float = 0.0
    mtime_offset: int | None = None

    def changed_before(self, moment: float) -> bool:
        return self.mtime + self.mtime_slack <= moment

    def may_be(self, mtime: float) -> bool:
        """Whether `mtime` (exact, or as a ledger row has it) may be this listing's, at the listing's precision."""
        return mtime == self.mtime or self.mtime <= mtime < self.mtime + self.mtime_precision


@dataclass(frozen=True)
class Refusal:
    """Why a broker (Kafka, AMQP) did not take one record; `down`: the broker could not be reached (every record
    alike), as against a refusal of this record (too large, a topic that does not exist, not routable)."""

    why: str
    down: bool


class Sink(Protocol):
    """A broker the outbox publisher sends through (filepool/events/): each item a channel's message tuple; returns
    {index: why} of the items the broker did not take."""

    def send_each(self, items: Sequence[Any]) -> dict[int, Refusal]: ...

    def close(self) -> None: ...


SinkOpener = Callable[[str, str], Sink]  # (channel, conn_id) -> a sink for it


@dataclass(frozen=True)
class Unlisted:
    """A listing entry that is not taken, and why: discovery records it (a FAILED row with `code` and a
    `rejected` event) and goes on with the others. `path` is as the listing gave it (escape it to store it)."""

    path: str
    code: str
    message: str


class SourceFile(Protocol):
    """An open source file; `size` and `mtime` are None where the protocol cannot tell before reading."""

    @property
    def size(self) -> int | None: ...
    @property
    def mtime(self) -> float | None: ...

    def parts(self, part_size: int) -> Generator[bytes, None, None]: ...
    def close(self) -> None: ...


class SourceSession(Protocol):
    def open_file(self, path: str, prefetch: int = 0, offset: int = 0) -> SourceFile:
        """Open `path`; `prefetch` bytes may be read at once, `offset` starts the parts further in (resume)."""
        ...

    def stat_files(self, paths: list[str]) -> dict[str, RemoteFile]:
        """Size and mtime of each path that exists."""
        ...

    def remove(self, path: str) -> None:
        """Delete a source file (after its transfer, when the operator says so)."""
        ...

    def move(self, path: str, target: str) -> None:
        """Rename a source file to `target` on the same server, creating its folders; never over a file."""
        ...


class LoginGate(Protocol):
    """Login slots of one server shared with other workers (filepool.transfer.login_slots.LoginSlots)."""

    def try_take(self) -> int | None: ...
    def holds(self, slot: int) -> bool: ...
    def give(self, slot: int) -> None: ...
    def close(self) -> None: ...


GateFor = Callable[[str, int], LoginGate]
"""`gate_for(conn_id, max_logins)`: the login gate of a connection that caps its logins."""


class Listing(Protocol):
    """What discovery reads: a source's files folder by folder, and a second look at some of them."""

    def iter_files(
        self, root: str, pattern: str = "*", recursive: bool = True
    ) -> Iterator[list[RemoteFile | Unlisted]]:
        """The regular files under `root` whose name matches `pattern` (never filepool's temporary files), each
        folder's as soon as it is listed; an entry or a folder that cannot be taken comes as an Unlisted and the
        walk goes on."""
        ...

    def stat_files(self, paths: list[str]) -> dict[str, RemoteFile]:
        """Size and mtime of each path that exists now."""
        ...

    def has_folder(self, path: str) -> bool:
        """Whether `path` is a folder there (a route's source folder that is not is an error, not an empty run)."""
        ...


class Source(Listing, Protocol):
    """Where files come from: a pool of sessions on one connection, which also lists."""

    def session(self) -> AbstractContextManager[SourceSession]:
        """A session of the pool for the calling thread, given back when the block ends."""
        ...

    def share_logins(self, gate_for: GateFor) -> None:
        """Cap the sessions open to this server over every worker when its connection says so (`max_logins`):
        the pool takes a slot from `gate_for(conn_id, max_logins)` for each session it opens. The default: a
        source without sessions to cap."""
        return None

    def release_logins(self) -> None:
        """Log out the idle sessions that hold a login slot (`share_logins`), for a source used now and then (a
        watcher between polls). The default: no such sessions."""
        return None

    def confine(self, path: str) -> str:
        """The path this source reads for `path` as a task message names it, refused (PATH_OUTSIDE_BASE) where it
        leaves what the connection allows: a local base path. The default: a remote path, as it is."""
        return path

    def downloads(self, sessions: int, next_download: Callable[[], Download | None]) -> Downloads | None:
        """Downloads of many files at once on one thread, up to `sessions` at a time, to writers that write to a
        local disk; None where the source has no such loop (the default), and files are copied on the worker's
        threads."""
        return None

    def close(self) -> None:
        """Close every session; called once, when the task is over."""
        return None


@dataclass(frozen=True)
class WriteResult:
    etag: str | None
    write_seconds: float


class Writer(Protocol):
    def write(self, data: bytes) -> None: ...
    def commit(self, sha256: bytes) -> WriteResult: ...

    def abort(self, keep: bool = False) -> None:
        """Clean up; with `keep`, leave what a later attempt can resume (an S3 multipart upload)."""
        ...


class NotTheSame(Exception):
    """What a destination holds under a key is not the source's bytes (or cannot be shown to be)."""


@dataclass(frozen=True)
class WriteContext:
    """What a destination may use besides the key and size: `resume_token` continues an earlier attempt's upload
    and `remember` is told the token of a new one so the ledger can keep it (S3 multipart); `claim` ("id-attempt")
    names the ledger claim in temporary names, so the temporary-file sweep can tell a live one (local, FTP)."""

    resume_token: str | None = None
    remember: Callable[[str], None] | None = None
    claim: str = ""


NO_CONTEXT = WriteContext()


Fence = Callable[[str, str], None]
"""`fence(claim, key)` raises when the file `key`, written for `claim`, may no longer be committed."""


class NotDoneHere(Exception):
    """A download given up on a download loop (`Source.downloads`): the file is to be copied the ordinary way."""


@dataclass(frozen=True)
class Downloaded:
    size: int
    sha256: bytes
    read_seconds: float
    write_seconds: float


@dataclass(frozen=True)
class Download:
    """A file for a download loop: its path at the source, its listed size, the writer that gets its bytes, and
    `done`, called on the loop's thread with the outcome (a `Downloaded`, or `NotDoneHere`)."""

    path: str
    size: int
    writer: Writer
    done: Callable[[Downloaded | NotDoneHere], None]


class Downloads(Protocol):
    """Downloads driven on one thread (filepool/endpoints/ftp/loop.py): it asks `next_download()` for work."""

    def wake(self) -> None:
        """There is new work: from any thread."""
        ...

    def alive(self) -> bool:
        """False once the loop stopped on a fault of its own: it takes no more work."""
        ...

    def close(self) -> None:
        """Finish the downloads under way and give the sessions back."""
        ...


class Destination(Protocol):
    """Where files go: `chunk_size` and `open_writer` are required; the rest has a default."""

    def chunk_size(self, size: int) -> int:
        """Bytes per write for a file of `size` bytes (a whole small file for one S3 PUT)."""
        ...

    def open_writer(self, key: str, size: int, context: WriteContext = NO_CONTEXT) -> Writer:
        """A writer for `key`, a file of `size` bytes."""
        ...

    def existing_copy(self, key: str, size: int) -> Writer | None:
        """A writer that writes nothing and whose commit raises NotTheSame unless what is stored under `key` has
        the bytes it was fed (see copy.copy_file); None when nothing of `size` bytes is stored there. The
        default: never compare (a file found again is written again)."""
        return None

    def sync(self, keys: Collection[str], fence: Fence) -> dict[str, Exception]:
        """Make the finished files `keys` durable and visible before the ledger records them, for a destination
        that commits files in groups (local disks); returns {key: error} for those it could not. `fence(claim,
        key)` is asked before each is made visible (`claim` as given to open_writer). The default: every
        writer's commit was already final."""
        return {}

    def share_logins(self, gate_for: GateFor) -> None:
        """As `Source.share_logins`: the default, a destination without sessions to cap."""
        return None

    def confine(self, path: str) -> str:
        """As `Source.confine`, for the path written to."""
        return path

    @property
    def writes_locally(self) -> bool:
        """Its writers write to a local disk, never waiting on a network: a download loop's thread may write
        with them (`Source.downloads`). The default: no."""
        return False

    def close(self) -> None:
        """Close the destination's sessions; called once, when the task is over."""
        return None
