"""Four worker processes with 8 threads each over 10,000 files on one route: each file claimed once, written once."""

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

pytestmark = pytest.mark.chaos


def test_four_processes_ten_thousand_files(conns: None, sftp_root: Path, bucket: str, s3_client: Any,
                                           ledger_uri: str) -> None:
    files = write_tree(sftp_root, 10_000, size=1024)
    age(sftp_root)
    SFTPToMinIOOperator(task_id="discover", sftp_conn_id="filepool_sftp", aws_conn_id="filepool_minio",
                        source_path=str(sftp_root), bucket=bucket, key_prefix="in/", transfer=False).execute({})

    workers = [subprocess.Popen([sys.executable, "-m", "tests.integration.run_worker", str(sftp_root), bucket, "8"],
                                cwd=REPO, env=dict(os.environ), stdout=subprocess.PIPE, text=True)
               for _ in range(4)]
    summaries = []
    for w in workers:
        out, _ = w.communicate(timeout=600)
        assert w.returncode == 0
        summaries.append(json.loads(out.strip().splitlines()[-1]))

    print("files per worker:", [s["files_transferred"] for s in summaries])
    assert sum(s["files_transferred"] for s in summaries) == 10_000
    assert sum(1 for s in summaries if s["files_transferred"] > 0) >= 2
    assert ledger_rows(ledger_uri, "SELECT status, count(*) FROM filepool_files GROUP BY status") == [
        ("COMPLETED", 10_000)]
    claims = ledger_rows(ledger_uri, "SELECT count(*), count(DISTINCT worker) FROM filepool_file_events "
                                     "WHERE event = 'claimed' GROUP BY file_id HAVING count(*) > 1")
    assert claims == []  # no file claimed twice
    assert bucket_contents(s3_client, bucket, "in/") == {rel: sha256(data) for rel, data in files.items()}
