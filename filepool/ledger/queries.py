"""Load named SQL blocks (`-- name: x` then the statement) from a package's .sql file, and the ledger's numbered
migrations, once: sql/queries.sql is the engine's, filepool/plugin/overview.sql the File transfers page's."""

from __future__ import annotations

import functools
import re
from importlib import resources

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


@functools.cache
def named_sql(package: str, file: str) -> dict[str, str]:
    found: dict[str, str] = {}
    parts = _NAME.split(resources.files(package).joinpath(file).read_text())
    # parts = [preamble, name1, body1, name2, body2, ...]
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        assert name not in found, f"query {name} is named twice in {file}"
        found[name] = body.strip()
    return found


def queries() -> dict[str, str]:
    return named_sql("filepool.ledger", "sql/queries.sql")


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
