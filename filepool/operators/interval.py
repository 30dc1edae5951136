"""A run's data interval as a Window of the route (filepool/transfer/window.py): the Airflow side of it.

`select_by`:
- ``auto`` (the default): a backfill run selects by its route's `backfill_select_by` (``mtime`` unless the DAG file
  says ``partition`` for the route), so a backfill never silently sweeps; any other run sweeps. A run's conf or
  trigger form overrides it with one of the others.
- ``sweep``: the whole route, whatever the interval.
- ``partition``: the folder named by the `partition` template under the route's root, rendered with the
  interval's ``ds``, ``ds_nodash``, ``ts``, ``data_interval_start`` and ``data_interval_end``
  (e.g. ``{{ ds }}`` or ``{{ data_interval_start.strftime('%Y/%m/%d/%H') }}``).
- ``mtime``: the files whose modification time falls in ``[data_interval_start, data_interval_end)``.

A backfill or manual run takes exactly its interval's files. A scheduled run also takes what earlier intervals
left behind: with ``mtime``, every file older than its interval's end; with ``partition``, the folders of the
`late_partitions` intervals before its own too; and it moves whatever else the route's queue holds (retries).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from filepool.exceptions import InvalidConfig
from filepool.transfer.window import SWEEP, Window

SELECT_BY = ("auto", "sweep", "partition", "mtime")
BACKFILL_SELECT_BY = ("mtime", "partition")
EXACT_RUN_TYPES = {"backfill", "manual"}


def run_type(context: Any) -> str:
    kind = getattr(context.get("dag_run"), "run_type", "") if context else ""
    return str(getattr(kind, "value", kind))


def interval_window(
    select_by: str,
    partition: str,
    late_partitions: int,
    context: Any,
    render: Callable[[str, dict[str, Any]], Any],
    backfill_select_by: str = "mtime",
) -> Window:
    """The Window of this run; `render(template, context)` renders a Jinja template as the operator does."""
    if select_by not in SELECT_BY:
        raise InvalidConfig(f"select_by must be one of {', '.join(SELECT_BY)}, got {select_by!r}")
    if backfill_select_by not in BACKFILL_SELECT_BY:
        raise InvalidConfig(
            f"backfill_select_by must be one of {', '.join(BACKFILL_SELECT_BY)}, got {backfill_select_by!r}"
        )
    if select_by == "auto":
        select_by = backfill_select_by if run_type(context) == "backfill" else "sweep"
    if select_by == "sweep":
        return SWEEP
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start is None or end is None or end <= start:
        raise InvalidConfig(
            f"select_by={select_by} needs a run with a data interval, and this run has none ({start} to {end}): "
            "trigger it with a logical date, or backfill a date range (airflow backfill create)"
        )
    kind = run_type(context) or "run"
    exact = kind in EXACT_RUN_TYPES
    interval = f"{kind} {start:%Y-%m-%d %H:%M}-{end:%Y-%m-%d %H:%M}"
    if select_by == "mtime":
        mtime_from = start.timestamp() if exact else None
        return Window(
            mtime_from=mtime_from, mtime_until=end.timestamp(), exact=exact, headline=f"{interval}, select_by=mtime"
        )
    if late_partitions < 0:
        raise InvalidConfig(f"late_partitions must be 0 or more, got {late_partitions}")
    length = end - start
    back = range(1 if exact else late_partitions + 1)
    folders = [_partition(partition, start - k * length, end - k * length, context, render) for k in back]
    unique = tuple(dict.fromkeys(folders))
    headline = f"{interval}, select_by=partition {', '.join(f + '/' for f in unique)}"
    return Window(folders=unique, exact=exact, headline=headline)


def _partition(
    template: str, start: datetime, end: datetime, context: Any, render: Callable[[str, dict[str, Any]], Any]
) -> str:
    interval = {
        "ds": start.strftime("%Y-%m-%d"),
        "ds_nodash": start.strftime("%Y%m%d"),
        "ts": start.isoformat(),
        "data_interval_start": start,
        "data_interval_end": end,
        "logical_date": start,
    }
    folder = str(template)
    for _ in range(2):  # a template that came from a Param ("{{ params.partition }}") holds another one
        if "{{" not in folder:
            break
        folder = str(render(folder, {**context, **interval}))
    if not folder.strip("/") or "{{" in folder:
        raise InvalidConfig(f"partition template {template!r} rendered to {folder!r}: not a folder")
    return folder.strip("/")
