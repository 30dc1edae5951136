"""What FTP listings say, as (name, kind, size, mtime) entries: MLSD facts (RFC 3659) or Unix-style LIST lines.

A line or fact that cannot be read is not an entry: it goes to `problems` (when given) as (the entry's name, or
the line when no name can be read; what is wrong, in words a user can act on), and the rest is read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo
from typing import NamedTuple


class Entry(NamedTuple):
    name: str
    kind: str  # "file" | "dir" | "other"
    size: int
    mtime: float
    precision: float = 1.0  # seconds the time is known to: 1 (MLSD), 60 (LIST, recent), 86400 (LIST, older)
    offset: int | None = None  # the UTC offset a LIST time was read with; None for MLSD (UTC)


MINUTE, DAY = 60.0, 86400.0

# drwxr-xr-x    2 1000     1000         4096 Nov 23 12:00 name with spaces
_LIST_LINE = re.compile(
    r"^(?P<kind>[-dlbcps])\S*\s+\d+\s+\S+\s+\S+\s+(?P<size>\d+)\s+"
    r"(?P<month>\w{3})\s+(?P<day>\d{1,2})\s+(?P<when>\d{1,2}:\d{2}|\d{4})\s(?P<name>.*)$"
)
_MONTHS = {
    m: i
    for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)
}


Problems = list[tuple[str, str]]


def mlsd_entries(facts: Iterable[tuple[str, dict[str, str]]], problems: Problems | None = None) -> list[Entry]:
    entries: list[Entry] = []
    for name, f in facts:
        mlsd_entry(name, f, entries, problems)
    return entries


def mlsd_entry(name: str, f: dict[str, str], entries: list[Entry], problems: Problems | None = None) -> None:
    """The entry of one MLSD line's facts, added to `entries` (or its problem to `problems`)."""
    if name in (".", ".."):
        return
    try:
        kind = {"file": "file", "dir": "dir"}.get(f.get("type", ""), "other")
        entries.append(Entry(name, kind, int(f.get("size") or 0), _mlsd_time(f.get("modify", ""))))
    except ValueError as exc:
        if problems is not None:
            problems.append((name, f"MLSD facts of {name!r} unreadable ({exc}): {f}"))


def mlsd_facts(line: str) -> tuple[str, dict[str, str]]:
    """(name, {fact: value}) of an MLSD line, as ftplib's mlsd() reads it (facts lower-cased)."""
    facts, _, name = line.rstrip("\r\n").partition(" ")
    found = {}
    for fact in facts[:-1].split(";"):
        key, _, value = fact.partition("=")
        found[key.lower()] = value
    return name, found


def list_entries(lines: Iterable[str], zone: tzinfo = UTC, problems: Problems | None = None) -> list[Entry]:
    """Entries of LIST lines whose times are in the server's time `zone`."""
    entries: list[Entry] = []
    for line in lines:
        list_entry(line, zone, entries, problems)
    return entries


def list_entry(line: str, zone: tzinfo, entries: list[Entry], problems: Problems | None = None) -> None:
    """The entry of one LIST line, added to `entries` (or its problem to `problems`)."""
    match = _LIST_LINE.match(line)
    if not match:
        if problems is not None and line.strip() and not line.startswith("total "):
            problems.append((line, f"LIST line not understood: {line!r}"))
        return
    if match["name"] in (".", ".."):
        return
    kind = {"-": "file", "d": "dir"}.get(match["kind"], "other")
    try:
        moment = _list_time(match, zone)
        offset = moment.utcoffset()
        entries.append(
            Entry(
                match["name"],
                kind,
                int(match["size"]),
                moment.timestamp(),
                MINUTE if ":" in match["when"] else DAY,
                int(offset.total_seconds()) if offset is not None else 0,
            )
        )
    except ValueError as exc:  # "Feb 30 12:00", "Foo 12 2024": the date of that line only
        if problems is not None:
            problems.append((match["name"], f"LIST line with an impossible date ({exc}): {line!r}"))


def _mlsd_time(value: str) -> float:
    if not value:
        return 0.0
    whole, _, fraction = value.partition(".")
    moment = datetime.strptime(whole, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    return moment.timestamp() + (float(f"0.{fraction}") if fraction else 0.0)


def _list_time(match: re.Match[str], zone: tzinfo) -> datetime:
    """LIST times are minutes (recent files) or days (older), on the server's clock: enough for min_age (with
    the slack the FTP source allows for them) and for seeing a change."""
    now = datetime.now(zone)
    if match["month"] not in _MONTHS:
        raise ValueError(f"no month {match['month']!r}")
    month, day, when = _MONTHS[match["month"]], int(match["day"]), match["when"]
    if ":" in when:
        hour, minute = (int(x) for x in when.split(":"))
        moment = datetime(now.year, month, day, hour, minute, tzinfo=zone)
        if moment.timestamp() > now.timestamp() + 86400:  # "Dec 31 23:59" seen in January
            moment = moment.replace(year=now.year - 1)
    else:
        moment = datetime(int(when), month, day, tzinfo=zone)
    return moment
