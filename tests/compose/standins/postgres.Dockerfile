# Stand-in for postgres:16: Debian's PostgreSQL 15, with the official image's contract: POSTGRES_USER, _PASSWORD
# and _DB on first start, /docker-entrypoint-initdb.d/*.sh run once, data in /var/lib/postgresql/data, pg_isready.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-15 && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /docker-entrypoint-initdb.d /var/run/postgresql && chown postgres /var/run/postgresql
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
