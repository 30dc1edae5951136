"""What goes in and out of the ledger: frozen records, one per kind of fact."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Version = tuple[str, int, float, str]  # (source path, size, mtime, destination): a file version on a job


@dataclass(frozen=True)
class ClaimedFile:
    id: int
    source_path: str
    size: int
    mtime: float
    destination: str
    attempts: int
    upload_id: str | None


@dataclass(frozen=True)
class Completion:
    id: int
    attempt: int  # the claim it finishes: a later claim of the same file fences this one off
    bytes: int
    checksum: str
    checksum_algo: str
    etag: str | None
    read_seconds: float
    write_seconds: float
    total_seconds: float
    source_action: str | None = None  # what to do with the source file once COMPLETED (see transfer.completion)


@dataclass(frozen=True)
class Failure:
    id: int
    attempt: int
    error_code: str
    error_message: str
    retry_in: float | None  # seconds until the next attempt; None = never


@dataclass(frozen=True)
class SourceAction:
    """A COMPLETED file whose source still waits for its action: "delete" or "move:<target>"."""

    id: int
    source_path: str
    size: int
    mtime: float
    action: str


@dataclass(frozen=True)
class Claim:
    """What one claim statement returned: files to move, and files given up on (WORKER_LOST) on the way."""

    files: list[ClaimedFile]
    lost: list[ClaimedFile]


@dataclass(frozen=True)
class WorkerIdentity:
    """Who a worker process is, so that its own host can tell at once when it is gone."""

    host: str
    pid_namespace: str | None
    pid: int
    process_start: str | None


@dataclass(frozen=True)
class TaskRef:
    """The Airflow task try a worker runs in."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1
    try_number: int = 1


NO_TASK = {"dag_id": None, "run_id": None, "task_id": None, "map_index": None, "try_number": None}


@dataclass(frozen=True)
class DiscoveredFile:
    """A file version to register. `mtime_precision` (seconds; 0: exact) and `mtime_offset` (the UTC offset the
    listing's local time was read with; None: the listing gave UTC) say how the mtime was known: an FTP LIST shows
    minutes, or days for files over six months old, on the server's clock. The ledger compares such a version with
    what it has at that precision (`Ledger.canonical`)."""

    source_path: str
    size: int
    mtime: float
    destination: str
    metadata: dict[str, Any] | None = None
    mtime_precision: float = 0.0
    mtime_offset: int | None = None
