"""Operator arguments as they arrive from a DAG file, a trigger form or a template, turned into what they mean;
a value that cannot be is INVALID_CONFIG with the argument's name."""

from __future__ import annotations

import json
from typing import Any

from filepool.exceptions import InvalidConfig


def positive_int(name: str, value: Any, minimum: int = 1) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = minimum - 1
    if number < minimum:
        raise InvalidConfig(f"{name} must be a whole number of at least {minimum}, got {value!r}")
    return number


def seconds(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if number < 0:
        raise InvalidConfig(f"{name} must be a number of seconds, 0 or more, got {value!r}")
    return number


def at_least_a_lease(name: str, hours: Any, lease_seconds: float) -> float:
    """An age limit in hours, as seconds, refused below one lease: a temporary file or an upload younger than a
    lease may belong to a transfer still running (the ledger's check of live claims is the second guard)."""
    value = seconds(name, hours) * 3600
    if value < lease_seconds:
        raise InvalidConfig(
            f"{name} must be at least one lease ({lease_seconds / 3600:.2f} h, [filepool] lease_seconds): a "
            f"younger temporary file or upload may be a transfer still running; got {hours!r}"
        )
    return value


def as_list(name: str, value: Any) -> list[Any]:
    """A list argument that may arrive as a list, a JSON list, or a comma-separated string (a template
    rendered without `render_template_as_native_obj`)."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError as exc:
                raise InvalidConfig(f"{name} is not a valid JSON list: {exc}") from exc
        else:
            return [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(value, list | tuple):
        raise InvalidConfig(f"{name} must be a list, got {type(value).__name__}")
    return list(value)
