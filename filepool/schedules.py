"""The transfer DAGs' schedule: a data-interval timetable on `[filepool] transfer_schedule` (hourly by default),
so that each run covers an interval that `select_by` partition or mtime can select files by. Airflow 3's
`@hourly` is a trigger timetable, whose runs have an interval of no length."""

from __future__ import annotations

from airflow.sdk import CronDataIntervalTimetable

from filepool.settings import Settings


def transfer_timetable() -> CronDataIntervalTimetable:
    return CronDataIntervalTimetable(Settings.load().transfer_schedule, timezone="UTC")
