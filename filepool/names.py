"""File names as PostgreSQL, JSON and S3 can hold them.

PostgreSQL's text and jsonb take neither NUL nor lone surrogates (which is how Python keeps bytes of a name that
are not valid UTF-8, with the `surrogateescape` error handler). Such characters are percent-encoded: a NUL is
`%00`, an undecodable byte 0xff is `%FF`. Names without them are kept exactly as they are.
"""

from __future__ import annotations

import re

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(name: str) -> str:
    """`name` with NUL and lone surrogates percent-encoded; the same string when it has none."""
    if not _UNSTORABLE.search(name):
        return name
    return _UNSTORABLE.sub(_percent, name)


def _percent(match: re.Match[str]) -> str:
    char = match.group()
    if "\udc80" <= char <= "\udcff":  # a byte that was not UTF-8, kept by surrogateescape
        return f"%{ord(char) - 0xDC00:02X}"
    return "".join(f"%{b:02X}" for b in char.encode("utf-8", "surrogatepass"))
