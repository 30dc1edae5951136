"""What happens to a source file once its transfer is COMPLETED and durable: keep it, delete it, or move it to
an archive folder on the same server (the DAG author's choice per operator, as NiFi's completion strategy).

The action is written on the ledger row in the same statement that records it COMPLETED, and cleared, with an
event, only once done: a worker killed in between leaves it pending, and the next run on the route carries it
out (the file is still at the source, but its version is COMPLETED, so it is never transferred again). It runs
only when every ledger row that reads the same source version (two task messages may send one file to two
places) is COMPLETED, and only while the source file is still that version: a file replaced under the same
name since is kept. Deleting or moving a file already gone counts as done.
"""

from __future__ import annotations

import logging
import posixpath
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from filepool.exceptions import FileNotFound, FilepoolError, InvalidConfig
from filepool.interfaces import Source
from filepool.ledger import Ledger, SourceAction

log = logging.getLogger(__name__)
ACTIONS = ("keep", "delete", "move")


@dataclass(frozen=True)
class AfterTransfer:
    action: str = "keep"
    archive_path: str | None = None
    source_root: str | None = None  # a moved file keeps its path relative to this (None: its whole path)

    @classmethod
    def parse(cls, action: str, archive_path: str | None, source_root: str | None) -> AfterTransfer:
        """Check an operator's `after_transfer` and `archive_path` (outside `source_root`, whose files are
        discovered: moved ones would be discovered again); INVALID_CONFIG when they do not fit."""
        if action not in ACTIONS:
            raise InvalidConfig(f"after_transfer must be one of {', '.join(ACTIONS)}, got {action!r}")
        if action != "move":
            if archive_path:
                raise InvalidConfig("archive_path is only for after_transfer='move'")
            return cls(action, None, source_root)
        if not archive_path or not archive_path.startswith("/"):
            raise InvalidConfig(f"after_transfer='move' needs an absolute archive_path, got {archive_path!r}")
        archive = posixpath.normpath(archive_path)
        root = posixpath.normpath(source_root) if source_root is not None else None
        if root is not None and (archive == root or archive.startswith(root.rstrip("/") + "/")):
            raise InvalidConfig(f"archive_path {archive} lies inside the source folder {root}")
        return cls(action, archive, root)

    def pending(self, source_path: str) -> str | None:
        """The action to record with a COMPLETED row: None (keep), "delete", or "move:<target path>"."""
        if self.action == "keep":
            return None
        if self.action == "delete":
            return "delete"
        assert self.archive_path is not None
        relative = source_path.lstrip("/")
        if self.source_root is not None:
            relative = posixpath.relpath(source_path, self.source_root)
        return f"move:{posixpath.join(self.archive_path, relative)}"


KEEP = AfterTransfer()


def complete_at_source(ledger: Ledger, job: str, source: Source, ids: Sequence[int] | None = None) -> Counter[str]:
    """Carry out the pending source actions of `job` (of rows `ids`, or all); returns how many of each outcome."""
    outcomes: Counter[str] = Counter()
    after = 0  # in id order, so an action that keeps failing does not hold back the others
    while pending := ledger.pending_source_actions(job, ids, after):
        done = [_carry_out(source, p) for p in pending]
        ledger.source_actions_done(done)
        outcomes.update(event for _, event, _ in done)
        after = pending[-1].id
    return outcomes


def _carry_out(source: Source, p: SourceAction) -> tuple[int, str, dict[str, str]]:
    """(row id, event, details) for one pending action."""
    with source.session() as session:
        try:
            found = session.stat_files([p.source_path]).get(p.source_path)
            if found is None:
                return p.id, "source_gone", {"reason": "not at the source any more"}
            if (found.size, found.mtime) != (p.size, p.mtime):
                log.info("Kept %s: replaced since its transfer (a new version)", p.source_path)
                return p.id, "source_kept", {"reason": "replaced since its transfer"}
            if p.action == "delete":
                session.remove(p.source_path)
                log.info("Deleted %s at the source after its transfer", p.source_path)
                return p.id, "source_deleted", {}
            target = p.action.removeprefix("move:")
            session.move(p.source_path, target)
            log.info("Moved %s to %s at the source after its transfer", p.source_path, target)
            return p.id, "source_moved", {"to": target}
        except FileNotFound:
            return p.id, "source_gone", {"reason": "not at the source any more"}
        except FilepoolError as exc:
            # The row keeps its pending action: the next run tries again.
            log.warning("Could not %s %s at the source: %s", p.action.partition(":")[0], p.source_path, exc)
            return p.id, "source_action_failed", {"error_code": exc.code, "error_message": exc.message}
