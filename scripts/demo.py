"""`make demo`: start local PostgreSQL, OpenSSH and SeaweedFS S3, make sample files, run the DAG, verify.

Everything lives in .demo/ (ledger database, stored objects, sample files), so a second run finds every file
already in the ledger and moves nothing. `rm -rf .demo` starts over.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEMO = Path(os.environ.get("FILEPOOL_DEMO_DIR") or REPO / ".demo")  # the tests use a folder of their own
SOURCE = DEMO / "sftp" / "outgoing"
BUCKET = "landing"
BIG_MB = 64

# What `make demo` runs in: its own Airflow home and SQLite metadata, dag.test() in this process.
DEMO_ENVIRONMENT = {
    "AIRFLOW_HOME": str(DEMO / "airflow"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{DEMO / 'airflow' / 'airflow.db'}",
    # The demo triggers the DAG with its own folder: the deployment allows it, as an operator of filepool would
    # in airflow.cfg ([filepool] allowed_paths); the bucket is the DAG's own.
    "AIRFLOW__FILEPOOL__ALLOWED_PATHS": str(SOURCE),
}
sys.path.insert(0, str(REPO))

from tests.servers import seaweedfs, sshd  # noqa: E402
from tests.servers.postgres import PostgresServer  # noqa: E402
from tests.servers.seaweedfs import S3Server  # noqa: E402
from tests.servers.sshd import SSHServer  # noqa: E402


def make_samples() -> None:
    """A few hundred files in nested folders, odd names, one empty file and one of 64 MiB (made once)."""
    if SOURCE.exists():
        return
    rnd = random.Random(2026)
    names = ["report", "with space", "données", "отчёт", "보고서", "日本語"]
    for i in range(300):
        folder = SOURCE / f"region-{i % 4}" / names[i % len(names)] / f"day-{i % 7:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{names[(i // 6) % len(names)]} {i:04d}.json").write_bytes(rnd.randbytes(rnd.randint(1, 400_000)))
    (SOURCE / "empty.marker").write_bytes(b"")
    (SOURCE / "archive").mkdir()
    with (SOURCE / "archive" / "large export.bin").open("wb") as f:
        for _ in range(BIG_MB):
            f.write(os.urandom(1 << 20))
    for folder, _, files in os.walk(DEMO / "sftp"):
        os.chmod(folder, 0o755)
        for name in files:
            path = os.path.join(folder, name)
            os.chmod(path, 0o644)
            os.utime(path, (time.time() - 3600, time.time() - 3600))  # written an hour ago: stable


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def verify(client: object) -> tuple[int, int]:
    """Download every object and compare its SHA-256 with the source file; returns (matching, sources)."""
    sources = [p for p in SOURCE.rglob("*") if p.is_file()]
    good = 0
    for path in sources:
        key = str(path.relative_to(SOURCE))
        body = client.get_object(Bucket=BUCKET, Key=key)["Body"]  # type: ignore[attr-defined]
        digest = hashlib.sha256()
        while chunk := body.read(1 << 20):
            digest.update(chunk)
        good += digest.hexdigest() == sha256_file(path)
    return good, len(sources)


def connections(pg: PostgresServer, ssh: SSHServer, s3: S3Server) -> dict[str, str]:
    """AIRFLOW_CONN_* for the ledger, the SFTP server and the S3 store the demo started."""
    return {
        "AIRFLOW_CONN_FILEPOOL_LEDGER": pg.uri().replace("postgresql://", "postgres://"),
        "AIRFLOW_CONN_FILEPOOL_SFTP": json.dumps(
            {
                "conn_type": "sftp",
                "host": "127.0.0.1",
                "port": ssh.port,
                "login": sshd.USER,
                "password": sshd.PASSWORD,
                "extra": {"host_key": ssh.host_key_public},
            }
        ),
        "AIRFLOW_CONN_FILEPOOL_MINIO": json.dumps(
            {
                "conn_type": "aws",
                "login": seaweedfs.ACCESS_KEY,
                "password": seaweedfs.SECRET_KEY,
                "extra": {"endpoint_url": s3.endpoint, "region_name": "us-east-1"},
            }
        ),
    }


def bucket_client(s3: S3Server) -> Any:
    """A boto3 client of the demo's S3 store, with the `landing` bucket made."""
    client = s3.client()
    if BUCKET not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
        client.create_bucket(Bucket=BUCKET)
    return client


def main() -> int:
    os.environ.update(DEMO_ENVIRONMENT)
    DEMO.mkdir(exist_ok=True)
    DEMO.chmod(0o755)
    make_samples()
    pg, ssh, s3 = PostgresServer(root=DEMO / "postgres", keep=True), SSHServer(), S3Server(root=DEMO / "s3", keep=True)
    try:
        pg.start(), ssh.start(), s3.start()
        os.environ.update(connections(pg, ssh, s3))
        client = bucket_client(s3)
        subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"], check=True, capture_output=True)

        from airflow.dag_processing.dagbag import DagBag

        dag = DagBag(dag_folder=str(REPO / "dags" / "filepool_sftp_to_minio.py")).get_dag("filepool_sftp_to_minio")
        conf = {"source_path": str(SOURCE), "bucket": BUCKET, "workers": 2, "threads": 8}
        started = time.monotonic()
        run = dag.test(logical_date=datetime.now(UTC), run_conf=conf)
        seconds = time.monotonic() - started
        summary = run.get_task_instance("summary").xcom_pull(task_ids="summary") or {}
        good, total = verify(client)
        print("\n================ filepool demo ================")
        print(f"DAG run:            {run.state} in {seconds:.1f}s")
        print(
            f"this run moved:     {summary.get('files_transferred', 0)} files, "
            f"{summary.get('bytes_transferred', 0) / 1e6:.1f} MB, {summary.get('files_failed', 0)} failed"
        )
        print(f"verified in bucket: {good}/{total} source files match by SHA-256 (s3://{BUCKET}/)")
        print(f"ledger:             {summary.get('ledger')}")
        if summary.get("files_transferred", 0) == 0:
            print("nothing to move: every file version is already COMPLETED in the ledger")
        print("================================================")
        return 0 if str(run.state).endswith("success") and good == total else 1
    finally:
        s3.stop()
        ssh.stop()
        pg.stop()


if __name__ == "__main__":
    sys.exit(main())
