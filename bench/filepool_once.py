"""One filepool run (discover + transfer) in its own process, for the benchmarks: prints JSON timings.

Usage: python bench/filepool_once.py sftp-s3 SOURCE_ROOT BUCKET KEY_PREFIX THREADS
       python bench/filepool_once.py ftp-local SOURCE_ROOT DEST_PATH THREADS
       (sftp-s3-sweep and ftp-local-sweep: the same route's discovery alone, a sweep that moves nothing)
Connections: filepool_sftp, filepool_minio, filepool_ftp, filepool_local, filepool_ledger (AIRFLOW_CONN_*).
"""

from __future__ import annotations

import json
import logging
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def operator(argv: list[str]) -> Any:
    from filepool.operators import FTPToLocalOperator, SFTPToMinIOOperator

    now = {"min_age_seconds": 0, "settle_seconds": 0, "transfer": not argv[0].endswith("-sweep")}
    if argv[0].startswith("sftp-s3"):
        root, bucket, prefix, threads = argv[1], argv[2], argv[3], int(argv[4])
        return SFTPToMinIOOperator(
            task_id="bench",
            sftp_conn_id="filepool_sftp",
            aws_conn_id="filepool_minio",
            source_path=root,
            bucket=bucket,
            key_prefix=prefix,
            threads=threads,
            **now,
        )
    root, dest, threads = argv[1], argv[2], int(argv[3])
    return FTPToLocalOperator(
        task_id="bench",
        ftp_conn_id="filepool_ftp",
        local_conn_id="filepool_local",
        source_path=root,
        dest_path=dest,
        threads=threads,
        **now,
    )


def main(argv: list[str]) -> int:
    op = operator(argv)
    if os.environ.get("FILEPOOL_BENCH_LOG"):  # timestamps of every step, to see where a run's time goes
        logging.basicConfig(
            level=logging.DEBUG, force=True, format="%(relativeCreated)6d %(threadName)s %(name)s %(message)s"
        )
    started = time.perf_counter()
    cpu = time.process_time()
    before = resource.getrusage(resource.RUSAGE_SELF)
    summary = op.execute({})
    after = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - started,
                "cpu_seconds": time.process_time() - cpu,
                "files": summary.get("files_transferred", 0),
                "bytes": summary.get("bytes_transferred", 0),
                "failed": summary.get("files_failed", 0),
                "user_seconds": round(after.ru_utime - before.ru_utime, 2),
                "system_seconds": round(after.ru_stime - before.ru_stime, 2),
                "discovery": summary.get("discovery"),
                "transfer_seconds": summary.get("seconds"),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
