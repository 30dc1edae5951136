"""kill -9 of a worker in the middle of a 512 MiB multipart upload: the next worker resumes it, re-sending at most
2 parts - counted by the worker and by the S3 server's own log."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from filepool.operators import SFTPToMinIOOperator
from tests.helpers import REPO, age, bucket_contents, ledger_rows, make_readable

pytestmark = pytest.mark.integration
MIB = 1024 * 1024
PARTS = 32  # of 16 MiB, the default part size: 512 MiB


def test_killed_mid_upload_resumes_and_resends_at_most_two_parts(
    conns: None,
    s3_server: Any,
    sftp_root: Path,
    bucket: str,
    s3_client: Any,
    ledger_uri: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("AIRFLOW__FILEPOOL__LEASE_SECONDS", "2")
    digest = hashlib.sha256()
    with (sftp_root / "big.bin").open("wb") as big:
        for _ in range(PARTS):
            block = os.urandom(16 * MIB)
            digest.update(block)
            big.write(block)
    make_readable(sftp_root)
    age(sftp_root)
    args = {
        "task_id": "t",
        "sftp_conn_id": "filepool_sftp",
        "aws_conn_id": "filepool_minio",
        "source_path": str(sftp_root),
        "bucket": bucket,
        "key_prefix": "in/",
    }
    SFTPToMinIOOperator(transfer=False, **args).execute({})

    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.run_worker", str(sftp_root), bucket, "4"],
        cwd=REPO,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stored = 0
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and worker.poll() is None:
            upload = ledger_rows(ledger_uri, "SELECT upload_id FROM filepool_files WHERE upload_id IS NOT NULL")
            if upload:
                parts = s3_client.list_parts(Bucket=bucket, Key="in/big.bin", UploadId=upload[0][0])
                stored = len(parts.get("Parts", []))
                if stored >= 10:
                    break
            time.sleep(0.02)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    upload_id = ledger_rows(ledger_uri, "SELECT upload_id FROM filepool_files")[0][0]
    stored = len(s3_client.list_parts(Bucket=bucket, Key="in/big.bin", UploadId=upload_id).get("Parts", []))
    assert 10 <= stored < PARTS, f"the worker was not caught mid-upload ({stored} parts stored)"

    time.sleep(2.5)  # its lease expires
    caplog.set_level(logging.INFO)
    summary = SFTPToMinIOOperator(discover=False, **args).execute({})

    assert summary["files_transferred"] == 1
    assert bucket_contents(s3_client, bucket, "in/") == {"big.bin": digest.hexdigest()}
    sent, reused = (int(n) for n in re.search(r"(\d+) parts sent, (\d+) reused", caplog.text).groups())
    resent = stored - reused  # parts stored before the kill that went up again
    print(
        f"killed with {stored} of {PARTS} parts stored; the rerun sent {sent}, reused {reused}; the server stored "
        f"{s3_server.part_writes(bucket, 'in/big.bin')} parts in all"
    )
    assert sent + reused == PARTS and resent <= 2, (sent, reused, stored)
    # The server's count: every part it stored for this key, over both workers.
    assert PARTS <= s3_server.part_writes(bucket, "in/big.bin") <= PARTS + 2
    assert s3_server.object_writes(bucket)["in/big.bin"] == 1
    assert ledger_rows(ledger_uri, "SELECT status, upload_id FROM filepool_files") == [("COMPLETED", None)]
    events = [e for (e,) in ledger_rows(ledger_uri, "SELECT event FROM filepool_file_events ORDER BY id")]
    # the rerun's start-up clean-up found the dead worker's process gone (same host and PID namespace, its pid
    # no longer that process), put its file back, then claimed it again
    assert events == ["discovered", "claimed", "upload_started", "worker_gone", "claimed", "completed"]
    assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
