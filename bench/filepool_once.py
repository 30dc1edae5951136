"""One filepool run (discover + transfer) in its own process, for the benchmarks: prints JSON timings.

Usage: python bench/filepool_once.py SOURCE_ROOT BUCKET KEY_PREFIX THREADS
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str]) -> int:
    from filepool.operators import SFTPToMinIOOperator

    root, bucket, prefix, threads = argv[0], argv[1], argv[2], int(argv[3])
    op = SFTPToMinIOOperator(task_id="bench", sftp_conn_id="filepool_sftp", aws_conn_id="filepool_minio",
                             source_path=root, bucket=bucket, key_prefix=prefix, threads=threads,
                             min_age_seconds=0, settle_seconds=0)
    started = time.perf_counter()
    cpu = time.process_time()
    summary = op.execute({})
    print(json.dumps({"seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu,
                      "files": summary["files_transferred"], "bytes": summary["bytes_transferred"],
                      "failed": summary["files_failed"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
