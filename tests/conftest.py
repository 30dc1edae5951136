"""Session fixtures: real PostgreSQL, OpenSSH sshd and SeaweedFS S3 on free loopback ports, stopped by PID.

Under CI (CI=true) a server that cannot start fails the run; elsewhere a missing binary skips the tests
that need it, with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import REPO, aws_conn, ftp_conn, sftp_conn

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="filepool-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}"
os.environ["AIRFLOW__FILEPOOL__PROGRESS_INTERVAL_SECONDS"] = "1"
# The tests point tasks at servers on free ports, temporary folders and buckets of their own, some through trigger
# confs and task messages: the deployment allows those here. tests/integration/test_allow.py puts the defaults
# back and checks what they refuse.
os.environ["AIRFLOW__FILEPOOL__ALLOWED_CONNECTIONS"] = "*"
os.environ["AIRFLOW__FILEPOOL__ALLOWED_BUCKETS"] = "test-*"
os.environ["AIRFLOW__FILEPOOL__ALLOWED_PATHS"] = "/"
os.environ["AIRFLOW__FILEPOOL__ALLOWED_TOPICS"] = "*"

from tests.servers import sshd  # noqa: E402
from tests.servers.dockerd import PRODUCER_IMAGE, DockerEngine  # noqa: E402
from tests.servers.kafka import KafkaBroker  # noqa: E402
from tests.servers.postgres import PostgresServer  # noqa: E402
from tests.servers.seaweedfs import S3Server  # noqa: E402
from tests.servers.sshd import SSHServer  # noqa: E402

# The longest files first: `make test` hands files to its processes in this order, so the Airflow and chaos
# files start at once and the quick ones fill the gaps, instead of three long files starting last.
_FIRST = ("system", "chaos", "integration", "producer", "unit")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    folder = {name: rank for rank, name in enumerate(_FIRST)}
    items.sort(key=lambda item: folder.get(item.path.parent.name, len(_FIRST)))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)  # this session's Airflow home, made at import


def _start(server):  # type: ignore[no-untyped-def]
    try:
        return server.start()
    except FileNotFoundError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"server not available here: {exc}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = _start(PostgresServer())
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sshd_server() -> Iterator[SSHServer]:
    server = _start(SSHServer())
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = _start(S3Server(verbose=True))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    server = _start(KafkaBroker())
    yield server
    server.stop()


@pytest.fixture
def kafka_conn(kafka_broker: KafkaBroker, monkeypatch: pytest.MonkeyPatch) -> KafkaBroker:
    """The broker, as the `filepool_kafka` connection."""
    conn = {"conn_type": "kafka", "extra": {"bootstrap.servers": kafka_broker.bootstrap}}
    monkeypatch.setenv("AIRFLOW_CONN_FILEPOOL_KAFKA", json.dumps(conn))
    return kafka_broker


@pytest.fixture(scope="session")
def redis_server():  # type: ignore[no-untyped-def]
    from tests.servers.redis import RedisServer

    server = _start(RedisServer())
    yield server
    server.stop()


@pytest.fixture(scope="session")
def rabbitmq_server():  # type: ignore[no-untyped-def]
    from tests.servers.rabbitmq import RabbitMQServer

    server = _start(RabbitMQServer())
    yield server
    server.stop()


@pytest.fixture(scope="session")
def docker_engines() -> Iterator[list[DockerEngine]]:
    """Two Docker engines, TLS only, standing for two remote web servers; each has the producer image."""
    engines: list[DockerEngine] = []
    try:
        for _ in range(2):
            engine = _start(DockerEngine())
            engines.append(engine)
            engine.build_producer_image()
            engine.docker("tag", PRODUCER_IMAGE, "tripclick-producer:latest")
        yield engines
    finally:
        for engine in engines:
            engine.stop()


def _create_database(server: PostgresServer, name: str, template: str | None = None) -> None:
    import psycopg2

    admin = psycopg2.connect(server.uri())
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
    admin.close()


def _drop_database(server: PostgresServer, name: str) -> None:
    import psycopg2

    admin = psycopg2.connect(server.uri())
    admin.autocommit = True
    with admin.cursor() as cur:  # FORCE: a worker a test killed may still hold a connection
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


@pytest.fixture(scope="session")
def migrated_template(postgres_server: PostgresServer) -> str:
    """A database migrated once per session; each test's ledger is a copy of it (CREATE DATABASE ... TEMPLATE)."""
    import psycopg2

    from filepool.ledger import Ledger

    name = "filepool_migrated_template"
    _create_database(postgres_server, name)
    ledger = Ledger(lambda: psycopg2.connect(postgres_server.uri(name)), "template")
    ledger.migrate()
    ledger.close()  # a template is copied only while nobody is connected to it
    return name


def _ledger_database(server: PostgresServer, monkeypatch: pytest.MonkeyPatch, template: str | None) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    _create_database(server, name, template)
    uri = server.uri(name)
    monkeypatch.setenv("AIRFLOW_CONN_FILEPOOL_LEDGER", uri.replace("postgresql://", "postgres://"))
    yield uri
    _drop_database(server, name)


@pytest.fixture
def ledger_uri(
    postgres_server: PostgresServer, migrated_template: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A ledger database per test with every migration applied, set as the `filepool_ledger` connection; dropped
    after the test."""
    yield from _ledger_database(postgres_server, monkeypatch, migrated_template)


@pytest.fixture
def empty_ledger_uri(postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An empty database per test (no migration applied), as the `filepool_ledger` connection; dropped after."""
    yield from _ledger_database(postgres_server, monkeypatch, None)


@pytest.fixture
def sftp_root() -> Iterator[Path]:
    """A source folder the SFTP user can read (pytest's tmp_path is private to root)."""
    root = Path(tempfile.mkdtemp(prefix="filepool-src-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def conns(sshd_server: SSHServer, s3_server: S3Server, ledger_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`filepool_sftp`, `filepool_minio` and `filepool_ledger` pointing at the test servers."""
    monkeypatch.setenv("AIRFLOW_CONN_FILEPOOL_SFTP", sftp_conn(sshd_server))
    monkeypatch.setenv("AIRFLOW_CONN_FILEPOOL_MINIO", aws_conn(s3_server.endpoint))


@pytest.fixture
def s3_client(s3_server: S3Server) -> Any:
    return s3_server.client()


@pytest.fixture
def bucket(s3_client) -> str:  # type: ignore[no-untyped-def]
    name = f"test-{uuid.uuid4().hex[:12]}"
    # SeaweedFS allocates volumes on a bucket's first write, and can be slow to after a test wrote 10,000 objects:
    # retry for a while rather than fail a test on its set-up (the last error is raised if it never works).
    deadline = time.monotonic() + 60
    while True:
        try:
            if name not in {b["Name"] for b in s3_client.list_buckets().get("Buckets", [])}:
                s3_client.create_bucket(Bucket=name)
            s3_client.put_object(Bucket=name, Key=".warm", Body=b"")
            s3_client.delete_object(Bucket=name, Key=".warm")
            return name
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


@pytest.fixture(scope="session")
def ftp_server():  # type: ignore[no-untyped-def]
    from tests.servers.vsftpd import FTPServer

    server = _start(FTPServer())
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ftps_server():  # type: ignore[no-untyped-def]
    from tests.servers.vsftpd import FTPServer

    server = _start(FTPServer(tls=True))
    yield server
    server.stop()


@pytest.fixture
def local_base(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The base path of the `filepool_local` fs connection (empty, per test)."""
    base = Path(tempfile.mkdtemp(prefix="filepool-base-"))
    monkeypatch.setenv("AIRFLOW_CONN_FILEPOOL_LOCAL", json.dumps({"conn_type": "fs", "extra": {"path": str(base)}}))
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def ftp_conns(ftp_server: Any, ledger_uri: str, local_base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_FILEPOOL_FTP", ftp_conn(ftp_server))


@pytest.fixture
def ftp_upload_root() -> Iterator[Path]:
    """A folder the FTP user may write into (it belongs to that user)."""
    import pwd

    root = Path(tempfile.mkdtemp(prefix="filepool-ftp-up-"))
    user = pwd.getpwnam(sshd.USER)
    os.chown(root, user.pw_uid, user.pw_gid)
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)
