#!/usr/bin/env bash
# The official postgres image's first start, as far as docker-compose.yaml uses it.
set -euo pipefail
mkdir -p "$PGDATA" && chown postgres "$PGDATA" && chmod 700 "$PGDATA"
as_postgres() { su postgres -s /bin/bash -c "$*"; }
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    printf '%s\n' "$POSTGRES_PASSWORD" > /tmp/pwfile && chown postgres /tmp/pwfile
    as_postgres "initdb -D '$PGDATA' --username='$POSTGRES_USER' --pwfile=/tmp/pwfile --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8"
    rm -f /tmp/pwfile
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    as_postgres "pg_ctl -D '$PGDATA' -o \"-c listen_addresses=''\" -w start"
    if [ "${POSTGRES_DB:-$POSTGRES_USER}" != postgres ]; then
        as_postgres "psql --username='$POSTGRES_USER' --dbname=postgres -c 'CREATE DATABASE \"$POSTGRES_DB\"'"
    fi
    for script in /docker-entrypoint-initdb.d/*.sh; do
        [ -e "$script" ] || continue
        echo "postgres stand-in: running $script"
        su postgres -s /bin/bash -c "$(printf 'export POSTGRES_USER=%q POSTGRES_DB=%q; bash %q' "$POSTGRES_USER" "${POSTGRES_DB:-$POSTGRES_USER}" "$script")"
    done
    as_postgres "pg_ctl -D '$PGDATA' -m fast -w stop"
fi
exec su postgres -s /bin/bash -c "exec postgres -D '$PGDATA' -c listen_addresses='*'"
