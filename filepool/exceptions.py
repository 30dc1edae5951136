"""filepool's errors. Each carries a stable code that ends up in the ledger, the logs and docs/ERRORS.md."""

from __future__ import annotations


class FilepoolError(Exception):
    """Base error; `code` is stable, `retryable` says whether a later attempt may succeed."""

    code = "UNKNOWN_ERROR"
    retryable = True
    # True when the error is about a whole endpoint (login, host key, network), not one file:
    # the worker stops claiming more files through that endpoint.
    endpoint_wide = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


class InvalidConfig(FilepoolError):
    code = "INVALID_CONFIG"
    retryable = False


class FileNotFound(FilepoolError):
    code = "FILE_NOT_FOUND"
    retryable = False


class SourceNotFound(FilepoolError):
    """A route's source folder does not exist on its server (a mistyped path, a folder not made yet): the run
    fails with this, where it would otherwise look like a folder with nothing new."""

    code = "SOURCE_NOT_FOUND"
    retryable = False


class PathOutsideBase(FilepoolError):
    """A local path leaves the connection's base path (through `..`, an absolute path or a symlink)."""

    code = "PATH_OUTSIDE_BASE"
    retryable = False


class InvalidName(FilepoolError):
    """A listing entry whose name no file can have (a `/` or a NUL in it): not taken, recorded, the rest moves."""

    code = "INVALID_NAME"
    retryable = False


class NameCollision(FilepoolError):
    """Two files of one route whose names are the same once escaped (a name that is not UTF-8, and one that spells
    its escape): the second is not taken, so neither is written over the other."""

    code = "NAME_COLLISION"
    retryable = False


class ListingError(FilepoolError):
    """A folder that could not be listed, or a listing line that could not be read: that entry or folder is not
    taken, and recorded; the rest moves."""

    code = "LISTING_ERROR"
    retryable = False


class DiskFull(FilepoolError):
    """Not enough free space at the destination (checked before writing, or ENOSPC while writing)."""

    code = "DISK_FULL"


class SourceChanged(FilepoolError):
    """The source file's size or mtime changed after discovery; its new version is discovered anew."""

    code = "SOURCE_CHANGED"
    retryable = False


class ConnectionFailed(FilepoolError):
    code = "CONNECTION_ERROR"
    endpoint_wide = True


class AuthenticationFailed(FilepoolError):
    code = "AUTH_FAILED"
    endpoint_wide = True


class HostKeyUnknown(FilepoolError):
    """The server's host key is not the one the connection (or known_hosts) trusts."""

    code = "HOST_KEY_UNKNOWN"
    endpoint_wide = True


class TransferStalled(FilepoolError):
    """The source sent no part of a file within `stall_seconds` (a server that answers keepalives but not reads, or
    one that trickles): the file fails, its session is closed, and the file is retried."""

    code = "TRANSFER_STALLED"


class TransferIOError(FilepoolError):
    code = "IO_ERROR"


class DestinationError(FilepoolError):
    """The destination refused the write (no such bucket, access denied, ...)."""

    code = "DESTINATION_ERROR"


class ChecksumMismatch(FilepoolError):
    code = "CHECKSUM_MISMATCH"


class SizeMismatch(FilepoolError):
    code = "SIZE_MISMATCH"


class LeaseLost(FilepoolError):
    """This worker can no longer show it holds the file (its heartbeat did not get through in time, or another
    worker took the file over): it neither commits the file at the destination nor records it."""

    code = "LEASE_LOST"


class WorkerLost(FilepoolError):
    """The file's worker was lost (killed, out of memory, past execution_timeout) on every allowed attempt."""

    code = "WORKER_LOST"
    retryable = False


class LedgerError(FilepoolError):
    code = "LEDGER_ERROR"


class MalformedMessage(FilepoolError):
    """A task message taken from a topic that is not one: not JSON, not an object, or a field missing or unsafe.
    It goes to the dead-letter topic with this code and the reason."""

    code = "MALFORMED_MESSAGE"
    retryable = False


class TaskIdConflict(FilepoolError):
    """A task message whose task_id was taken already by a message with other content: the first one wins."""

    code = "TASK_ID_CONFLICT"
    retryable = False


class MessageParked(FilepoolError):
    """A task message (or a result record) that failed again and again on its own: set aside where an operator
    sees it (a FAILED row on the File transfers page, an alert line in the log), so the ones behind it go on."""

    code = "MESSAGE_PARKED"
    retryable = False


class PublishFailed(FilepoolError):
    """A broker (Kafka, AMQP) did not take a result or notification: it stays in the outbox for the next send."""

    code = "PUBLISH_ERROR"


class TransferFailed(FilepoolError):
    """Raised by an operator at the end of a run in which some files failed."""

    code = "TRANSFER_FAILED"


def error_code(exc: BaseException) -> str:
    return exc.code if isinstance(exc, FilepoolError) else "UNKNOWN_ERROR"


def as_error(exc: BaseException) -> FilepoolError:
    """`exc` as a FilepoolError: itself, or UNKNOWN_ERROR (retryable) naming its type, for what one record raised
    that nobody foresaw."""
    if isinstance(exc, FilepoolError):
        return exc
    return FilepoolError(f"{type(exc).__name__}: {exc}"[:2000])
