"""Task metrics through Airflow's Stats: statsd or OpenTelemetry, whichever the deployment turned on in
`[metrics]`; nothing outside a task run (dag.test, scripts). Names are prefixed by Airflow (`airflow.` by default):

- `filepool.files_transferred`, `filepool.files_failed`, `filepool.bytes_transferred` (counters),
- `filepool.transfer_duration` (a timer per file, milliseconds),
- `filepool.sessions_active` (a gauge per connection id: sessions open in this task),

tagged with `route`, a slug of the route that names no path or connection (the File transfers page shows which
route it is). Plain statsd sends tags only with `[metrics] statsd_influxdb_enabled = True`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)


def route_slug(job: str) -> str:
    """A short stable name for a route that reveals no path or connection (metric tags and labels)."""
    return "r" + hashlib.sha256(job.encode()).hexdigest()[:10]


def _stats() -> Any:
    try:
        from airflow.sdk.observability import stats
    except ImportError:  # outside Airflow
        return None
    return stats


def recorded(job: str, seconds: Sequence[float], size: int, failed: int) -> None:
    """A batch of results made durable: the files' transfer times, their bytes, and how many failed."""
    stats = _stats()
    if stats is None:
        return
    tags = {"route": route_slug(job)}
    try:
        if seconds:
            stats.incr("filepool.files_transferred", len(seconds), tags=tags)
            stats.incr("filepool.bytes_transferred", size, tags=tags)
            for s in seconds:
                stats.timing("filepool.transfer_duration", s * 1000, tags=tags)
        if failed:
            stats.incr("filepool.files_failed", failed, tags=tags)
    except Exception as exc:  # metrics never stop a transfer
        log.debug("metrics not sent: %s", exc)


def sessions(conn_id: str, open_now: int) -> None:
    stats = _stats()
    if stats is None:
        return
    try:
        stats.gauge("filepool.sessions_active", open_now, tags={"conn_id": conn_id})
    except Exception as exc:
        log.debug("metrics not sent: %s", exc)
