"""Four worker processes with 8 threads each over 4,000 files on one route (about a thousand each, claimed in
contention): each file claimed once, written once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import age, bucket_contents, ledger_rows, sha256, write_tree
from tests.run_worker import discover_only, run_workers

pytestmark = pytest.mark.chaos


def test_four_processes_four_thousand_files(
    conns: None, sftp_root: Path, bucket: str, s3_client: Any, ledger_uri: str
) -> None:
    files = write_tree(sftp_root, 4_000, size=1024)
    age(sftp_root)
    discover_only(sftp_root, bucket)

    summaries = run_workers(sftp_root, bucket, count=4, threads=8)

    print("files per worker:", [s["files_transferred"] for s in summaries])
    assert sum(s["files_transferred"] for s in summaries) == 4_000
    assert sum(1 for s in summaries if s["files_transferred"] > 0) >= 2
    assert ledger_rows(ledger_uri, "SELECT status, count(*) FROM filepool_files GROUP BY status") == [
        ("COMPLETED", 4_000)
    ]
    claims = ledger_rows(
        ledger_uri,
        "SELECT count(*), count(DISTINCT worker) FROM filepool_file_events "
        "WHERE event = 'claimed' GROUP BY file_id HAVING count(*) > 1",
    )
    assert claims == []  # no file claimed twice
    assert bucket_contents(s3_client, bucket, "in/") == {rel: sha256(data) for rel, data in files.items()}
