"""`make airflow`: a real local Airflow 3.3 on the demo's servers and sample files, until Ctrl-C.

api-server, scheduler, dag-processor and triggerer (LocalExecutor), their metadata in the demo's PostgreSQL, the
filepool DAGs and the File transfers page; the demo's SFTP server, S3 store (bucket `landing`), an FTP server
whose `/outgoing` holds sample files, and a local base path, all as the `filepool_*` connections. Prints the URL
and a login; Ctrl-C stops everything it started. State stays in .demo/ (`rm -rf .demo` starts over).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import demo  # noqa: E402

from tests.servers.postgres import PostgresServer  # noqa: E402
from tests.servers.process import free_port, spawn, stop, wait_for_port  # noqa: E402
from tests.servers.pyftpd import CountingFTPServer  # noqa: E402
from tests.servers.seaweedfs import S3Server  # noqa: E402
from tests.servers.sshd import SSHServer  # noqa: E402

HOME = demo.DEMO / "airflow-local"
FTP_ROOT = demo.DEMO / "ftp"
LOCAL_BASE = demo.DEMO / "local"
AIRFLOW = str(Path(sys.executable).parent / "airflow")
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


def ftp_samples() -> None:
    """Files for the hourly FTP sweep's default folder, /outgoing (made once, written an hour ago: stable)."""
    outgoing = FTP_ROOT / "outgoing"
    if outgoing.exists():
        return
    for day in range(3):
        folder = outgoing / f"2026-01-0{day + 1}"
        folder.mkdir(parents=True)
        for i in range(20):
            (folder / f"events-{i:02d}.json").write_text(json.dumps({"day": day, "n": i}) * 50)
    hour_ago = time.time() - 3600
    for path in outgoing.rglob("*"):
        os.utime(path, (hour_ago, hour_ago))


def metadata_database(pg: PostgresServer) -> str:
    import psycopg2

    admin = psycopg2.connect(pg.uri())
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = 'airflow'")
        if not cur.fetchone():
            cur.execute("CREATE DATABASE airflow")
    admin.close()
    return pg.uri("airflow").replace("postgresql://", "postgresql+psycopg2://")


def main() -> int:
    demo.DEMO.mkdir(exist_ok=True)
    demo.DEMO.chmod(0o755)
    demo.make_samples()
    ftp_samples()
    LOCAL_BASE.mkdir(exist_ok=True)
    HOME.mkdir(parents=True, exist_ok=True)
    passwords = HOME / "passwords.json"
    if not passwords.exists():
        passwords.write_text(json.dumps({"admin": secrets.token_urlsafe(12)}))
    pg = PostgresServer(root=demo.DEMO / "postgres", keep=True)
    ssh, s3 = SSHServer(), S3Server(root=demo.DEMO / "s3", keep=True)
    ftp = CountingFTPServer(root=FTP_ROOT)
    pids: list[int] = []
    try:
        pg.start(), ssh.start(), s3.start(), ftp.start()
        demo.bucket_client(s3)
        port = int(os.environ.get("FILEPOOL_AIRFLOW_PORT", "8080"))
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                port = free_port()  # taken: another free one
        env = {
            **os.environ,
            **demo.connections(pg, ssh, s3),
            "AIRFLOW_CONN_FILEPOOL_FTP": json.dumps(
                {"conn_type": "ftp", "host": "127.0.0.1", "port": ftp.port, "login": ftp.user, "password": ftp.password}
            ),
            "AIRFLOW_CONN_FILEPOOL_LOCAL": json.dumps({"conn_type": "fs", "extra": {"path": str(LOCAL_BASE)}}),
            "AIRFLOW_HOME": str(HOME),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_database(pg),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            # the demo's SFTP folder may be typed into the trigger form; /outgoing is the FTP sweep's own
            "AIRFLOW__FILEPOOL__ALLOWED_PATHS": f"{demo.SOURCE},/outgoing",
        }
        migrated = subprocess.run([AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True)
        if migrated.returncode != 0:
            print(migrated.stderr[-3000:], file=sys.stderr)
            return 1
        for name in COMPONENTS:
            args = ["api-server", "--port", str(port), "--host", "127.0.0.1"] if name == "api-server" else [name]
            proc = spawn([AIRFLOW, *args], HOME / f"{name}.log", env=env)
            pids.append(proc.pid)
            if name == "api-server":
                wait_for_port(port, proc, HOME / f"{name}.log", timeout=180)
        password = json.loads(passwords.read_text())["admin"]
        print("\n================ filepool on a local Airflow ================")
        print(f"Airflow UI:      http://127.0.0.1:{port}/   (login: admin / {password})")
        print(f"File transfers:  http://127.0.0.1:{port}/plugin/file-transfers")
        print(f"SFTP -> MinIO:   trigger filepool_sftp_to_minio with source_path {demo.SOURCE}")
        print(f"FTP -> local:    filepool_ftp_to_local sweeps the FTP server's /outgoing into {LOCAL_BASE}/incoming")
        print(f"Logs:            {HOME}/*.log and {HOME}/logs/")
        print("Ctrl-C stops everything this started.")
        print("=============================================================\n", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopping ...", flush=True)
        return 0
    finally:
        for pid in reversed(pids):
            stop(pid)
        for server in (ftp, s3, ssh, pg):
            server.stop()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as Ctrl-C does
    sys.exit(main())
