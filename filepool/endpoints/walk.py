"""What a route's tree listing (SFTPSource, FTPSource) takes and leaves: one bad entry never stops a walk.
(Maintenance's look for temporary files, FTPSession.list_files, keeps only names that match its pattern.)

A name must be a plain name: no `/` (it would name another file), no NUL, not `.` or `..` (which some servers
list and which would walk back up), and its path within MAX_PATH_BYTES (filepool.names). A folder is listed once
(a server that shows a folder under two names, or a cycle through `a/..`, is not walked again) and no deeper than
MAX_DEPTH levels below the root.
"""

from __future__ import annotations

import posixpath

from filepool.exceptions import InvalidName, ListingError
from filepool.interfaces import Unlisted
from filepool.names import MAX_PATH_BYTES, too_long

MAX_DEPTH = 64
INVALID_NAME = InvalidName.code
LISTING_ERROR = ListingError.code


def bad_name(folder: str, name: str) -> Unlisted | None:
    """Why `name`, listed in `folder`, is not a name to take; None when it is one."""
    if "/" in name or "\x00" in name:
        return Unlisted(
            posixpath.join(folder, name.replace("\x00", "\\0")),
            INVALID_NAME,
            f"the server listed {name!r} in {folder}: a file name cannot hold '/' or NUL",
        )
    if too_long(posixpath.join(folder, name)):
        return Unlisted(
            posixpath.join(folder, name),
            INVALID_NAME,
            f"the path of {name!r} in {folder} is longer than the {MAX_PATH_BYTES} bytes the ledger takes",
        )
    return None


class Walk:
    """The folders of one walk: each entered once, none deeper than MAX_DEPTH below `root`."""

    def __init__(self, root: str) -> None:
        self._root = posixpath.normpath(root)
        self._seen: set[str] = set()

    def admit(self, folder: str) -> tuple[bool, Unlisted | None]:
        """(list it?, the problem to record). A folder seen before is skipped quietly; one too deep is refused."""
        normal = posixpath.normpath(folder)
        if normal in self._seen:
            return False, None
        self._seen.add(normal)
        if len(posixpath.relpath(normal, self._root).split("/")) > MAX_DEPTH:
            return False, Unlisted(folder, LISTING_ERROR, f"{folder} is more than {MAX_DEPTH} folders deep: not listed")
        return True, None
