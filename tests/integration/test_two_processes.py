"""Two worker processes with 8 threads each on one route: every file is claimed and written exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from filepool.operators import SFTPToMinIOOperator
from tests.conftest import REPO
from tests.helpers import age, bucket_contents, ledger_rows, sha256, write_tree

pytestmark = pytest.mark.integration


def test_two_processes_share_one_queue(conns: None, sftp_root: Path, bucket: str, s3_client: Any,
                                       ledger_uri: str) -> None:
    files = write_tree(sftp_root, 2000, size=2048)
    age(sftp_root)
    SFTPToMinIOOperator(task_id="discover", sftp_conn_id="filepool_sftp", aws_conn_id="filepool_minio",
                        source_path=str(sftp_root), bucket=bucket, key_prefix="in/", transfer=False).execute({})

    workers = [subprocess.Popen([sys.executable, "-m", "tests.integration.run_worker", str(sftp_root), bucket, "8"],
                                cwd=REPO, env=dict(os.environ), stdout=subprocess.PIPE, text=True)
               for _ in range(2)]
    summaries = []
    for w in workers:
        out, _ = w.communicate(timeout=300)
        assert w.returncode == 0
        summaries.append(json.loads(out.strip().splitlines()[-1]))

    assert sum(s["files_transferred"] for s in summaries) == 2000
    assert all(s["files_transferred"] > 0 for s in summaries), summaries  # both really worked
    assert ledger_rows(ledger_uri, "SELECT status, count(*) FROM filepool_files GROUP BY status") == [
        ("COMPLETED", 2000)]
    claims = ledger_rows(ledger_uri, "SELECT file_id, count(*), count(DISTINCT worker) FROM filepool_file_events "
                                     "WHERE event IN ('claimed', 'reclaimed_after_lease_expired') GROUP BY file_id")
    assert len(claims) == 2000 and {(n, w) for _, n, w in claims} == {(1, 1)}
    assert bucket_contents(s3_client, bucket, "in/") == {rel: sha256(data) for rel, data in files.items()}
