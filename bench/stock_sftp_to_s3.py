"""The stock Airflow way, for the benchmarks: `SFTPToS3Operator` (apache-airflow-providers-amazon) once per folder.

The stock operator moves the files of one folder (`sftp_filenames="*"`, not recursive), so a tree is moved as one
operator per folder, as a DAG would map one task per folder. Here they run in this one process on `PARALLEL`
threads, as that many task slots would, without the scheduler's or the task runner's start-up cost per task: a
lower bound of what the stock DAG takes. The operator's defaults are kept: paramiko, one SSH connection per
operator, each file downloaded to a temporary file and then uploaded with `S3Hook.load_file`; no checksum of its
own beyond what boto3 sends.

Usage: python bench/stock_sftp_to_s3.py SOURCE_ROOT BUCKET KEY_PREFIX PARALLEL
Connections: filepool_sftp (an sftp connection; SSHHook reads its host_key extra), filepool_minio (AIRFLOW_CONN_*).
Prints JSON: seconds, folders, files.
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor


def main(argv: list[str]) -> int:
    root, bucket, prefix, parallel = argv[0], argv[1], argv[2], int(argv[3])
    from airflow.providers.amazon.aws.transfers.sftp_to_s3 import SFTPToS3Operator

    folders = [(path, len(files)) for path, _, files in os.walk(root) if files]  # the server's tree, read locally

    def move(folder: str) -> None:
        relative = os.path.relpath(folder, root)
        key = prefix if relative == "." else f"{prefix}{relative}/"
        SFTPToS3Operator(
            task_id=f"stock_{relative.replace('/', '_')}",
            sftp_conn_id="filepool_sftp",
            aws_conn_id="filepool_minio",
            sftp_path=folder,
            sftp_filenames="*",
            s3_bucket=bucket,
            s3_key=key,
        ).execute({})

    started = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(move, [path for path, _ in folders]))
    print(
        json.dumps(
            {"seconds": time.perf_counter() - started, "folders": len(folders), "files": sum(n for _, n in folders)}
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
