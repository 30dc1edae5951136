from __future__ import annotations

import inspect

from filepool import exceptions
from filepool.get_provider_info import get_provider_info
from filepool.ledger.queries import migrations, queries


def test_every_error_has_its_own_code() -> None:
    classes = [
        c
        for _, c in inspect.getmembers(exceptions, inspect.isclass)
        if issubclass(c, exceptions.FilepoolError) and c is not exceptions.FilepoolError
    ]
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes)), codes
    assert {
        "INVALID_CONFIG",
        "FILE_NOT_FOUND",
        "CONNECTION_ERROR",
        "IO_ERROR",
        "CHECKSUM_MISMATCH",
        "AUTH_FAILED",
        "HOST_KEY_UNKNOWN",
    } <= set(codes)


def test_named_queries_and_migrations_load() -> None:
    assert {"register", "claim", "heartbeat", "complete", "fail", "release", "requeue_expired"} <= set(queries())
    versions = [v for v, _, _ in migrations()]
    # numbered 1..N with no gap and no number twice: a ledger applies them in this order, once each
    assert versions == list(range(1, len(versions) + 1)), versions


def test_provider_info_names_the_package() -> None:
    info = get_provider_info()
    assert info["package-name"] == "airflow-provider-filepool"
    assert "max_sessions_per_connection" in info["config"]["filepool"]["options"]
