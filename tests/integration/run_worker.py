"""Run one SFTPToMinIOOperator transfer as its own process (for the multi-process tests).

Usage: python -m tests.integration.run_worker SOURCE_ROOT BUCKET THREADS [discover]; prints the summary as JSON.
With `discover`, the process only lists and registers files.
"""

from __future__ import annotations

import json
import sys

from filepool.operators import SFTPToMinIOOperator


def main(argv: list[str]) -> int:
    root, bucket, threads = argv[0], argv[1], int(argv[2])
    only_discover = argv[3:] == ["discover"]
    op = SFTPToMinIOOperator(task_id="worker", sftp_conn_id="filepool_sftp", aws_conn_id="filepool_minio",
                             source_path=root, bucket=bucket, key_prefix="in/", threads=threads,
                             discover=only_discover, transfer=not only_discover, min_age_seconds=0,
                             settle_seconds=0, fail_on_file_errors=False)
    print(json.dumps(op.execute({})))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
