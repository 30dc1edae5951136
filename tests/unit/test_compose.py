"""docker-compose.yaml, checked without a registry: its images cannot be pulled here, so this parses the file and
checks what the stack promises - the services of Airflow's official layout and the servers the DAGs move files
between, pinned images, published ports, volumes, healthchecks, and connections that name what the DAGs use.
Also checked for real: the SFTP server's sshd_config by `sshd -t`, the init script by `bash -n`."""

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
AIRFLOW = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker", "airflow-triggerer"}
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
    assert commands == {"api-server", "scheduler", "dag-processor", "celery worker", "triggerer"}
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
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image tag, got {image!r}"
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
    published = {
        port.split(":")[0] for service in services.values() for port in service.get("ports", []) if ":" in port
    }
    assert {"8080", "9000", "2222", "2121", "29092"} <= published
    assert len(published) == sum(len(s.get("ports", [])) for s in services.values()), "a host port is used twice"


def test_the_init_service_creates_the_connections_the_dags_expect_pointing_at_the_stacks_services(
    stack: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = compose_connections()
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
    assert connections[LEDGER_CONN_ID]["schema"] == "filepool"
    assert "CREATE DATABASE filepool OWNER filepool" in (REPO / "docker" / "postgres-init.sql").read_text()
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
    assert "PLAINTEXT://kafka:9092" in services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]


def test_the_sftp_servers_sshd_config_and_the_init_script_are_valid(tmp_path: Path) -> None:
    subprocess.run(["bash", "-n", str(REPO / "docker" / "airflow-init.sh")], check=True)
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    key = tmp_path / "ssh_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    config = tmp_path / "sshd_config"
    config.write_text((REPO / "docker" / "sshd_config").read_text().replace("/keys/ssh_host_ed25519_key", str(key)))
    os.makedirs("/run/sshd", exist_ok=True)  # sshd -t asks for it, as the sshd fixture's server does
    checked = subprocess.run([sshd, "-t", "-f", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
