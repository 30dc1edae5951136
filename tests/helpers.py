"""Test helpers: connections to the test servers, sample trees, and checks of what arrived at the destination and
in the ledger. (Fixtures live in conftest.py; what a test imports lives here.)"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import threading
from pathlib import Path
from typing import Any

import psycopg2

from tests.servers import postgres, seaweedfs, sshd

REPO = Path(__file__).resolve().parent.parent
SECRETS = (postgres.PASSWORD, sshd.PASSWORD, seaweedfs.SECRET_KEY)  # no log may show them


def sftp_conn(server: sshd.SSHServer, **overrides: object) -> str:
    """An Airflow `sftp` connection (AIRFLOW_CONN_* JSON) to the test sshd; `extra=` adds to its extra."""
    extra = {"host_key": server.host_key_public}
    conn: dict[str, object] = {
        "conn_type": "sftp",
        "host": "127.0.0.1",
        "port": server.port,
        "login": sshd.USER,
        "password": sshd.PASSWORD,
        "extra": extra,
    }
    extra.update(overrides.pop("extra", {}))  # type: ignore[call-overload]
    conn.update(overrides)
    return json.dumps(conn)


def aws_conn(endpoint: str, **overrides: object) -> str:
    """An Airflow `aws` connection to the test S3 server at `endpoint`."""
    conn: dict[str, object] = {
        "conn_type": "aws",
        "login": seaweedfs.ACCESS_KEY,
        "password": seaweedfs.SECRET_KEY,
        "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
    }
    conn.update(overrides)
    return json.dumps(conn)


def ftp_conn(server: Any, **extra: object) -> str:
    """An Airflow `ftp` connection to a test FTP server (vsftpd or pyftpdlib)."""
    return json.dumps(
        {
            "conn_type": "ftp",
            "host": "127.0.0.1",
            "port": server.port,
            "login": server.user,
            "password": server.password,
            "extra": extra,
        }
    )


def write_tree(root: Path, count: int, size: int = 4096, random_seed: int = 7) -> dict[str, bytes]:
    """`count` files in nested folders, some with spaces and non-ASCII names; returns {relative path: bytes}."""
    rnd = random.Random(random_seed)
    files: dict[str, bytes] = {}
    names = ["plain", "with space", "données", "файл", "데이터"]
    for i in range(count):
        folder = Path(f"d{i % 5}") / names[i % len(names)] if i % 3 else Path(f"d{i % 5}")
        rel = str(folder / f"{names[(i // 5) % len(names)]} {i:05d}.bin")
        files[rel] = rnd.randbytes(size)
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    make_readable(root)
    return files


def not_utf8_name(root: Path) -> Path:
    """A folder `latin1` under `root` holding one file whose name is not UTF-8 (b"caf\xe9.csv"); returns it."""
    folder = root / "latin1"
    folder.mkdir()
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.csv"), "wb") as f:
        f.write(b"x")
    return folder


def deep_tree(root: Path, levels: int = 70) -> Path:
    """deep/l0/l1/.../l<levels-1> under `root`, with a file at the bottom; returns the bottom folder."""
    deep = root / "deep"
    for level in range(levels):
        deep = deep / f"l{level}"
    deep.mkdir(parents=True)
    (deep / "too-deep.bin").write_bytes(b"x")
    return deep


def make_readable(root: Path) -> None:
    for folder, _dirs, names in os.walk(root):
        os.chmod(folder, 0o755)
        for n in names:
            os.chmod(os.path.join(folder, n), 0o644)


def age(root: Path, seconds: float = 3600) -> None:
    """Backdate every file so discovery takes it without the settle wait."""
    for folder, _, names in os.walk(root):
        for n in names:
            p = os.path.join(folder, n)
            st = os.stat(p)
            os.utime(p, (st.st_atime - seconds, st.st_mtime - seconds))


def bucket_contents(client: Any, bucket: str, prefix: str = "") -> dict[str, str]:
    """{key: sha256 hex} of every object under `prefix` (downloaded and hashed here)."""
    found: dict[str, str] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"]
            digest = hashlib.sha256()
            while chunk := body.read(1 << 20):
                digest.update(chunk)
            found[obj["Key"][len(prefix) :]] = digest.hexdigest()
    return found


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def completed_files(uri: str) -> int:
    """Files COMPLETED in the ledger; 0 before a task has created its tables."""
    try:
        return int(ledger_rows(uri, "SELECT count(*) FROM filepool_files WHERE status = 'COMPLETED'")[0][0])
    except psycopg2.errors.UndefinedTable:
        return 0


_WATCHERS = threading.local()  # {(pid, uri): connection} of this thread


def ledger_rows(uri: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one statement in autocommit mode; its rows (none for a statement that returns none). The connection is
    kept for the next call from this thread and process: tests poll the ledger every few milliseconds to aim a kill
    or an outage, and a new PostgreSQL session for each poll (a backend forked, a SCRAM login) cost more CPU than
    the work they watched. A connection found dead (the server restarted, the database dropped) is opened again
    once: on a dead connection the statement never reached a server."""
    key = (os.getpid(), uri)
    cached: dict[tuple[int, str], Any] = _WATCHERS.__dict__.setdefault("connections", {})
    kept = cached.pop(key, None)
    if kept is not None and not kept.closed:
        try:
            rows = _rows(kept, sql, params)
            cached[key] = kept
            return rows
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            with contextlib.suppress(Exception):
                kept.close()
    conn = psycopg2.connect(uri)
    conn.autocommit = True
    rows = _rows(conn, sql, params)  # a connection that fails here is not kept
    cached[key] = conn
    return rows


def _rows(conn: Any, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return list(cur.fetchall()) if cur.description else []


def maintenance_then_rerun(sftp_root: Path, bucket: str) -> dict[str, Any]:
    """What follows a crash in production: the maintenance steps, then the transfer task again (SFTP -> S3,
    key prefix `in/`); returns the rerun's summary."""
    from filepool.operators.maintenance import AbortStaleUploadsOperator, RequeueExpiredLeasesOperator

    RequeueExpiredLeasesOperator(task_id="requeue").execute({})
    AbortStaleUploadsOperator(  # uploads of the dead worker are seconds old: kept, and resumed by the rerun
        task_id="abort", aws_conn_id="filepool_minio", buckets=[bucket], older_than_hours=1
    ).execute({})
    return sftp_to_s3(sftp_root, bucket, task_id="rerun", threads=8, min_age_seconds=0, settle_seconds=0).execute({})


def sftp_to_s3(root: Path | str, bucket: str, **arguments: Any) -> Any:
    """An SFTPToMinIOOperator on the test servers' connections (`filepool_sftp`, `filepool_minio`): `root` to
    `bucket` under `in/`, 4 threads; `arguments` add to or replace those."""
    from filepool.operators import SFTPToMinIOOperator

    defaults: dict[str, Any] = {
        "task_id": "t",
        "sftp_conn_id": "filepool_sftp",
        "aws_conn_id": "filepool_minio",
        "source_path": str(root),
        "bucket": bucket,
        "key_prefix": "in/",
        "threads": 4,
    }
    return SFTPToMinIOOperator(**{**defaults, **arguments})


class StandInTaskInstance:
    """What filepool's operators ask of Airflow's task instance outside a real run (`context["ti"]`): its ids, and
    `xcom_push`, kept in `pushed`. Real task instances are in tests/system."""

    def __init__(self, task_id: str = "t", map_index: int = -1, dag_id: str = "d") -> None:
        self.dag_id, self.task_id, self.map_index = dag_id, task_id, map_index
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def dag_bag(folder: Path, to_run: bool = False) -> Any:
    """Airflow's DagBag of `folder` (a DAG file or a folder): airflow.dag_processing.dagbag since Airflow 3.2,
    airflow.models.dagbag before (the floor job runs 3.1). `to_run`: its DAGs written to the metadata database
    as the dag-processor writes them, under the dags-folder bundle, which dag.test() needs of a DAG outside the
    DAGs folder (and on Airflow 3.1 of every DAG)."""
    try:
        from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    except ImportError:
        from airflow.models.dagbag import DagBag, sync_bag_to_db  # type: ignore[attr-defined,no-redef]
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    bag = DagBag(dag_folder=str(folder))  # examples off: AIRFLOW__CORE__LOAD_EXAMPLES (tests/conftest.py)
    if to_run:
        DagBundlesManager().sync_bundles_to_db()
        sync_bag_to_db(bag, "dags-folder", None)
    return bag
