"""The transfer DAGs' schedule: a data-interval timetable, so that each run covers an interval that `select_by`
partition or mtime can select files by (Airflow 3's `@hourly` is a trigger timetable, whose runs have an interval
of no length). Each DAG file may give its own cron (its `SCHEDULE`); without one, `[filepool] transfer_schedule`
(hourly by default) for every transfer DAG of the deployment."""

from __future__ import annotations

try:
    from airflow.sdk import CronDataIntervalTimetable
except ImportError:  # Airflow 3.1: the Task SDK does not export it yet; core has had it all along
    from airflow.timetables.interval import CronDataIntervalTimetable  # type: ignore[assignment]

from filepool.settings import Settings


def transfer_timetable(cron: str | None = None) -> CronDataIntervalTimetable:
    """Data intervals on `cron` (e.g. "0 0 * * *" for daily runs), or on `[filepool] transfer_schedule`."""
    return CronDataIntervalTimetable(cron or Settings.load().transfer_schedule, timezone="UTC")
