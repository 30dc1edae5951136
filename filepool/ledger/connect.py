"""Open a ledger connection from an Airflow `postgres` connection, with psycopg2 directly.

PostgresHook would do the same, but importing it costs ~0.3 s per task (SQLAlchemy and the DB-API hook
machinery), which on an hourly sweep of small files was 15% of the whole run. Only the connection's fields
are needed: host, port, login, password, schema (the database) and libpq options from its extra (SSL among them).
A connection with `"iam": true` in its extra logs in with a token instead of its password: the postgres provider's
own (AWS RDS or Redshift through `aws_conn_id`, Azure through `azure_conn_id`), made afresh for every connection
opened, since a token lasts 15 minutes and a ledger reconnects after outages.
"""

from __future__ import annotations

from typing import Any

from filepool.airflow_connections import Connection, read_connection
from filepool.exceptions import InvalidConfig

# libpq parameters a user may put in the connection's extra (the ones PostgresHook passes on too).
_LIBPQ_EXTRAS = {
    "sslmode",
    "sslcert",
    "sslkey",
    "sslrootcert",
    "sslcrl",
    "sslpassword",
    "application_name",
    "connect_timeout",
    "options",
    "target_session_attrs",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "gssencmode",
    "krbsrvname",
    "passfile",
}


# A dead server or network must never hold a worker for minutes (a heartbeat that hangs lets the leases of every
# file in flight run out): connecting, an unanswered write (tcp_user_timeout, ms), a silent peer (keepalives) and
# a statement (statement_timeout, ms; a statement cancelled so is rolled back and retried) are all bounded. A
# connection's extra may set each of them otherwise.
_TIMEOUTS = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}
_SERVER_OPTIONS = "-c statement_timeout=60000 -c idle_in_transaction_session_timeout=60000"


def connect_params(conn: Connection) -> dict[str, Any]:
    if not conn.host:
        raise InvalidConfig(f"ledger connection {conn.conn_id!r} has no host")
    params: dict[str, Any] = {
        "host": conn.host,
        "port": conn.port or 5432,
        "user": conn.login,
        "password": conn.password,
        "dbname": conn.schema or "postgres",
        "application_name": "filepool",
        **_TIMEOUTS,
    }
    extra = conn.extra
    params.update({k: v for k, v in extra.items() if k in _LIBPQ_EXTRAS and k != "options"})
    # A user's `options` come after ours, so a statement_timeout of their own wins.
    params["options"] = f"{_SERVER_OPTIONS} {extra.get('options') or ''}".strip()
    return {k: v for k, v in params.items() if v not in (None, "")}


def airflow_connector(conn_id: str) -> Any:
    """A function that opens a new psycopg2 connection to the ledger each time it is called (the Airflow
    connection read once, here)."""
    conn = read_connection(conn_id)
    params = connect_params(conn)
    login = iam_login(conn_id) if conn.flag("iam") else None

    def connect() -> Any:
        import psycopg2

        if login is None:
            return psycopg2.connect(**params)
        user, token, port = login()
        return psycopg2.connect(**{**params, "user": user, "password": token, "port": port})

    return connect


def iam_login(conn_id: str) -> Any:
    """A function that returns (user, token, port) for the connection, a new token each call, through the postgres
    provider's PostgresHook.get_iam_token (imported only for such a connection, which the hook reads once more:
    get_iam_token wants Airflow's own Connection)."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    hook = PostgresHook(postgres_conn_id=conn_id)
    airflow_connection = hook.get_connection(conn_id)
    return lambda: hook.get_iam_token(airflow_connection)
