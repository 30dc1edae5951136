"""Run one SFTPToMinIOOperator transfer as its own process (for the multi-process tests).

Usage: python -m tests.run_worker SOURCE_ROOT BUCKET THREADS [discover|both|transfer] [ftp]; prints the summary as
JSON. With `discover`, the process only lists and registers files; with `both`, it lists and then transfers (by
default it only transfers). With `ftp`, the route is FTPToLocalOperator's from `filepool_ftp` to BUCKET, a folder
under `filepool_local`'s base. Logs go to stderr.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from filepool.operators import FTPToLocalOperator, SFTPToMinIOOperator
from filepool.operators.base import FileTransferOperator

REPO = Path(__file__).resolve().parent.parent


def discover_only(root: Path, bucket: str) -> dict[str, Any]:
    """Register the files under `root` (prefix in/ in `bucket`) in this process, moving none."""
    op = SFTPToMinIOOperator(
        task_id="discover",
        sftp_conn_id="filepool_sftp",
        aws_conn_id="filepool_minio",
        source_path=str(root),
        bucket=bucket,
        key_prefix="in/",
        transfer=False,
    )
    return op.execute({})


def run_workers(root: Path, bucket: str, count: int, threads: int = 8, protocol: str = "sftp") -> list[dict[str, Any]]:
    """Start `count` worker processes on one route at once, wait for them, return their summaries."""
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.run_worker", str(root), bucket, str(threads), "transfer", protocol],
            cwd=REPO,
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    summaries = []
    for worker in workers:
        out, _ = worker.communicate(timeout=600)
        assert worker.returncode == 0, f"a worker exited with {worker.returncode}"
        summaries.append(json.loads(out.strip().splitlines()[-1]))
    return summaries


def main(argv: list[str]) -> int:
    root, bucket, threads = argv[0], argv[1], int(argv[2])
    mode = argv[3] if len(argv) > 3 else "transfer"
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(threadName)s %(name)s %(message)s")
    common: dict[str, Any] = {
        "task_id": "worker",
        "source_path": root,
        "threads": threads,
        "discover": mode != "transfer",
        "transfer": mode != "discover",
        "min_age_seconds": 0,
        "settle_seconds": 0,
        "fail_on_file_errors": False,
    }
    if argv[4:] == ["ftp"]:
        op: FileTransferOperator = FTPToLocalOperator(dest_path=bucket, **common)
    else:
        op = SFTPToMinIOOperator(
            sftp_conn_id="filepool_sftp", aws_conn_id="filepool_minio", bucket=bucket, key_prefix="in/", **common
        )
    print(json.dumps(op.execute({})))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
