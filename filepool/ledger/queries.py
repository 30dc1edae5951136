"""Load the named SQL blocks of sql/queries.sql (the engine's) and sql/overview.sql (the File transfers page's),
and the numbered migrations, once."""

from __future__ import annotations

import functools
import re
from importlib import resources

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


@functools.cache
def queries() -> dict[str, str]:
    found: dict[str, str] = {}
    for file in ("queries.sql", "overview.sql"):
        parts = _NAME.split(resources.files("filepool.ledger").joinpath(f"sql/{file}").read_text())
        # parts = [preamble, name1, body1, name2, body2, ...]
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            assert name not in found, f"query {name} is named twice"
            found[name] = body.strip()
    return found


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
