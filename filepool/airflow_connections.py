"""The one place filepool reads Airflow connections: an unknown id is INVALID_CONFIG, and the extras users type in
the connection form ("true", "30", ...) become flags and numbers here, with a message naming the connection and
the field when one cannot."""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from filepool.exceptions import InvalidConfig

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


def as_bool(value: Any, default: bool = False) -> bool:
    """A flag from a connection extra or a rendered template, which may arrive as "true", "False", 1, ..."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in _TRUE


@dataclass(frozen=True)
class Connection:
    """An Airflow connection's fields; `extra` is its JSON extra as a dict."""

    conn_id: str
    conn_type: str
    host: str
    port: int | None
    login: str | None
    password: str | None = field(repr=False)
    schema: str | None
    extra: dict[str, Any] = field(repr=False)

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self.extra.get(key)
        return default if value in (None, "") else str(value)

    def flag(self, key: str, default: bool = False) -> bool:
        value = self.extra.get(key)
        if value is None or isinstance(value, bool):
            return default if value is None else value
        if str(value).strip().lower() not in _TRUE | _FALSE:
            raise InvalidConfig(f"connection {self.conn_id!r}: extra {key!r} must be true or false, got {value!r}")
        return as_bool(value, default)

    def number(self, key: str, default: float) -> float:
        value = self.extra.get(key)
        if value in (None, ""):
            return default
        try:
            return float(value)
        except (TypeError, ValueError):
            raise InvalidConfig(f"connection {self.conn_id!r}: extra {key!r} must be a number, got {value!r}") from None

    def limit(self, key: str) -> int | None:
        """A positive whole number from the extra, or None when it is not given."""
        value = self.extra.get(key)
        if value in (None, ""):
            return None
        try:
            number = int(str(value))
        except ValueError:
            number = 0
        if number < 1:
            raise InvalidConfig(
                f"connection {self.conn_id!r}: extra {key!r} must be a whole number of at least 1, got {value!r}"
            )
        return number

    def require_host(self) -> str:
        if not self.host:
            raise InvalidConfig(f"connection {self.conn_id!r} has no host")
        return self.host


# The connections one task read already (see `read_once`); None outside a task.
_READ: contextvars.ContextVar[dict[str, Connection] | None] = contextvars.ContextVar("filepool_read", default=None)


@contextlib.contextmanager
def read_once() -> Iterator[None]:
    """Within the block, each connection is read from Airflow once: in a task every read is a request to the API
    server, and a batch of task messages names the same few connections many times. A connection edited during
    the block is seen by the next task."""
    token = _READ.set({})
    try:
        yield
    finally:
        _READ.reset(token)


F = TypeVar("F", bound=Callable[..., Any])


def reads_once(execute: F) -> F:
    """An operator's `execute` that reads each connection once (`read_once`)."""

    @functools.wraps(execute)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with read_once():
            return execute(*args, **kwargs)

    return cast(F, wrapped)


def read_connection(conn_id: str) -> Connection:
    """The Airflow connection `conn_id` (from Airflow's database, a secrets backend or AIRFLOW_CONN_*)."""
    read = _READ.get()
    if read is None:
        return _read(conn_id)
    if conn_id not in read:
        read[conn_id] = _read(conn_id)
    return read[conn_id]


def _read(conn_id: str) -> Connection:
    raw = _airflow_connection(conn_id)
    return Connection(
        conn_id=conn_id,
        conn_type=raw.conn_type or "",
        host=raw.host or "",
        port=int(raw.port) if raw.port else None,
        login=raw.login,
        password=raw.password,
        schema=raw.schema,
        extra=dict(raw.extra_dejson or {}),
    )


def _airflow_connection(conn_id: str) -> Any:
    from airflow.sdk import BaseHook

    try:
        return BaseHook.get_connection(conn_id)
    except Exception as exc:
        if type(exc).__name__ in {"AirflowNotFoundException", "ConnNotFound"} or "isn't defined" in str(exc):
            raise InvalidConfig(f"Airflow connection {conn_id!r} is not defined") from exc
        raise
