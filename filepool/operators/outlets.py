"""What a transfer task tells Airflow about where its files went: asset events (for DAGs scheduled on new files)
and OpenLineage datasets (for a lineage backend).

Asset events go through the `AssetAlias` outlets the DAG file gives the task, onto the Asset it names (`asset`;
filepool's DAGs declare one per DAG in filepool.assets) or else one per route (its destination, e.g.
`s3://landing/incoming/`), never one Asset per file: each event is a row in Airflow's metadata database. Each event
says its route and destination. `run` (the default) emits one event per task run that moved files, with its counts
and where to find them; `file` emits one event per moved file (destination, size, SHA-256, source) up to
`max_file_events` - a run that moved more emits the run's event instead, saying so; `none` emits nothing. A run that
moved nothing emits nothing, so a downstream DAG runs only when there is something new.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from filepool.exceptions import InvalidConfig

log = logging.getLogger(__name__)
ASSET_EVENTS = ("run", "file", "none")


def check_asset_events(value: str) -> str:
    if value not in ASSET_EVENTS:
        raise InvalidConfig(f"asset_events must be one of {', '.join(ASSET_EVENTS)}; got {value!r}")
    return value


def add_events(
    context: Any,
    outlets: Sequence[Any],
    asset: Any,
    destination: str,
    summary: dict[str, Any],
    moved: list[dict[str, Any]],
    mode: str,
) -> int:
    """Add one task's asset events (its `summary`, and the files it `moved` when it kept them all) on `asset` (None:
    the route's destination as an Asset of its own) to every AssetAlias among `outlets` of the task running now;
    returns how many events per alias."""
    from airflow.sdk import Asset, AssetAlias

    aliases = [o for o in outlets if isinstance(o, AssetAlias)]
    files = int(summary.get("files_transferred") or 0)
    if mode == "none" or not aliases or not files or "outlet_events" not in (context or {}):
        return 0
    asset = asset if asset is not None else Asset(uri=destination)
    ti = context.get("ti")
    run = {
        "route": summary.get("job"),
        "destination": destination,
        "files": files,
        "bytes": int(summary.get("bytes_transferred") or 0),
        "failed": int(summary.get("files_failed") or 0),
        "dag_id": getattr(ti, "dag_id", None),
        "run_id": getattr(ti, "run_id", None),
        # the task that moved them (this one, or a transfer task whose events this task sends)
        "task": summary.get("task") or getattr(ti, "task_id", None),
        # every file this run moved: filepool_file_events rows with event 'completed' and this worker
        "worker": summary.get("worker"),
    }
    if mode == "file" and len(moved) == files:
        extras = [{**f, "route": run["route"], "location": destination} for f in moved]
    else:
        if mode == "file":
            run["per_file_events"] = "not sent: more than max_file_events files moved"
        extras = [run]
    for alias in aliases:
        accessor = context["outlet_events"][alias]
        for extra in extras:
            accessor.add(asset, extra=extra)
    log.info("Asset events: %d on %s through %s", len(extras), destination, ", ".join(a.name for a in aliases))
    return len(extras)


def lineage(source: str, destination: str) -> Any:
    """OpenLineage's input and output datasets for a route: namespace scheme://authority (s3://bucket; `file`
    for a local path), name the path."""
    from airflow.providers.common.compat.openlineage.facet import Dataset
    from airflow.providers.openlineage.extractors import OperatorLineage

    return OperatorLineage(inputs=[_dataset(Dataset, source)], outputs=[_dataset(Dataset, destination)])


def _dataset(kind: Any, uri: str) -> Any:
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return kind(namespace="file", name=parts.path)
    name = parts.path.lstrip("/") if parts.scheme == "s3" else parts.path
    return kind(namespace=f"{parts.scheme}://{parts.netloc}", name=name or "/")
