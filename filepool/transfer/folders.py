"""Incremental sweeps: a folder that looks as it did when its files were registered is not sent again.

A source tree that keeps its files (a million, of which a thousand are new this hour) would otherwise cost the
ledger a million-row upsert every hour. Each folder a sweep lists whole gets a digest of its taken files (path,
size, mtime, sorted); once those files are registered, the digest is stored (`filepool_listed_folders`). The next
sweep that finds the same digest sends none of that folder's files: the listing is still read in full (nothing
else tells what changed), the ledger sees only changed folders. A changed folder is sent whole - its files already
known register nothing - so new files in new folders (date partitions) cost the ledger only themselves.

A digest is stored only when every file of the folder was taken at once: a folder with a file still changing, an
entry not taken, or listed in a run of one data interval (which selects by time) is looked at in full each time.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Sequence

from filepool.interfaces import RemoteFile
from filepool.ledger import Ledger
from filepool.names import storable


def folder_digest(files: Sequence[RemoteFile]) -> bytes:
    """What a folder's taken files are: the same paths, sizes and mtimes give the same digest, in any order."""
    digest = hashlib.blake2b(digest_size=16)
    for f in sorted(files, key=lambda f: f.path):
        digest.update(f"{f.path}\0{f.size}\0{f.mtime!r}\n".encode("utf-8", "surrogateescape"))
    return digest.digest()


class ListedFolders:
    """The digests of one route's folders: read once at the start of a sweep, written after each registration."""

    def __init__(self, ledger: Ledger, job: str) -> None:
        self._ledger = ledger
        self._job = job
        self._known = {folder: bytes(digest) for folder, digest in ledger.rows("listed_folders", job=job)}
        self._registering: list[tuple[str, bytes, int]] = []
        self.unchanged_folders = 0
        self.unchanged_files = 0

    def unchanged(self, files: Sequence[RemoteFile]) -> bool:
        """True when these, one folder's taken files, are what that folder held when last registered (counted);
        otherwise they are to be registered and the folder's digest is kept for `registered()`."""
        folder = storable(posixpath.dirname(files[0].path))
        digest = folder_digest(files)
        if self._known.get(folder) == digest:
            self.unchanged_folders += 1
            self.unchanged_files += len(files)
            return True
        self._registering.append((folder, digest, len(files)))
        return False

    def registered(self) -> None:
        """The files of the folders passed to `unchanged` since the last call are in the ledger: store their
        digests."""
        if self._registering:
            rows = [{"folder": f, "digest": d.hex(), "files": n} for f, d, n in self._registering]
            self._ledger.execute("remember_folders", job=self._job, folders=json.dumps(rows))
            self._registering = []
