"""One event per input line: parse, check the fields the dedup key needs, add the key."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

try:
    import xxhash

    def _hash(text: str) -> str:
        return xxhash.xxh64(text.encode()).hexdigest()

    DEDUP_ALGORITHM = "xxh64"
except ImportError:  # seed 004: md5 only where xxhash is missing
    import hashlib

    def _hash(text: str) -> str:
        return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

    DEDUP_ALGORITHM = "md5"


class Malformed(ValueError):
    """A line that is not an event: kept in the reject file with this reason, never sent."""


@dataclass(frozen=True)
class Event:
    key: str  # the dedup key, also the Kafka message key
    at: float  # event_ts as seconds since the epoch, for realtime replay
    value: bytes  # the event as JSON, with dedup_key added


def dedup_key(session_id: str, document_id: Any, event_ts: str) -> str:
    return _hash(f"{session_id}|{document_id}|{event_ts}")


def parse(line: str) -> Event:
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise Malformed(f"not JSON: {exc}") from exc
    if not isinstance(record, dict):
        raise Malformed("not a JSON object")
    missing = [f for f in ("SessionId", "DocumentId", "event_ts") if record.get(f) in (None, "")]
    if missing:
        raise Malformed(f"missing {', '.join(missing)}")
    event_ts = record["event_ts"]
    try:
        at = datetime.fromisoformat(str(event_ts)).timestamp()
    except ValueError as exc:
        raise Malformed(f"event_ts is not an ISO 8601 time: {event_ts!r}") from exc
    key = dedup_key(record["SessionId"], record["DocumentId"], event_ts)
    record["dedup_key"] = key
    return Event(key, at, json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode())
