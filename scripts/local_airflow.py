"""`make airflow`: a real local Airflow 3.3 on the demo's servers and sample files, until Ctrl-C.

api-server, scheduler, dag-processor and triggerer (LocalExecutor), their metadata in the demo's PostgreSQL, the
filepool DAGs and the File transfers page; the demo's SFTP server, S3 store (bucket `landing`), an FTP server
whose `/outgoing` holds sample files, and a local base path, all as the `filepool_*` connections; for the producer
DAGs, a Docker host (dockerd, TLS with client certificates, the producer image built on it) holding three days of
logs, as connection `docker_server0`, and a Kafka broker as the `KAFKA_BROKERS` variable. Prints the URL and a
login; Ctrl-C stops everything it started. State stays in .demo/ (`rm -rf .demo` starts over).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import demo  # noqa: E402

from filepool.settings import PRODUCER_IMAGE, PRODUCER_TOPIC  # noqa: E402
from tests.servers.dockerd import DockerEngine  # noqa: E402
from tests.servers.kafka import KafkaBroker  # noqa: E402
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
PRODUCER_DATA = demo.DEMO / "producer" / "server0"  # the Docker host's data folder (date=YYYY-MM-DD/events.json)
PRODUCER_DAYS = (date(2026, 1, 1), 3)  # the producer DAGs' window here: 2026-01-01 to 2026-01-03
PRODUCER_EVENTS = 2000  # a day


def ftp_samples() -> None:
    """Files for the hourly FTP sweep's default folder, /outgoing (made once): a folder per day, each file written
    at noon of its day, so a backfill of those days (by mtime, hourly) moves each day's files in its noon run."""
    outgoing = FTP_ROOT / "outgoing"
    if outgoing.exists():
        return
    for day in (PRODUCER_DAYS[0] + timedelta(days=n) for n in range(PRODUCER_DAYS[1])):  # 2026-01-01 to 03
        folder = outgoing / day.isoformat()
        folder.mkdir(parents=True)
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC).timestamp()
        for i in range(20):
            path = folder / f"events-{i:02d}.json"
            path.write_text(json.dumps({"day": day.isoformat(), "n": i}) * 50)
            os.utime(path, (noon, noon))


def producer_host(engine: DockerEngine, broker: KafkaBroker) -> dict[str, str]:
    """Three days of logs on a Docker host with the producer image, a topic for them: the environment that makes
    them connection docker_server0, the KAFKA_BROKERS variable and the producer DAGs' hosts and window."""
    if not PRODUCER_DATA.exists():
        sys.path.insert(0, str(REPO / "include" / "producer"))
        from producer import sample

        sample.write(PRODUCER_DATA, PRODUCER_DAYS[0], PRODUCER_DAYS[1], PRODUCER_EVENTS, random_seed=0)
    logs = PRODUCER_DATA.parent / "server0-logs"
    logs.mkdir(exist_ok=True)
    for folder, _dirs, names in os.walk(PRODUCER_DATA.parent):
        os.chmod(folder, 0o777 if Path(folder) == logs else 0o755)  # the image runs as uid 10001
        for name in names:
            os.chmod(os.path.join(folder, name), 0o644)
    engine.build_producer_image()
    engine.docker("tag", "tripclick-producer:test", PRODUCER_IMAGE)
    broker.create_topic(PRODUCER_TOPIC)
    for topic in ("ftp-tasks", "ftp-results", "ftp-failures", "ftp-tasks-dead-letter"):  # the Kafka intake's
        broker.create_topic(topic, partitions=3 if topic == "ftp-tasks" else 1)
    extra: dict[str, Any] = {"data_path": str(PRODUCER_DATA), "logs_path": str(logs), **engine.tls_extra()}
    start, days = PRODUCER_DAYS
    return {
        "AIRFLOW_CONN_DOCKER_SERVER0": json.dumps({"conn_type": "docker", "host": engine.url, "extra": extra}),
        "AIRFLOW_VAR_KAFKA_BROKERS": broker.bootstrap,
        "AIRFLOW_CONN_FILEPOOL_KAFKA": json.dumps(
            {"conn_type": "kafka", "extra": {"bootstrap.servers": broker.bootstrap}}
        ),
        "AIRFLOW__FILEPOOL__PRODUCER_HOSTS": "docker_server0",
        "AIRFLOW__FILEPOOL__PRODUCER_START_DATE": start.isoformat(),
        "AIRFLOW__FILEPOOL__PRODUCER_END_DATE": date.fromordinal(start.toordinal() + days - 1).isoformat(),
    }


# The connection types the UI's form then shows each setting of: filepool's own for SFTP and FTP (their extras as
# fields, and Test logging in); the stock ones elsewhere.
_FORM_TYPES = {"sftp": "filepool_sftp", "ftp": "filepool_ftp"}


def store_connections(env: dict[str, str]) -> dict[str, str]:
    """Write the AIRFLOW_CONN_* connections of `env` into Airflow's metadata database, where the Connections page
    lists them and a user sees, edits and tests them (a connection in an environment variable is none of that);
    returns `env` without them. A deployment may keep using environment variables or a secrets backend."""
    from airflow.models.connection import Connection

    found, rest = {}, {}
    for key, value in env.items():
        if not key.startswith("AIRFLOW_CONN_"):
            rest[key] = value
            continue
        conn_id = key.removeprefix("AIRFLOW_CONN_").lower()
        conn = (
            Connection.from_json(value, conn_id) if value.lstrip().startswith("{") else Connection(conn_id, uri=value)
        )
        found[conn_id] = {
            "conn_type": _FORM_TYPES.get(str(conn.conn_type), conn.conn_type),
            "host": conn.host,
            "port": conn.port,
            "login": conn.login,
            "password": conn.password,
            "schema": conn.schema,
            "extra": conn.extra,
        }
    stored = HOME / "connections.json"  # the demo's own servers: its passwords are the demo's fixed ones
    stored.write_text(json.dumps(found, indent=1))
    stored.chmod(0o600)
    imported = subprocess.run(
        [AIRFLOW, "connections", "import", "--overwrite", str(stored)], env=rest, capture_output=True, text=True
    )
    if imported.returncode != 0:
        raise RuntimeError(f"airflow connections import failed: {imported.stderr[-2000:]}")
    return rest


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
    fernet_key = HOME / "fernet.key"  # connection passwords and extras are stored encrypted in the metadata database
    if not fernet_key.exists():
        fernet_key.write_text(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
        fernet_key.chmod(0o600)
    pg = PostgresServer(root=demo.DEMO / "postgres", keep=True)
    ssh, s3 = SSHServer(), S3Server(root=demo.DEMO / "s3", keep=True)
    ftp = CountingFTPServer(root=FTP_ROOT)
    engine, broker = DockerEngine(), KafkaBroker()
    pids: list[int] = []
    try:
        pg.start(), ssh.start(), s3.start(), ftp.start()
        demo.bucket_client(s3)
        print("Starting a Docker host and a Kafka broker for the producer DAGs ...", flush=True)
        try:
            producer_env = producer_host(engine.start(), broker.start())
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            # dockerd needs root; without it the rest of the UI works and the producer DAGs say what is missing.
            print(f"No Docker host for the producer DAGs: {exc}", flush=True)
            producer_env = {}
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
            "AIRFLOW__CORE__FERNET_KEY": fernet_key.read_text(),
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",  # the connection form's Test button (off by default)
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            # the demo's SFTP folder may be typed into the trigger form; /outgoing is the FTP sweep's own
            "AIRFLOW__FILEPOOL__ALLOWED_PATHS": f"{demo.SOURCE},/outgoing",
            "AIRFLOW__FILEPOOL__SFTP_SOURCE_PATH": str(demo.SOURCE),  # filepool_sftp_to_minio's form and hourly sweep
            # filepool_sftp_to_minio_on_arrival watches the demo's SFTP folder from the triggerer
            "AIRFLOW__FILEPOOL__WATCH_SOURCE_PATH": str(demo.SOURCE),
            "AIRFLOW__FILEPOOL__WATCH_BUCKET": demo.BUCKET,
            **producer_env,
        }
        migrated = subprocess.run([AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True)
        if migrated.returncode != 0:
            print(migrated.stderr[-3000:], file=sys.stderr)
            return 1
        env = store_connections(env)
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
        print(f"SFTP -> MinIO:   trigger filepool_sftp_to_minio: its Source folder is the demo's {demo.SOURCE}")
        print(f"FTP -> local:    filepool_ftp_to_local sweeps the FTP server's /outgoing into {LOCAL_BASE}/incoming")
        if producer_env:
            print(
                f"Producer:        unpause filepool_producer_batch: {PRODUCER_DAYS[1]} days from "
                f"{PRODUCER_DAYS[0]} on docker_server0 ({engine.url}) into Kafka {broker.bootstrap}, topic "
                f"{PRODUCER_TOPIC}"
            )
        print(f"On arrival:      unpause filepool_sftp_to_minio_on_arrival, then drop files into {demo.SOURCE}")
        if producer_env:
            print(
                f"Kafka intake:    unpause filepool_kafka_task_messages; task messages to ftp-tasks at "
                f"{broker.bootstrap}"
            )
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
        for server in (engine, broker, ftp, s3, ssh, pg):
            server.stop()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as Ctrl-C does
    sys.exit(main())
