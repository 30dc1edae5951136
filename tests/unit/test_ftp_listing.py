"""FTP listings read into entries: vsftpd's LIST lines and RFC 3659 MLSD facts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from filepool.endpoints.ftp.listing import list_entries, mlsd_entries


def test_list_lines() -> None:
    lines = [
        "drwxr-xr-x    2 1000     1000         4096 Jan 02  2024 sub folder",
        "-rw-r--r--    1 1000     1000       204800 Mar 15  2025 file 00001.bin",
        "lrwxrwxrwx    1 1000     1000            9 Mar 15  2025 link -> elsewhere",
        "-rw-r--r--    1 1000     1000            0 Mar 15  2025 données",
        "drwxr-xr-x    2 1000     1000         4096 Mar 15  2025 .",
        "total 12",
    ]
    day = 86400.0  # a date without a time: known to the day, read in UTC (offset 0)
    assert list_entries(lines) == [
        ("sub folder", "dir", 4096, datetime(2024, 1, 2, tzinfo=UTC).timestamp(), day, 0),
        ("file 00001.bin", "file", 204800, datetime(2025, 3, 15, tzinfo=UTC).timestamp(), day, 0),
        ("link -> elsewhere", "other", 9, datetime(2025, 3, 15, tzinfo=UTC).timestamp(), day, 0),
        ("données", "file", 0, datetime(2025, 3, 15, tzinfo=UTC).timestamp(), day, 0),
    ]


def test_a_recent_list_time_is_never_in_the_future_and_known_to_the_minute() -> None:
    [entry] = list_entries(["-rw-r--r--    1 1000     1000     5 Dec 31 23:59 late"])
    assert entry.mtime <= datetime.now(UTC).timestamp() + 86400 and entry.precision == 60


def test_mlsd_facts() -> None:
    facts = [
        (".", {"type": "cdir"}),
        ("a b.bin", {"type": "file", "size": "12", "modify": "20251123120000.5"}),
        ("sub", {"type": "dir", "modify": "20251123120000"}),
        ("link", {"type": "OS.unix=symlink", "size": "4"}),
    ]
    at = datetime(2025, 11, 23, 12, tzinfo=UTC).timestamp()
    assert mlsd_entries(facts) == [
        ("a b.bin", "file", 12, at + 0.5, 1.0, None),  # to the second, in UTC
        ("sub", "dir", 0, at, 1.0, None),
        ("link", "other", 4, 0.0, 1.0, None),
    ]


def test_list_times_are_read_in_the_servers_zone() -> None:
    from zoneinfo import ZoneInfo

    line = "-rw-r--r--    1 1000     1000     5 Mar 15  2025 f"
    [utc] = list_entries([line])
    [new_york] = list_entries([line], ZoneInfo("America/New_York"))
    assert new_york.mtime - utc.mtime == 4 * 3600  # midnight in New York (EDT) is 04:00 UTC
    assert (utc.offset, new_york.offset) == (0, -4 * 3600)  # the server's own clock says the same for both


def test_an_unknown_timezone_is_invalid_config(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from filepool.endpoints.ftp.session import FTPConfig
    from filepool.exceptions import InvalidConfig

    monkeypatch.setenv(
        "AIRFLOW_CONN_BAD_TZ",
        json.dumps({"conn_type": "ftp", "host": "127.0.0.1", "extra": {"timezone": "Mars/Olympus_Mons"}}),
    )
    with pytest.raises(InvalidConfig, match="unknown timezone"):
        FTPConfig.from_airflow("bad_tz")


def test_a_bad_line_costs_only_itself() -> None:
    problems: list[tuple[str, str]] = []
    lines = [
        "total 3",
        "-rw-r--r--    1 1000     1000         7 Mar 15  2025 good.bin",
        "complete garbage",
        "-rw-r--r--    1 1000     1000         7 Feb 30 12:00 impossible.bin",
        "-rw-r--r--    1 1000     1000         7 Foo 12  2025 no-month.bin",
    ]
    assert [name for name, *_ in list_entries(lines, problems=problems)] == ["good.bin"]
    assert [what for what, _ in problems] == ["complete garbage", "impossible.bin", "no-month.bin"]


def test_unreadable_mlsd_facts_cost_only_their_entry() -> None:
    problems: list[tuple[str, str]] = []
    facts = [
        ("ok", {"type": "file", "size": "1", "modify": "20251123120000"}),
        ("bad-size", {"type": "file", "size": "many"}),
        ("bad-time", {"type": "file", "size": "1", "modify": "2025-11-23"}),
    ]
    assert [name for name, *_ in mlsd_entries(facts, problems)] == ["ok"]
    assert [what for what, _ in problems] == ["bad-size", "bad-time"]


def test_a_walk_enters_each_folder_once_and_not_too_deep() -> None:
    from filepool.endpoints.walk import MAX_DEPTH, Walk, bad_name

    walk = Walk("/data")
    assert walk.admit("/data/a") == (True, None)
    assert walk.admit("/data/a/../a") == (False, None)  # the same folder under another name: quietly skipped
    admitted, problem = walk.admit("/data" + "/x" * (MAX_DEPTH + 1))
    assert not admitted and problem is not None and problem.code == "LISTING_ERROR"
    assert walk.admit("/data" + "/y" * MAX_DEPTH) == (True, None)
    assert bad_name("/data", "a/b") is not None and bad_name("/data", "a\x00b") is not None
    assert bad_name("/data", "données 데이터.csv") is None
