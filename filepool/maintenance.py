"""What the maintenance DAG does, step by step: each step is a plain function over a ledger or an endpoint.

- expired leases go back to the queue (with a `lease_expired` event each);
- temporary files older than a limit are removed (a crash between writing and renaming leaves them);
- multipart uploads older than a limit that no live ledger row owns are aborted (their parts cost storage);
- COMPLETED rows older than the retention are deleted with their events.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime
from typing import Any

from filepool.endpoints.ftp import FTPSession
from filepool.endpoints.local import TEMP_SUFFIX, LocalConfig
from filepool.ledger import Ledger

log = logging.getLogger(__name__)


def requeue_expired_leases(ledger: Ledger, max_attempts: int, batch: int = 1000) -> tuple[int, int]:
    """Put back the files of workers no longer alive; returns (put back, given up on with WORKER_LOST)."""
    requeued = lost = 0
    while True:
        n, m = ledger.requeue_expired(batch, max_attempts)
        requeued, lost = requeued + n, lost + m
        if n + m < batch:
            return requeued, lost


def remove_local_temp_files(config: LocalConfig, older_than: float) -> list[str]:
    """Remove `*.filepool.tmp` files under the base path whose mtime is older than `older_than` seconds."""
    cutoff = time.time() - older_than
    removed = []
    for folder, _, names in os.walk(config.base, followlinks=False):
        for name in names:
            if not name.endswith(TEMP_SUFFIX):
                continue
            path = os.path.join(folder, name)
            try:
                if os.lstat(path).st_mtime < cutoff:
                    os.unlink(path)
                    removed.append(path)
            except FileNotFoundError:  # taken by a concurrent clean-up or renamed by its writer
                continue
    return removed


def remove_ftp_temp_files(session: FTPSession, folder: str, older_than: float) -> list[str]:
    """Remove `*.filepool.tmp` files under an FTP folder older than `older_than` seconds (LIST times are minutes)."""
    cutoff = time.time() - older_than
    removed = []
    for f in session.list_files(folder, f"*{TEMP_SUFFIX}", recursive=True):
        if f.mtime < cutoff:
            session.delete(f.path)
            removed.append(f.path)
    return removed


def abort_stale_uploads(client: Any, bucket: str, older_than: float, live: set[str]) -> list[dict[str, str]]:
    """Abort multipart uploads in `bucket` started more than `older_than` seconds ago and not in `live`."""
    cutoff = datetime.now(UTC).timestamp() - older_than
    aborted = []
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for upload in page.get("Uploads", []):
            started = upload["Initiated"].timestamp()
            if upload["UploadId"] in live or started >= cutoff:
                continue
            client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
            aborted.append({"bucket": bucket, "key": upload["Key"], "upload_id": upload["UploadId"]})
    return aborted
