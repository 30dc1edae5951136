"""Load the named SQL blocks of sql/queries.sql and the numbered migrations, once."""

from __future__ import annotations

import functools
import re
from importlib import resources

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


@functools.cache
def queries() -> dict[str, str]:
    text = resources.files("filepool.ledger").joinpath("sql/queries.sql").read_text()
    parts = _NAME.split(text)
    # parts = [preamble, name1, body1, name2, body2, ...]
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


@functools.cache
def migrations() -> tuple[tuple[int, str, str], ...]:
    """(version, file name, SQL) for sql/migrations/NNNN_*.sql, in order."""
    folder = resources.files("filepool.ledger").joinpath("sql/migrations")
    found = []
    for entry in folder.iterdir():
        match = re.match(r"^(\d{4})_.+\.sql$", entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text()))
    return tuple(sorted(found))
