"""File names as PostgreSQL, JSON and S3 can hold them.

PostgreSQL's text and jsonb take neither NUL nor lone surrogates (which is how Python keeps bytes of a name that
are not valid UTF-8, with the `surrogateescape` error handler). Such characters are percent-encoded: a NUL is
`%00`, an undecodable byte 0xff is `%FF`, and in such a name a `%` itself is `%25`, so that two escaped names never
meet (`caf\xe9%E9` is `caf%E9%25E9`, not `caf%E9%E9`). Names without them are kept exactly as they are. A name that
needs no escape may still spell an escaped one (`caf%E9.csv` beside `caf\xe9.csv`): the ledger tells them apart by
their bytes, and registers the second it meets as NAME_COLLISION rather than writing one over the other.
"""

from __future__ import annotations

import re

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def path_bytes(path: str) -> bytes | None:
    """The exact bytes of a path that is not UTF-8 (kept by surrogateescape); None for any other path."""
    if not _UNSTORABLE.search(path):
        return None
    return path.encode("utf-8", "surrogateescape")


def storable(name: str) -> str:
    """`name` with NUL and lone surrogates percent-encoded (and then `%` as `%25`); the same string when it has
    none."""
    if not _UNSTORABLE.search(name):
        return name
    return _UNSTORABLE.sub(_percent, name.replace("%", "%25"))


def _percent(match: re.Match[str]) -> str:
    char = match.group()
    if "\udc80" <= char <= "\udcff":  # a byte that was not UTF-8, kept by surrogateescape
        return f"%{ord(char) - 0xDC00:02X}"
    return "".join(f"%{b:02X}" for b in char.encode("utf-8", "surrogatepass"))


# The longest path (source or destination, in UTF-8 bytes) the ledger takes: a version's unique index holds the
# source path, the destination and the job in one entry, which PostgreSQL caps near 2,700 bytes. A longer path is
# refused alone (INVALID_NAME), never left to fail the statement of its whole batch.
MAX_PATH_BYTES = 1200


def too_long(path: str) -> bool:
    return len(path.encode("utf-8", "surrogateescape")) > MAX_PATH_BYTES


def clip(text: str, limit: int = MAX_PATH_BYTES) -> str:
    """`text` within `limit` UTF-8 bytes, saying it was cut and how long it was; the same string when it fits."""
    encoded = text.encode("utf-8", "surrogateescape")
    if len(encoded) <= limit:
        return text
    note = f"... [cut: {len(encoded)} bytes]"
    return encoded[: max(0, limit - len(note))].decode("utf-8", "ignore") + note


# Temporary files: `.<name>.<claim>.<random>.filepool.tmp` beside the target, where <claim> is the ledger row's
# id and attempt ("42-1"), so the temporary-file sweep can ask the ledger whether a live claim still writes it.
TEMP_SUFFIX = ".filepool.tmp"
NAME_MAX = 255  # bytes in one file name: ext4, XFS, btrfs, and what FTP servers on them accept
_TEMP_OWNER = re.compile(r"\.(\d+)-(\d+)\.[0-9a-f]+" + re.escape(TEMP_SUFFIX) + "$")


def temp_name(name: str, claim: str, unique: str) -> str:
    """The temporary name for final name `name`, written by `claim` ("id-attempt", or "" when none); `unique`
    tells it apart from other writers' temporary names. A long `name` is shortened (at a character boundary)
    so the whole stays within NAME_MAX bytes."""
    tail = f".{claim}.{unique}{TEMP_SUFFIX}" if claim else f".{unique}{TEMP_SUFFIX}"
    room = NAME_MAX - 1 - len(tail.encode())
    encoded = name.encode("utf-8", "surrogateescape")
    if len(encoded) > room:
        name = encoded[:room].decode("utf-8", "ignore")  # drops a character cut in half
    return f".{name}{tail}"


def temp_claim(name: str) -> tuple[int, int] | None:
    """(ledger id, attempt) of the claim that wrote temporary file `name`; None for a name without one."""
    match = _TEMP_OWNER.search(name)
    return (int(match[1]), int(match[2])) if match else None
