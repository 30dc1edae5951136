"""A ledger connection with `"iam": true` logs in with a token from the postgres provider's PostgresHook, a new
one for each connection it opens (a token lasts 15 minutes; a ledger reconnects after an outage). No cloud is
reachable here: get_iam_token is replaced by one that hands out the test server's password as the token (the
one stand-in of this test); the login, the reconnect and the statements are real."""

from __future__ import annotations

import json
from typing import Any

import pytest

from filepool.ledger import Ledger
from filepool.ledger.connect import airflow_connector
from tests.servers.postgres import PASSWORD, USER

pytestmark = pytest.mark.integration


def test_an_iam_connection_logs_in_with_a_fresh_token_each_time(
    postgres_server: Any, ledger_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    database = ledger_uri.rsplit("/", 1)[1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_FILEPOOL_LEDGER",
        json.dumps({
            "conn_type": "postgres", "host": "127.0.0.1", "port": 1, "login": "someone", "password": "not-this",
            "schema": database, "extra": {"iam": True, "aws_conn_id": "aws_rds"},
        }),
    )  # fmt: skip
    tokens: list[str] = []

    def get_iam_token(self: Any, conn: Any) -> tuple[str, str, int]:
        assert conn.extra_dejson["aws_conn_id"] == "aws_rds"  # the Airflow connection, as the provider reads it
        tokens.append(f"token-{len(tokens)}")
        return USER, PASSWORD, postgres_server.port

    monkeypatch.setattr(PostgresHook, "get_iam_token", get_iam_token)
    ledger = Ledger(airflow_connector("filepool_ledger"), "iam-test")
    try:
        ledger.migrate()
        assert ledger.rows_of("SELECT current_user") == [(USER,)]
        ledger.close()  # as after an outage: the next statement connects again
        assert ledger.rows_of("SELECT 1") == [(1,)]
        assert tokens == ["token-0", "token-1"]
    finally:
        ledger.close()
