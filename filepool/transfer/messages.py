"""FTP task messages: validation and the per-file result records.

A message is `{"task_id"?, "src_id", "src_path", "dst_id", "dst_path", "metadata"?}`, where `src_id` and
`dst_id` name Airflow connections: `ftp` (remote) or `fs` (local). One side must be local and the other remote.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from filepool.airflow_connections import read_connection
from filepool.exceptions import InvalidConfig
from filepool.names import MAX_PATH_BYTES, TEMP_SUFFIX, storable, too_long

REQUIRED = ("src_id", "src_path", "dst_id", "dst_path")
MAX_DEPTH = 32  # levels of JSON in a message: deeper ones are refused before anything recurses through them
_LONE = re.compile("[\ud800-\udfff]")
KINDS = {"ftp": "ftp", "ftps": "ftp", "filepool_ftp": "ftp", "fs": "local"}


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
        if raw["dst_path"].rstrip("/").endswith(TEMP_SUFFIX):  # the temporary-file sweep would take it for one
            raise InvalidConfig(f"task message dst_path may not end in {TEMP_SUFFIX}, filepool's temporary suffix")
        long = [k for k in ("src_path", "dst_path") if too_long(raw[k])]
        if long:
            raise InvalidConfig(f"task message {', '.join(long)} longer than {MAX_PATH_BYTES} bytes")
        metadata = raw.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise InvalidConfig("task message metadata must be an object")
        if _depth(raw) > MAX_DEPTH:
            raise InvalidConfig(f"task message is nested deeper than {MAX_DEPTH} levels")
        if "\\u0000" in json.dumps(metadata):
            raise InvalidConfig("task message metadata has a NUL character")
        # JSON may spell a lone surrogate (\udc80); neither PostgreSQL nor a result record takes one. In a path it
        # stands for a byte that is not UTF-8 (as in a listing) and is kept escaped; anywhere else it is refused.
        lone = [k for k in ("task_id", "src_id", "dst_id") if _LONE.search(str(raw.get(k) or ""))]
        if lone or _LONE.search(json.dumps(metadata, ensure_ascii=False)):
            raise InvalidConfig(f"task message has a lone surrogate in {', '.join(lone) or 'metadata'}")
        return cls(
            str(raw.get("task_id") or uuid.uuid4()),
            raw["src_id"],
            raw["src_path"],
            raw["dst_id"],
            raw["dst_path"],
            metadata,
        )


def _depth(value: Any) -> int:
    """How deeply JSON containers nest in `value`, counted without recursion (a hostile message may nest far)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:
                stack.extend((v, level + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


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
        "src_id": _text(fields.get("src_id")),
        "src_path": _text(fields.get("src_path")),
        "dst_id": _text(fields.get("dst_id")),
        "dst_path": _text(fields.get("dst_path")),
        "bytes_transferred": bytes_transferred,
        "duration_ms": duration_ms,
        "timestamp": (timestamp or datetime.now().astimezone()).isoformat(),
    }
    if status != "success":
        record["error_code"] = error_code
        record["error_message"] = error_message
    return record


def _text(value: Any) -> Any:
    """A field as a result record and the ledger can hold it: a NUL or a lone surrogate escaped (filepool.names)."""
    return storable(value) if isinstance(value, str) else value
