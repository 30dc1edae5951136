"""The Airflow connections and variables of docker-compose.yaml's stack, written by its `airflow-init` service.

Usage (in the init container): python compose_connections.py OUT.json HOST_KEY.pub
then `airflow connections import --overwrite OUT.json`. Host names are the compose services'; the SFTP server's
host key is the one airflow-init generated for it, so the connection verifies it like any other.
Every password comes from the environment docker-compose.yaml gives airflow-init (.env, written by
docker/make-env.sh): none has a default here.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

# Where the stack's services keep their files, inside their containers.
SFTP_ROOT = "/home/filepool/data"  # the sftp service: the user's home, chrooted; `data` is writable
FTP_OUTGOING = "/outgoing"  # below the FTP user's home
LOCAL_BASE = "/opt/airflow/filepool-local"  # the FTP -> local DAG's base path (a volume on the workers)
PRODUCER_DATA = "/srv/producer-data"  # on the Docker host (docker-host service)
PRODUCER_LOGS = "/srv/producer-logs"
DOCKER_CERTS = "/certs/client"  # the Docker host's client certificates, mounted into airflow-producer-worker only
KAFKA_BROKERS = "kafka:9092"


def env(name: str) -> str:
    """A secret of the stack's environment; SystemExit naming it when it is not set."""
    value = os.environ.get(name, "")
    if not value:
        raise SystemExit(f"{name} is not set: run docker/make-env.sh, then docker compose up")
    return value


def connections(host_key: str) -> dict[str, dict[str, Any]]:
    tls = {
        "tls_ca_cert": f"{DOCKER_CERTS}/ca.pem",
        "tls_client_cert": f"{DOCKER_CERTS}/cert.pem",
        "tls_client_key": f"{DOCKER_CERTS}/key.pem",
        "data_path": PRODUCER_DATA,
        "logs_path": PRODUCER_LOGS,
    }
    return {
        "filepool_ledger": {
            "conn_type": "postgres",
            "host": "postgres",
            "port": 5432,
            "schema": "filepool",
            "login": "filepool",
            "password": env("FILEPOOL_LEDGER_PASSWORD"),
        },
        "filepool_sftp": {
            "conn_type": "sftp",
            "host": "sftp",
            "port": 22,
            "login": "filepool",
            "password": env("FILEPOOL_SFTP_PASSWORD"),
            "extra": json.dumps({"host_key": host_key}),
        },
        "filepool_minio": {
            "conn_type": "aws",
            # minio-init's user limited to the landing bucket, never MinIO's root
            "login": os.environ.get("MINIO_TASKS_USER", "filepool-tasks"),
            "password": env("MINIO_TASKS_PASSWORD"),
            "extra": json.dumps({"endpoint_url": "http://minio:9000", "region_name": "us-east-1"}),
        },
        "filepool_ftp": {
            "conn_type": "ftp",
            "host": "ftp",
            "port": 21,
            "login": "filepool",
            "password": env("FILEPOOL_FTP_PASSWORD"),
        },
        "filepool_local": {"conn_type": "fs", "extra": json.dumps({"path": LOCAL_BASE})},
        "docker_server0": {"conn_type": "docker", "host": "tcp://docker-host:2376", "extra": json.dumps(tls)},
        # task messages in (ftp-tasks) and result records out (ftp-results, ftp-failures)
        "filepool_kafka": {"conn_type": "kafka", "extra": json.dumps({"bootstrap.servers": KAFKA_BROKERS})},
        "filepool_amqp": {
            "conn_type": "amqp",
            "host": "rabbitmq",
            "port": 5672,
            "login": "filepool",
            "password": env("FILEPOOL_AMQP_PASSWORD"),
            "schema": "/",
        },
    }


def variables() -> dict[str, str]:
    return {"KAFKA_BROKERS": KAFKA_BROKERS}


def main() -> int:
    out, key = Path(sys.argv[1]), Path(sys.argv[2])
    kind, blob = key.read_text().split()[:2]  # the form the sftp connection's host_key takes: "type base64"
    out.write_text(json.dumps(connections(f"{kind} {blob}"), indent=2))
    out.with_suffix(".variables.json").write_text(json.dumps(variables(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
