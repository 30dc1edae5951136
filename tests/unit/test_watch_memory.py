"""A file watcher's memory of the versions it registered stays bounded however many files pass by."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from filepool.interfaces import RemoteFile, Unlisted
from filepool.transfer import watch
from filepool.transfer.discovery import Selection


class Folder:
    """A listing of `files` (in memory: the point is the watcher's own bookkeeping)."""

    def __init__(self, files: list[RemoteFile]) -> None:
        self.files = files

    def iter_files(
        self, root: str, pattern: str = "*", recursive: bool = True
    ) -> Iterator[list[RemoteFile | Unlisted]]:
        yield list(self.files)

    def stat_files(self, paths: list[str]) -> dict[str, RemoteFile]:
        return {f.path: f for f in self.files if f.path in paths}


def test_the_watcher_remembers_the_latest_versions_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watch, "KNOWN", 3)
    folder = Folder([])
    unseen = watch._Unseen(folder, Selection(settle=0))
    for batch in range(4):  # files come and go: 5 new ones each poll
        folder.files = [RemoteFile(f"/in/{batch}-{i}", 10, 1.0) for i in range(5)]
        fresh = [f for group in unseen.iter_files("/in") for f in group]
        assert len(fresh) == 5  # none of them seen before
        assert len(unseen.known) == 3
    assert list(unseen.known) == [("/in/3-2", 10, 1.0), ("/in/3-3", 10, 1.0), ("/in/3-4", 10, 1.0)]
    again = [f.path for group in unseen.iter_files("/in") for f in group if isinstance(f, RemoteFile)]
    # the forgotten versions come again (the ledger skips them), and remembering them forgets others
    assert again[:2] == ["/in/3-0", "/in/3-1"] and len(unseen.known) == 3
