"""The stability rule of discovery: old files at once, young files only if a second look finds them unchanged."""

from __future__ import annotations

from collections.abc import Callable

from filepool.interfaces import RemoteFile
from filepool.transfer.discovery import Selection

NOW = 10_000.0
RULE = Selection(settle=5, min_age=60)


def taken(
    listed: list[RemoteFile],
    restat: Callable[[list[str]], dict[str, RemoteFile]],
    rule: Selection = RULE,
    sleep: Callable[[float], None] = lambda s: None,
) -> tuple[list[RemoteFile], list[RemoteFile]]:
    """(taken, still changing), as discover() splits a listing."""
    old = [f for f in listed if rule.old_enough(f, NOW)]
    steady, moving = rule.settled([f for f in listed if not rule.old_enough(f, NOW)], restat, sleep)
    return old + steady, moving


def test_old_files_are_taken_without_a_second_look() -> None:
    listed = [RemoteFile("/a", 10, NOW - 120)]
    calls: list[list[str]] = []
    assert taken(listed, lambda paths: calls.append(paths) or {}) == (listed, [])
    assert calls == []


def test_young_file_is_taken_only_if_unchanged_after_settle() -> None:
    steady, growing = RemoteFile("/steady", 10, NOW - 1), RemoteFile("/growing", 10, NOW - 1)
    slept: list[float] = []

    def restat(paths: list[str]) -> dict[str, RemoteFile]:
        return {"/steady": steady, "/growing": RemoteFile("/growing", 20, NOW)}

    assert taken([steady, growing], restat, sleep=slept.append) == ([steady], [growing])
    assert slept == [5]


def test_without_settle_every_listed_file_is_taken_at_once() -> None:
    young = RemoteFile("/young", 10, NOW)
    assert taken([young], lambda paths: {}, Selection(settle=0, min_age=60)) == ([young], [])


def test_a_file_gone_at_the_second_look_is_not_taken() -> None:
    young = RemoteFile("/gone", 10, NOW)
    assert taken([young], lambda paths: {}, Selection(settle=1, min_age=60)) == ([], [young])


def test_a_list_time_that_may_be_behind_is_not_taken_for_old() -> None:
    """An FTP server west of UTC lists a file written a minute ago with a clock hours behind: it must not pass
    for old (the FTP source gives LIST times 12 hours of slack when the server's zone is not known)."""
    written_a_minute_ago_in_new_york = RemoteFile("/a", 10, NOW - 60 - 5 * 3600, mtime_slack=12 * 3600 + 60)
    looked_again: list[list[str]] = []

    def restat(paths: list[str]) -> dict[str, RemoteFile]:
        looked_again.append(paths)
        return {"/a": RemoteFile("/a", 20, NOW - 5 * 3600, mtime_slack=12 * 3600 + 60)}  # still growing

    assert taken([written_a_minute_ago_in_new_york], restat)[0] == [] and looked_again == [["/a"]]
