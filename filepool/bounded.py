"""Records bounded before they reach a broker: a dead letter or a result record larger than a broker takes would be
refused for ever, and stop every record behind it."""

from __future__ import annotations

import json
from typing import Any

_MARGIN = 64  # what the note of a cut adds, and JSON's rounding


def _size(record: dict[str, Any]) -> int:
    return len(json.dumps(record, default=str).encode())


def fit(record: dict[str, Any], limit: int) -> dict[str, Any]:
    """`record` (a flat JSON object) within `limit` bytes as JSON: its longest fields cut, longest first, and
    `truncated` saying which and how long each was (in characters of its text). A record that fits is returned
    as it is."""
    if _size(record) <= limit:
        return record
    out = dict(record)
    cut: dict[str, int] = {}
    out["truncated"] = cut
    while (excess := _size(out) - limit) > 0:
        texts = {
            k: v if isinstance(v, str) else json.dumps(v, default=str)
            for k, v in out.items()
            if k != "truncated" and v is not None and not isinstance(v, bool | int | float)
        }
        if not texts:
            break
        field = max(texts, key=lambda k: len(json.dumps(texts[k]).encode()))
        text = texts[field]
        encoded = len(json.dumps(text).encode())
        if encoded <= _MARGIN:  # nothing long is left to cut
            break
        # JSON may spend up to 6 bytes on a character: cut in proportion to the bytes this field spends
        keep = max(0, int(len(text) * (encoded - excess - _MARGIN) / encoded))
        cut.setdefault(field, len(text))
        out[field] = text[:keep]
    return out
