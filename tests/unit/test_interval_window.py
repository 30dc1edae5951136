"""A run's data interval as the files it selects: sweep, partition (rendered for each interval) and mtime, exact
for backfills and manual runs, widened for scheduled runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import jinja2
import pytest

from filepool.exceptions import InvalidConfig
from filepool.operators.interval import interval_window
from filepool.transfer.window import SWEEP, Window

DAY = datetime(2026, 1, 3, tzinfo=UTC)


def context(run_type: str, start: datetime | None = DAY, length: timedelta = timedelta(days=1)) -> dict[str, Any]:
    return {
        "data_interval_start": start,
        "data_interval_end": start + length if start else None,
        "dag_run": SimpleNamespace(run_type=SimpleNamespace(value=run_type)),
        "params": {"partition": "{{ ds }}"},
    }


def render(template: str, values: dict[str, Any]) -> str:
    return jinja2.Environment().from_string(template).render(**values)


def test_a_sweep_is_the_whole_route_whatever_the_interval() -> None:
    assert interval_window("sweep", "{{ ds }}", 1, context("backfill", None), render) == SWEEP


def test_a_backfill_run_selects_exactly_its_intervals_partition_or_mtimes() -> None:
    window = interval_window("partition", "{{ params.partition }}", 1, context("backfill"), render)
    assert window == Window(folders=("2026-01-03",), exact=True)
    assert window.roots("/data") == ["/data/2026-01-03"]
    assert window.claim_filter("/data") == {"path_prefix": "/data/2026-01-03/", "mtime_from": None, "mtime_until": None}
    hourly = interval_window(
        "partition",
        "{{ data_interval_start.strftime('%Y/%m/%d/%H') }}",
        1,
        context("manual", DAY + timedelta(hours=5), timedelta(hours=1)),
        render,
    )
    assert hourly.folders == ("2026/01/03/05",) and hourly.exact
    # slashes around the template are the root's: the folder is under it either way
    assert interval_window("partition", "/{{ ds }}/", 1, context("backfill"), render).folders == ("2026-01-03",)
    by_mtime = interval_window("mtime", "{{ ds }}", 1, context("backfill"), render)
    assert (by_mtime.mtime_from, by_mtime.mtime_until) == (DAY.timestamp(), (DAY + timedelta(days=1)).timestamp())
    assert by_mtime.takes(DAY.timestamp()) and not by_mtime.takes((DAY + timedelta(days=1)).timestamp())


def test_a_scheduled_run_also_takes_what_earlier_intervals_left() -> None:
    window = interval_window("partition", "{{ ds }}", 2, context("scheduled"), render)
    assert window == Window(folders=("2026-01-03", "2026-01-02", "2026-01-01"), exact=False)
    assert window.claim_filter("/data") == {"path_prefix": None, "mtime_from": None, "mtime_until": None}
    by_mtime = interval_window("mtime", "{{ ds }}", 1, context("scheduled"), render)
    assert by_mtime.mtime_from is None and by_mtime.takes(0.0) and not by_mtime.exact


@pytest.mark.parametrize(
    ("select_by", "partition", "ctx", "says"),
    [
        ("hourly", "{{ ds }}", context("backfill"), "select_by must be one of"),
        ("mtime", "{{ ds }}", context("manual", None), "needs a run with a data interval"),
        ("partition", "../{{ ds }}", context("backfill"), "plain relative folder"),
        ("partition", "{{ ds }}/../../etc", context("backfill"), "plain relative folder"),
        ("partition", "{{ '' }}", context("backfill"), "not a folder"),
    ],
)
def test_a_selection_that_makes_no_sense_is_refused_with_its_reason(
    select_by: str, partition: str, ctx: dict[str, Any], says: str
) -> None:
    with pytest.raises(InvalidConfig, match=says):
        interval_window(select_by, partition, 1, ctx, render)
