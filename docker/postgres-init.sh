#!/usr/bin/env bash
# Run once by the postgres image on an empty data directory: the ledger gets its own database and user, apart from
# Airflow's metadata, with the password docker-compose.yaml hands over from .env (never one written here).
set -euo pipefail
: "${FILEPOOL_LEDGER_PASSWORD:?FILEPOOL_LEDGER_PASSWORD is not set: run docker/make-env.sh}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v password="$FILEPOOL_LEDGER_PASSWORD" <<'SQL'
CREATE USER filepool WITH PASSWORD :'password';
CREATE DATABASE filepool OWNER filepool;
SQL
