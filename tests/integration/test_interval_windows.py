"""Runs of data intervals on one FTP -> local route (real vsftpd, ledger and disk): the runs of three days at once
each move their own day's files, by date folder or by mtime; a sweep afterwards moves nothing; a day run again
moves nothing; a day run with resend sends its files once more, recorded as such. Keys stay relative to the
route's root. (The same through Airflow's scheduler and `airflow backfill create`: tests/system/test_backfill.py.)"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from filepool.operators import FTPToLocalOperator
from tests.helpers import age, ledger_rows, sha256, write_tree

DAYS = [datetime(2026, 1, d, tzinfo=UTC) for d in (1, 2, 3)]


def run_of(day: datetime, run_type: str = "backfill") -> dict[str, Any]:
    run_id = f"{run_type}__{day.date()}"
    return {
        "data_interval_start": day,
        "data_interval_end": day + timedelta(days=1),
        "dag_run": SimpleNamespace(run_type=SimpleNamespace(value=run_type)),
        "ti": SimpleNamespace(dag_id="filepool_ftp_to_local", task_id="sweep", run_id=run_id, map_index=0,
                              try_number=1, xcom_push=lambda **_: None),
    }  # fmt: skip


def sweep(root: Path, select_by: str, **kwargs: Any) -> FTPToLocalOperator:
    return FTPToLocalOperator(
        task_id="sweep", source_path=str(root), dest_path="in", threads=4, select_by=select_by, **kwargs
    )


def test_three_days_at_once_by_date_folder_each_run_moves_its_own_then_reruns_and_resend(
    ftp_conns: None, sftp_root: Path, local_base: Path, ledger_uri: str
) -> None:
    root = sftp_root / "daily"
    days = {day: write_tree(root / f"{day.date()}", 15, size=2000, random_seed=n) for n, day in enumerate(DAYS)}
    age(root)
    with ThreadPoolExecutor(3) as pool:
        summaries = dict(zip(DAYS, pool.map(lambda d: sweep(root, "partition").execute(run_of(d)), DAYS), strict=True))
    for day, files in days.items():
        report = summaries[day]["interval"]
        assert summaries[day]["files_transferred"] == 15, summaries[day]
        assert (report["selected"], report["moved"], report["moved_already"]) == (15, 15, 0)
        for rel, data in files.items():  # the key keeps the date folder: relative to the route's root
            assert sha256((local_base / "in" / f"{day.date()}" / rel).read_bytes()) == sha256(data)
    assert ledger_rows(ledger_uri, "SELECT count(*), count(DISTINCT job) FROM filepool_files") == [(45, 1)]

    # the regular sweep of the same route finds every version moved
    assert sweep(root, "sweep").execute({})["files_transferred"] == 0
    # a day run again (reprocess) moves nothing again
    again = sweep(root, "partition").execute(run_of(DAYS[1]))
    assert again["files_transferred"] == 0 and again["interval"]["moved_already"] == 15
    # ... unless told to send again: one new write each, recorded with the run as the reason
    target = local_base / "in" / f"{DAYS[1].date()}"
    before = {p: p.stat().st_ino for p in target.rglob("*.bin")}
    resent = sweep(root, "partition", resend=True).execute(run_of(DAYS[1], "manual"))
    assert resent["files_transferred"] == 15
    parts = resent["interval"]  # the parts add up to what was selected: each file once
    assert (parts["selected"], parts["moved"], parts["resent"], parts["moved_already"], parts["other"]) == (
        15,
        0,
        15,
        0,
        0,
    )
    assert all(p.stat().st_ino != inode for p, inode in before.items())  # written anew (a new file each)
    assert ledger_rows(
        ledger_uri,
        "SELECT count(*), min(details->>'reason') FROM filepool_file_events WHERE event = 'resend_requested'",
    ) == [(15, "resend: true on filepool_ftp_to_local run manual__2026-01-02")]
    assert ledger_rows(ledger_uri, "SELECT status, count(*) FROM filepool_files GROUP BY 1") == [("COMPLETED", 45)]


def test_by_mtime_a_backfill_takes_its_days_files_and_a_scheduled_run_what_is_left(
    ftp_conns: None, sftp_root: Path, local_base: Path, ledger_uri: str
) -> None:
    root = sftp_root / "flat"
    files = write_tree(root, 30, size=1000)
    day_of = {}
    for n, rel in enumerate(sorted(files)):  # ten files on each day, at noon
        day = DAYS[n % 3]
        os.utime(root / rel, (day.timestamp() + 43200, day.timestamp() + 43200))
        day_of[rel] = day
    middle = sweep(root, "mtime").execute(run_of(DAYS[1]))
    assert middle["files_transferred"] == 10 and middle["interval"]["selected"] == 10
    moved = {str(p.relative_to(local_base / "in")) for p in (local_base / "in").rglob("*.bin")}
    assert moved == {rel for rel, day in day_of.items() if day == DAYS[1]}
    # the scheduled run of the last day also takes the first day's files, left behind by no run of theirs
    last = sweep(root, "mtime").execute(run_of(DAYS[2], "scheduled"))
    assert last["files_transferred"] == 20 and "interval" not in last
    for rel, data in files.items():
        assert sha256((local_base / "in" / rel).read_bytes()) == sha256(data)


def test_a_day_without_its_folder_selects_nothing_and_succeeds(
    ftp_conns: None, sftp_root: Path, local_base: Path, ledger_uri: str
) -> None:
    root = sftp_root / "daily"
    (root / "2026-01-01").mkdir(parents=True)  # a route whose January 2nd never came
    summary = sweep(root, "partition").execute(run_of(DAYS[1]))
    assert summary["files_transferred"] == 0 and summary["interval"]["selected"] == 0
    assert summary["discovery"]["rejected"] == 0


def test_a_backfill_that_says_nothing_of_selection_selects_its_interval_never_the_whole_folder(
    ftp_conns: None, sftp_root: Path, local_base: Path, ledger_uri: str, caplog: Any
) -> None:
    """Airflow's backfill dialog stores no conf: `select_by` is `auto`, and a backfill run selects by the route's
    `backfill_select_by` (mtime unless the DAG file says partition), saying how in one line; a manual run sweeps."""
    import logging

    caplog.set_level(logging.INFO)
    root = sftp_root / "mixed"
    files = write_tree(root / f"{DAYS[1].date()}", 6, size=500)
    for rel in files:  # modified on the day whose folder holds them
        noon = DAYS[1].timestamp() + 43200
        os.utime(root / f"{DAYS[1].date()}" / rel, (noon, noon))
    other = write_tree(root / "elsewhere", 4, size=500, random_seed=5)
    age(root / "elsewhere")  # modified today: no interval of January's
    by_mtime = FTPToLocalOperator(task_id="sweep", source_path=str(root), dest_path="in", threads=4)
    assert by_mtime.execute(run_of(DAYS[1]))["files_transferred"] == 6
    assert "backfill 2026-01-02 00:00-2026-01-03 00:00, select_by=mtime: 6 selected, 6 moved, 0 moved already" in (
        caplog.text
    )
    by_folder = FTPToLocalOperator(
        task_id="sweep", source_path=str(root), dest_path="in", threads=4, backfill_select_by="partition"
    )
    again = by_folder.execute(run_of(DAYS[1]))
    assert again["files_transferred"] == 0 and again["interval"]["moved_already"] == 6
    assert "select_by=partition 2026-01-02/: 6 selected, 0 moved, 6 moved already" in caplog.text
    manual = FTPToLocalOperator(task_id="sweep", source_path=str(root), dest_path="in", threads=4)
    assert manual.execute(run_of(DAYS[2], "manual"))["files_transferred"] == len(other)  # a manual run sweeps
