"""Reading Airflow connections, with an unknown id turned into INVALID_CONFIG."""

from __future__ import annotations

from typing import Any

from filepool.exceptions import InvalidConfig


def get_connection(conn_id: str) -> Any:
    from airflow.sdk import BaseHook

    try:
        return BaseHook.get_connection(conn_id)
    except Exception as exc:
        if type(exc).__name__ in {"AirflowNotFoundException", "ConnNotFound"} or "isn't defined" in str(exc):
            raise InvalidConfig(f"Airflow connection {conn_id!r} is not defined") from exc
        raise


def as_bool(value: Any, default: bool = False) -> bool:
    """A flag from a connection extra or a rendered template, which may arrive as "true", "False", 1, ..."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"true", "1", "yes"}
