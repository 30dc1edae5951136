"""The File transfers app in process (FastAPI's test client), its auth dependency replaced by a user who may read
every DAG: what only the app itself decides - a ledger that fails, and what a flood of /health costs the ledger."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from fastapi.testclient import TestClient

from filepool.plugin import app as plugin_app
from filepool.plugin.access import readable
from filepool.plugin.overview import Scope
from tests.helpers import SECRETS, ledger_rows
from tests.servers.process import free_port

pytestmark = pytest.mark.integration


def client() -> TestClient:
    app = plugin_app.create_app()
    app.dependency_overrides[readable] = lambda: Scope(every=True)
    return TestClient(app)


def test_a_ledger_that_fails_answers_503_with_its_code_and_no_detail_of_the_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()
    monkeypatch.setenv(
        "AIRFLOW_CONN_FILEPOOL_LEDGER",
        json.dumps({"conn_type": "postgres", "host": "127.0.0.1", "port": port, "login": "u", "password": "secret-pw"}),
    )
    with client() as http:
        for path in ("/api/routes", "/api/failures", "/api/files?path=x"):
            reply = http.get(path)
            assert reply.status_code == 503, reply.text
            assert reply.json()["detail"].startswith("[LEDGER_ERROR] the ledger did not answer")
            assert str(port) not in reply.text and "127.0.0.1" not in reply.text and "secret-pw" not in reply.text
        assert http.get("/health").status_code == 503


def test_a_flood_of_health_requests_reads_the_ledger_once_per_snapshot(
    ledger_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 requests to /health and /metrics in a row: the ledger is read once (one snapshot, one connection) and
    never written (the page's counters are folded by the page)."""
    pytest.importorskip("prometheus_client", reason="/metrics needs the metrics extra")
    calls: list[str] = []
    real = plugin_app.Overview.routes

    def counted(self: Any, scope: Scope, fold: bool = True) -> Any:
        calls.append("fold" if fold else "read")
        return real(self, scope, fold)

    monkeypatch.setattr(plugin_app.Overview, "routes", counted)
    # one snapshot for the whole flood however slow the machine: the test counts reads per snapshot, not per second
    monkeypatch.setattr(plugin_app, "SNAPSHOT_SECONDS", 3600.0)
    before = ledger_rows(ledger_uri, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
    with client() as http:
        for i in range(200):
            reply = http.get("/health" if i % 2 else "/metrics")
            assert reply.status_code == 200
            assert not any(secret in reply.text for secret in SECRETS)
    assert calls == ["read"]
    after = ledger_rows(ledger_uri, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
    assert after[0][0] - before[0][0] <= 1  # the snapshot's one kept connection


def test_metrics_without_the_metrics_extra_answer_501_naming_it(
    ledger_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # as when the extra is not installed
    with client() as http:
        reply = http.get("/metrics")
        assert reply.status_code == 501, reply.text
        assert reply.json()["detail"].startswith("[MISSING_EXTRA] filepool's 'metrics' extra is not installed")
        assert "pip install 'airflow-provider-filepool[metrics]'" in reply.json()["detail"]
        assert http.get("/health").status_code == 200  # the rest of the page works without it
