from __future__ import annotations

from filepool.transfer.discovery import stable_files
from filepool.transfer.interfaces import RemoteFile

NOW = 10_000.0


def test_old_files_are_taken_without_a_second_look() -> None:
    listed = [RemoteFile("/a", 10, NOW - 120)]
    calls: list[list[str]] = []
    result = stable_files(listed, lambda paths: calls.append(paths) or {}, settle=5, min_age=60,
                          now=lambda: NOW, sleep=lambda s: None)
    assert result.stable == listed and result.unstable == []
    assert calls == []


def test_young_file_is_taken_only_if_unchanged_after_settle() -> None:
    steady, growing = RemoteFile("/steady", 10, NOW - 1), RemoteFile("/growing", 10, NOW - 1)
    slept: list[float] = []

    def restat(paths: list[str]) -> dict[str, RemoteFile]:
        return {"/steady": steady, "/growing": RemoteFile("/growing", 20, NOW)}

    result = stable_files([steady, growing], restat, settle=5, min_age=60, now=lambda: NOW, sleep=slept.append)
    assert result.stable == [steady]
    assert result.unstable == [growing]
    assert slept == [5]


def test_a_file_gone_at_the_second_look_is_not_taken() -> None:
    young = RemoteFile("/gone", 10, NOW)
    result = stable_files([young], lambda paths: {}, settle=1, min_age=60, now=lambda: NOW, sleep=lambda s: None)
    assert result.stable == [] and result.unstable == [young]


def test_a_list_time_that_may_be_behind_is_not_taken_for_old() -> None:
    """An FTP server west of UTC lists a file written a minute ago with a clock hours behind: it must not pass
    for old (the FTP source gives LIST times 12 hours of slack when the server's zone is not known)."""
    written_a_minute_ago_in_new_york = RemoteFile("/a", 10, NOW - 60 - 5 * 3600, mtime_slack=12 * 3600 + 60)
    looked_again: list[list[str]] = []

    def restat(paths: list[str]) -> dict[str, RemoteFile]:
        looked_again.append(paths)
        return {"/a": RemoteFile("/a", 20, NOW - 5 * 3600, mtime_slack=12 * 3600 + 60)}  # still growing

    result = stable_files([written_a_minute_ago_in_new_york], restat, settle=5, min_age=60, now=lambda: NOW,
                          sleep=lambda s: None)
    assert result.stable == [] and looked_again == [["/a"]]
