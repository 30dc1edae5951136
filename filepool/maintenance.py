"""What the maintenance DAG does, step by step: each step is a plain function over a ledger or an endpoint.

- expired leases go back to the queue (with a `lease_expired` event each);
- temporary files older than a limit are removed (a crash between writing and renaming leaves them), unless the
  ledger shows the claim named in the file still live;
- multipart uploads filepool started, older than a limit, that no live ledger row owns are aborted (their parts cost
  storage); another application's uploads in the same bucket are never touched;
- COMPLETED rows older than the retention are deleted with their events.
"""

from __future__ import annotations

import contextlib
import logging
import os
import posixpath
import time

from filepool.endpoints.ftp.session import FTPSession
from filepool.endpoints.local import LocalConfig
from filepool.endpoints.s3 import S3Destination
from filepool.ledger import Ledger
from filepool.names import TEMP_SUFFIX, temp_claim

log = logging.getLogger(__name__)


def requeue_expired_leases(ledger: Ledger, max_attempts: int, batch: int = 1000) -> tuple[int, int]:
    """Put back the files of workers no longer alive; returns (put back, given up on with WORKER_LOST)."""
    requeued = lost = 0
    while True:
        n, m = ledger.requeue_expired(batch, max_attempts)
        requeued, lost = requeued + n, lost + m
        if n + m < batch:
            return requeued, lost


def orphans(ledger: Ledger, temp_files: list[str]) -> list[str]:
    """The temporary files no live claim is writing: those whose claim (in the name) the ledger does not show
    IN_PROGRESS with a lease still running, and those of writers older than claims in names."""
    claims = {path: temp_claim(posixpath.basename(path)) for path in temp_files}
    live = ledger.live_claims({c for c in claims.values() if c is not None})
    return [path for path, claim in claims.items() if claim not in live]


def remove_local_temp_files(config: LocalConfig, older_than: float, ledger: Ledger) -> list[str]:
    """Remove `*.filepool.tmp` files under the base path older than `older_than` seconds that no live claim is
    still writing."""
    cutoff = time.time() - older_than
    old = []
    for folder, _, names in os.walk(config.base, followlinks=False):
        for name in names:
            path = os.path.join(folder, name)
            with contextlib.suppress(FileNotFoundError):  # taken by a concurrent clean-up or renamed by its writer
                if name.endswith(TEMP_SUFFIX) and os.lstat(path).st_mtime < cutoff:
                    old.append(path)
    removed = []
    for path in orphans(ledger, old):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
            removed.append(path)
    return removed


def remove_ftp_temp_files(session: FTPSession, folder: str, older_than: float, ledger: Ledger) -> list[str]:
    """Remove `*.filepool.tmp` files under an FTP folder older than `older_than` seconds (LIST times are minutes)
    that no live claim is still writing."""
    cutoff = time.time() - older_than
    old = [f.path for f in session.list_files(folder, f"*{TEMP_SUFFIX}", recursive=True) if f.mtime < cutoff]
    removed = orphans(ledger, old)
    for path in removed:
        session.delete(path)
    return removed


def abort_stale_uploads(bucket: S3Destination, older_than: float, ledger: Ledger) -> tuple[list[dict[str, str]], int]:
    """Abort the multipart uploads in `bucket` that filepool started (their ids are in the ledger) more than
    `older_than` seconds ago and that no live ledger row may resume; returns (those aborted, how many uploads of
    other applications were left alone)."""
    cutoff = time.time() - older_than
    uploads = [u for u in bucket.uploads() if u.started < cutoff]
    ours = {row[0] for row in ledger.rows("our_uploads", ids=[u.upload_id for u in uploads])}
    live = ledger.live_upload_ids()
    aborted = []
    for upload in uploads:
        if upload.upload_id in ours and upload.upload_id not in live:
            bucket.abort_upload(upload)
            aborted.append({"bucket": bucket.bucket, "key": upload.key, "upload_id": upload.upload_id})
    ledger.execute("forget_uploads", ids=[a["upload_id"] for a in aborted])
    return aborted, sum(1 for u in uploads if u.upload_id not in ours)
