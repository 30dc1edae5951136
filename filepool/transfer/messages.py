"""FTP task messages: validation and the per-file result records.

A message is `{"task_id"?, "src_id", "src_path", "dst_id", "dst_path", "metadata"?}`, where `src_id` and
`dst_id` name Airflow connections: `ftp` (remote) or `fs` (local). One side must be local and the other remote.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from filepool.airflow_connections import read_connection
from filepool.exceptions import InvalidConfig

REQUIRED = ("src_id", "src_path", "dst_id", "dst_path")
KINDS = {"ftp": "ftp", "ftps": "ftp", "fs": "local"}


@dataclass(frozen=True)
class TaskMessage:
    task_id: str
    src_id: str
    src_path: str
    dst_id: str
    dst_path: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Any) -> TaskMessage:
        if not isinstance(raw, dict):
            raise InvalidConfig(f"a task message must be a JSON object, got {type(raw).__name__}")
        missing = [k for k in REQUIRED if not isinstance(raw.get(k), str) or not raw.get(k)]
        if missing:
            raise InvalidConfig(f"task message lacks {', '.join(missing)}")
        # No file system, FTP command or ledger column takes these: a NUL would fail the whole batch's ledger
        # write, a line break would end an FTP command early.
        unsafe = [k for k in ("task_id", *REQUIRED) if any(c in str(raw.get(k) or "") for c in "\x00\r\n")]
        if unsafe:
            raise InvalidConfig(f"task message has a NUL or line break in {', '.join(unsafe)}")
        metadata = raw.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise InvalidConfig("task message metadata must be an object")
        if "\\u0000" in json.dumps(metadata):
            raise InvalidConfig("task message metadata has a NUL character")
        return cls(
            str(raw.get("task_id") or uuid.uuid4()),
            raw["src_id"],
            raw["src_path"],
            raw["dst_id"],
            raw["dst_path"],
            metadata,
        )


def kind_of(conn_id: str) -> str:
    """ "ftp" or "local" for an Airflow connection id; INVALID_CONFIG for an unknown id or another type."""
    conn_type = read_connection(conn_id).conn_type.lower()
    if conn_type not in KINDS:
        raise InvalidConfig(
            f"connection {conn_id!r} is of type {conn_type!r}; task messages move files between ftp and fs connections"
        )
    return KINDS[conn_type]


def kinds(message: TaskMessage) -> tuple[str, str]:
    """(source kind, destination kind), refusing both-local and both-remote pairs (INVALID_CONFIG)."""
    src, dst = kind_of(message.src_id), kind_of(message.dst_id)
    if src == dst:
        side = "local" if src == "local" else "remote"
        raise InvalidConfig(
            f"task {message.task_id}: both sides are {side} ({message.src_id} -> {message.dst_id}); "
            "one side must be local and the other remote"
        )
    return src, dst


def result(
    raw: Any,
    task_id: str,
    status: str,
    bytes_transferred: int = 0,
    duration_ms: int = 0,
    timestamp: datetime | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
) -> dict[str, Any]:
    """A result record with the task message's fields (plus error_code and error_message on failure)."""
    fields = raw if isinstance(raw, dict) else {}
    record: dict[str, Any] = {
        "task_id": task_id,
        "status": status,
        "src_id": fields.get("src_id"),
        "src_path": fields.get("src_path"),
        "dst_id": fields.get("dst_id"),
        "dst_path": fields.get("dst_path"),
        "bytes_transferred": bytes_transferred,
        "duration_ms": duration_ms,
        "timestamp": (timestamp or datetime.now().astimezone()).isoformat(),
    }
    if status != "success":
        record["error_code"] = error_code
        record["error_message"] = error_message
    return record
