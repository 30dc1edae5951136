"""One event per input line: parse, check the fields the dedup key needs, add the key."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

try:
    import xxhash

    def _hash(text: str) -> str:
        return xxhash.xxh64_hexdigest(text.encode())

    DEDUP_ALGORITHM = "xxh64"
except ImportError:  # md5 only where xxhash is missing
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


class _Keys(msgspec.Struct):
    """The three fields the dedup key needs; the rest of the event passes through untouched."""

    SessionId: str
    DocumentId: int | str
    event_ts: str


_decode_keys = msgspec.json.Decoder(_Keys).decode


def parse(line: bytes) -> Event:
    """The fast path: decode only the key fields (msgspec) and append dedup_key to the line as it is, so the
    event is not re-serialized; anything unusual takes the careful path, which also names what is wrong."""
    try:
        keys = _decode_keys(line)
    except msgspec.MsgspecError:
        return parse_carefully(line)
    if not keys.SessionId or keys.DocumentId == "" or not line.endswith(b"}") or b'"dedup_key"' in line:
        return parse_carefully(line)
    key = dedup_key(keys.SessionId, keys.DocumentId, keys.event_ts)
    return Event(key, _timestamp(keys.event_ts), line[:-1] + b',"dedup_key":"' + key.encode() + b'"}')


def parse_carefully(line: bytes) -> Event:
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
    key = dedup_key(record["SessionId"], record["DocumentId"], event_ts)
    record["dedup_key"] = key
    return Event(key, _timestamp(event_ts), json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode())


def _timestamp(event_ts: Any) -> float:
    try:
        return datetime.fromisoformat(str(event_ts)).timestamp()
    except ValueError as exc:
        raise Malformed(f"event_ts is not an ISO 8601 time: {event_ts!r}") from exc
