"""docker-compose.yaml, checked without a registry: its images cannot be pulled here, so this parses the file and
checks what the stack promises - the services of Airflow's official layout and the servers the DAGs move files
between, pinned images (each a variable), published ports (127.0.0.1 only by default), no secret with a default,
volumes, healthchecks, and connections that name what the DAGs use. Also checked for real: the SFTP server's
sshd_config by `sshd -t`, the init scripts by `bash -n`, docker/make-env.sh by running it."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from filepool.params import task_message_params
from filepool.settings import (
    AMQP_CONN_ID,
    FTP_CONN_ID,
    KAFKA_CONN_ID,
    LEDGER_CONN_ID,
    LOCAL_CONN_ID,
    S3_CONN_ID,
    SFTP_CONN_ID,
)
from tests.helpers import REPO

COMPOSE = REPO / "docker-compose.yaml"
AIRFLOW = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-producer-worker",
    "airflow-triggerer",
}
SECRET = re.compile(r"PASSWORD|SECRET|FERNET|_KEY$")
DEFAULTED = re.compile(r"\$\{(\w+):-([^}]*)\}")  # ${NAME:-default}
REQUIRED = re.compile(r"\$\{(\w+):\?[^}]*\}")  # ${NAME:?message}


def default_of(value: str) -> str:
    """A compose value as it is when the environment sets nothing: each ${NAME:-default} its default."""
    return DEFAULTED.sub(lambda m: m.group(2), value)


SERVERS = {"postgres", "redis", "minio", "sftp", "ftp", "kafka", "rabbitmq", "docker-host"}


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    parsed = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(parsed, dict)
    return parsed


def compose_connections() -> ModuleType:
    spec = importlib.util.spec_from_file_location("compose_connections", REPO / "docker" / "compose_connections.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_stack_has_airflows_official_layout_and_every_server_the_dags_use(stack: dict[str, Any]) -> None:
    services = stack["services"]
    assert AIRFLOW | SERVERS | {"airflow-init", "minio-init", "producer-image"} <= set(services)
    for name in AIRFLOW:
        service = services[name]
        assert service["image"] == "filepool-airflow:0.6.0"
        assert service["build"]["dockerfile"] == "docker/airflow.Dockerfile"
        assert service["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert service["depends_on"]["airflow-init"] == {"condition": "service_completed_successfully"}
    commands = {services[name]["command"] for name in AIRFLOW}
    assert commands == {
        "api-server",
        "scheduler",
        "dag-processor",
        "celery worker --queues default",
        "celery worker --queues producer",
        "triggerer",
    }
    dockerfile = (REPO / "docker" / "airflow.Dockerfile").read_text()
    assert re.search(r"^ARG AIRFLOW_IMAGE=apache/airflow:3\.3\.\d+", dockerfile, re.M)
    assert "pip install --no-cache-dir --no-deps /opt/filepool" in dockerfile
    # The provider version the image installs is the package's.
    assert (
        f'__version__ = "{services["airflow-worker"]["image"].split(":")[1]}"'
        in (REPO / "filepool" / "__init__.py").read_text()
    )


def test_every_image_is_pinned_every_server_has_a_healthcheck_and_every_volume_is_declared(
    stack: dict[str, Any],
) -> None:
    services = stack["services"]
    for name, service in services.items():
        image = service.get("image", "")
        if "build" not in service:  # a pulled image: a variable whose default is the official image, pinned
            assert DEFAULTED.fullmatch(image), f"{name}: give the image as ${{VARIABLE:-image:tag}}, got {image!r}"
        pinned = default_of(image)
        assert ":" in pinned and not pinned.endswith(":latest"), f"{name}: pin the image tag, got {image!r}"
    for dockerfile in (REPO / "docker").glob("*.Dockerfile"):
        for base in re.findall(r"^(?:FROM|ARG \w+_IMAGE=)\s*(\S+)", dockerfile.read_text(), re.M):
            assert base.startswith("${") or (":" in base and not base.endswith(":latest")), f"{dockerfile}: {base}"
    for name in AIRFLOW | SERVERS:
        test = services[name]["healthcheck"]["test"]
        assert test[0] in {"CMD", "CMD-SHELL"} and len(test) > 1, name
    declared = set(stack["volumes"])
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name} mounts {source}, which is not in the repository"
            else:
                assert source in declared, f"{name} mounts the undeclared volume {source}"
    published = [default_of(port).split(":")[1] for service in services.values() for port in service.get("ports", [])]
    assert {"8080", "9000", "2222", "2121"} <= set(published)
    assert len(published) == len(set(published)), "a host port is used twice"


def test_published_ports_listen_on_127_0_0_1_and_no_secret_has_a_default(stack: dict[str, Any]) -> None:
    """As shipped, nothing is reachable from another machine (FILEPOOL_BIND_ADDRESS widens it on purpose) and
    nothing starts on a password anyone could read here: every secret is ${NAME:?...} (docker/make-env.sh)."""
    services = stack["services"]
    for name, service in services.items():
        for port in service.get("ports", []):
            address = default_of(str(port)).split(":")[0]
            assert address == "127.0.0.1", f"{name} publishes {port} on {address or 'every interface'} by default"
    assert "ports" not in services["kafka"], "Kafka has no authentication here: keep it off the host's network"
    text = COMPOSE.read_text()
    for variable, default in DEFAULTED.findall(text):
        assert not SECRET.search(variable), f"${{{variable}}} has the default {default!r}: make it ${{{variable}:?}}"
    required = set(REQUIRED.findall(text))
    assert {"AIRFLOW_JWT_SECRET", "AIRFLOW_FERNET_KEY", "AIRFLOW_DB_PASSWORD", "MINIO_ROOT_PASSWORD"} <= required
    for name, service in services.items():  # and no literal secret in any service's environment
        for variable, value in (service.get("environment") or {}).items():
            if SECRET.search(variable) and variable != "DOCKER_TLS_CERTDIR":
                assert REQUIRED.fullmatch(str(value)), f"{name}: {variable} is {value!r}, not ${{...:?}}"
    common = stack["x-airflow-common"]["environment"]
    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__RESULT_BACKEND"):
        assert "${AIRFLOW_DB_PASSWORD:?" in common[key]
    # the Docker host's client certificate (root on that host) only where the producer's tasks run
    holders = {name for name, s in services.items() if any(v.startswith("docker-certs:") for v in s.get("volumes", []))}
    assert holders == {"airflow-producer-worker", "docker-host", "producer-image"}
    assert common["AIRFLOW__FILEPOOL__PRODUCER_QUEUE"] == "producer"


def test_make_env_writes_every_secret_the_stack_requires_once_and_private(tmp_path: Path) -> None:
    (tmp_path / "docker").mkdir()
    shutil.copy(REPO / "docker" / "make-env.sh", tmp_path / "docker" / "make-env.sh")
    done = subprocess.run(
        ["bash", str(tmp_path / "docker" / "make-env.sh")], capture_output=True, text=True, check=True
    )
    env = dict(line.split("=", 1) for line in (tmp_path / ".env").read_text().splitlines() if "=" in line)
    assert set(REQUIRED.findall(COMPOSE.read_text())) <= set(env)
    assert all(len(value) >= 24 for value in env.values()) and len(set(env.values())) == len(env)
    assert (tmp_path / ".env").stat().st_mode & 0o777 == 0o600
    assert env["AIRFLOW_ADMIN_PASSWORD"] in done.stdout  # the login it prints
    from cryptography.fernet import Fernet

    Fernet(env["AIRFLOW_FERNET_KEY"])  # a key Airflow accepts
    first = (tmp_path / ".env").read_text()
    subprocess.run(["bash", str(tmp_path / "docker" / "make-env.sh")], capture_output=True, check=True)
    assert (tmp_path / ".env").read_text() == first  # kept


def test_the_init_service_creates_the_connections_the_dags_expect_pointing_at_the_stacks_services(
    stack: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = compose_connections()
    secrets = {f"FILEPOOL_{n}_PASSWORD": f"pw-{n}" for n in ("LEDGER", "SFTP", "FTP", "AMQP")}
    for variable, value in {**secrets, "MINIO_TASKS_PASSWORD": "pw-minio"}.items():
        monkeypatch.setenv(variable, value)
    key = tmp_path / "key.pub"
    key.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTheTest comment\n")
    out = tmp_path / "connections.json"
    monkeypatch.setattr(sys, "argv", ["compose_connections.py", str(out), str(key)])
    assert module.main() == 0
    connections = json.loads(out.read_text())
    assert {LEDGER_CONN_ID, SFTP_CONN_ID, S3_CONN_ID, FTP_CONN_ID, LOCAL_CONN_ID, "docker_server0"} <= set(connections)
    assert json.loads(connections[KAFKA_CONN_ID]["extra"]) == {"bootstrap.servers": "kafka:9092"}
    assert (connections[AMQP_CONN_ID]["host"], connections[AMQP_CONN_ID]["port"]) == ("rabbitmq", 5672)
    services = stack["services"]
    for conn in connections.values():
        host = (conn.get("host") or "").removeprefix("tcp://").split(":")[0]
        assert not host or host in services, f"{conn} names a host that is no service"
    assert json.loads(connections[SFTP_CONN_ID]["extra"]) == {
        "host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTheTest"
    }
    assert json.loads(connections[S3_CONN_ID]["extra"])["endpoint_url"] == "http://minio:9000"
    # tasks log in to MinIO as the user minio-init limits to the landing bucket, never as root
    assert (connections[S3_CONN_ID]["login"], connections[S3_CONN_ID]["password"]) == ("filepool-tasks", "pw-minio")
    assert "mc admin policy attach stack filepool-tasks" in (REPO / "docker" / "minio-init.sh").read_text()
    assert connections[SFTP_CONN_ID]["password"] == "pw-SFTP"
    assert connections[LEDGER_CONN_ID]["schema"] == "filepool"
    assert "CREATE DATABASE filepool OWNER filepool" in (REPO / "docker" / "postgres-init.sh").read_text()
    # The FTP -> local DAG's default folder lands inside the local connection's base path, a volume of the workers.
    base = json.loads(connections[LOCAL_CONN_ID]["extra"])["path"]
    assert any(v.startswith(f"filepool-local:{base}") for v in services["airflow-worker"]["volumes"])
    [folder] = task_message_params()["folders"].value
    assert folder["ftp_conn_id"] == FTP_CONN_ID and folder["local_conn_id"] == LOCAL_CONN_ID
    # The producer DAGs' hosts and brokers.
    env = services["airflow-worker"]["environment"]
    assert env["AIRFLOW__FILEPOOL__PRODUCER_HOSTS"] == "docker_server0"
    docker = json.loads(connections["docker_server0"]["extra"])
    assert docker["tls_ca_cert"].startswith("/certs/client/") and docker["data_path"] == "/srv/producer-data"
    assert "/srv/producer-data:ro" in " ".join(services["docker-host"]["volumes"])
    assert json.loads(out.with_suffix(".variables.json").read_text()) == {"KAFKA_BROKERS": "kafka:9092"}
    assert services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://kafka:9092"
    assert services["kafka"]["environment"]["KAFKA_LOG_DIRS"] == "/var/lib/kafka/data"
    assert "kafka-data:/var/lib/kafka/data" in services["kafka"]["volumes"]
    assert services["docker-host"]["environment"]["DOCKER_TLS_SAN"] == "DNS:docker-host"  # the name clients verify
    assert services["minio"]["healthcheck"]["test"] == ["CMD", "mc", "ready", "local"]
    # a secret missing from the environment stops the init with its name, instead of a connection with no password
    monkeypatch.delenv("FILEPOOL_SFTP_PASSWORD")
    with pytest.raises(SystemExit, match="FILEPOOL_SFTP_PASSWORD is not set"):
        module.main()


def test_the_sftp_servers_sshd_config_and_the_init_script_are_valid(tmp_path: Path) -> None:
    for script in ("airflow-init.sh", "postgres-init.sh", "minio-init.sh", "make-env.sh"):
        subprocess.run(["bash", "-n", str(REPO / "docker" / script)], check=True)
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    key = tmp_path / "ssh_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    config = tmp_path / "sshd_config"
    config.write_text((REPO / "docker" / "sshd_config").read_text().replace("/keys/ssh_host_ed25519_key", str(key)))
    os.makedirs("/run/sshd", exist_ok=True)  # sshd -t asks for it, as the sshd fixture's server does
    checked = subprocess.run([sshd, "-t", "-f", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_compose_itself_refuses_the_stack_without_its_secrets_and_reads_it_with_them(tmp_path: Path) -> None:
    """Debian's docker-compose reads the file as `docker compose up` would, interpolation included (no image is
    pulled): without .env it stops at the first secret, naming make-env.sh; with the .env make-env.sh writes, the
    file is valid and every published port is on 127.0.0.1."""
    compose = shutil.which("docker-compose")
    if compose is None:
        assert os.environ.get("CI") != "true", "docker-compose is missing: scripts/system-deps.sh installs it"
        pytest.skip("docker-compose is not installed (scripts/system-deps.sh installs it as root)")
    shutil.copy(COMPOSE, tmp_path / "docker-compose.yaml")
    shutil.copytree(REPO / "docker", tmp_path / "docker")
    required = set(REQUIRED.findall(COMPOSE.read_text()))
    env = {k: v for k, v in os.environ.items() if k not in required}  # none of them set by chance
    bare = subprocess.run([compose, "config", "-q"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert bare.returncode != 0 and "run docker/make-env.sh" in bare.stderr, bare.stderr
    subprocess.run(["bash", "docker/make-env.sh"], cwd=tmp_path, capture_output=True, check=True)
    read = subprocess.run([compose, "config"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert read.returncode == 0, read.stderr
    resolved = yaml.safe_load(read.stdout)
    ports = [str(p) for s in resolved["services"].values() for p in s.get("ports", [])]
    assert ports and all(p.startswith("127.0.0.1:") for p in ports), ports
