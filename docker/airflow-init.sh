#!/usr/bin/env bash
# docker-compose.yaml's airflow-init: migrate Airflow's metadata, create the admin user, generate the SFTP server's
# host key, write the connections and the KAFKA_BROKERS variable, and put sample files on the servers. Idempotent:
# `docker compose up` runs it again on every start.
set -euo pipefail

airflow db migrate
airflow users create --role Admin --username "${_AIRFLOW_WWW_USER_USERNAME:-airflow}" \
    --password "${_AIRFLOW_WWW_USER_PASSWORD:?run docker/make-env.sh}" --firstname Admin --lastname User \
    --email admin@example.org 2>/dev/null || echo "user ${_AIRFLOW_WWW_USER_USERNAME:-airflow} exists"

# The SFTP server's host key, made once and mounted into the sftp service; its public half goes into the
# connection, so filepool verifies the server as it would any other.
if [ ! -s /sftp-keys/ssh_host_ed25519_key ]; then
    python - <<'PY'
from pathlib import Path
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

key = Ed25519PrivateKey.generate()
private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
Path("/sftp-keys/ssh_host_ed25519_key").write_bytes(private)
Path("/sftp-keys/ssh_host_ed25519_key").chmod(0o600)
Path("/sftp-keys/ssh_host_ed25519_key.pub").write_bytes(public + b"\n")
PY
fi

python /opt/filepool/docker/compose_connections.py /tmp/connections.json /sftp-keys/ssh_host_ed25519_key.pub
airflow connections import --overwrite /tmp/connections.json
airflow variables import /tmp/connections.variables.json

# Sample files: 200 on the SFTP server, 40 on the FTP server, three days of producer logs on the Docker host.
python - <<'PY'
import os
from pathlib import Path

for root, count, size in ((Path("/srv/sftp-data/outgoing"), 200, 64 * 1024), (Path("/srv/ftp-home/outgoing"), 40, 32 * 1024)):
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        day = root / f"2026-01-0{i % 3 + 1}"
        day.mkdir(exist_ok=True)
        path = day / f"sample-{i:04d}.bin"
        if not path.exists():
            path.write_bytes(os.urandom(size))
PY
PYTHONPATH=/opt/producer python -m producer.sample --out /srv/producer-data --start 2026-01-01 --days 3 --events 2000
mkdir -p /srv/producer-logs /opt/airflow/filepool-local/incoming
chown -R 1001:1001 /srv/sftp-data
chown -R 1002:1002 /srv/ftp-home
chown -R 10001:10001 /srv/producer-logs
chown -R "${AIRFLOW_UID:-50000}:0" /opt/airflow/filepool-local /opt/airflow/logs
echo "airflow-init: done"
