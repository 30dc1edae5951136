"""Two worker processes with 8 threads each on one route: every file is claimed and written exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import age, bucket_contents, ledger_rows, sha256, write_tree
from tests.run_worker import discover_only, run_workers

pytestmark = pytest.mark.integration


def test_two_processes_share_one_queue(
    conns: None, sftp_root: Path, bucket: str, s3_client: Any, ledger_uri: str
) -> None:
    files = write_tree(sftp_root, 2000, size=2048)
    age(sftp_root)
    discover_only(sftp_root, bucket)

    summaries = run_workers(sftp_root, bucket, count=2, threads=8)

    assert sum(s["files_transferred"] for s in summaries) == 2000
    assert all(s["files_transferred"] > 0 for s in summaries), summaries  # both really worked
    assert ledger_rows(ledger_uri, "SELECT status, count(*) FROM filepool_files GROUP BY status") == [
        ("COMPLETED", 2000)
    ]
    claims = ledger_rows(
        ledger_uri,
        "SELECT file_id, count(*), count(DISTINCT worker) FROM filepool_file_events "
        "WHERE event IN ('claimed', 'reclaimed_after_lease_expired') GROUP BY file_id",
    )
    assert len(claims) == 2000 and {(n, w) for _, n, w in claims} == {(1, 1)}
    assert bucket_contents(s3_client, bucket, "in/") == {rel: sha256(data) for rel, data in files.items()}
