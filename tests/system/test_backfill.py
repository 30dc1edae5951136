"""Backfills of the transfer DAGs as a user types them, with Airflow's scheduler running (daily data intervals,
to stay light on 2 cores): `airflow backfill create` over three days moves each day's files in that day's run,
runs overlapping; a day reprocessed moves nothing again; a day with `resend: true` sends its files once more.
Each DAG backfills one tree by date folder and another by modification time; objects and files are checked by
SHA-256, and writes counted on the S3 server."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import age, ledger_rows, sha256, write_tree
from tests.servers.airflow import AirflowCluster

pytestmark = pytest.mark.system
SFTP_DAG, FTP_DAG = "filepool_sftp_to_minio", "filepool_ftp_to_local"
DAYS = ["2026-01-01", "2026-01-02", "2026-01-03"]


def backfill(cluster: AirflowCluster, dag_id: str, first: str, last: str, conf: dict[str, Any], *more: str) -> None:
    cluster.cli(
        "backfill", "create", "--dag-id", dag_id, "--from-date", first, "--to-date", last,
        "--dag-run-conf", json.dumps(conf), *more,
    )  # fmt: skip


def backfills_done(cluster: AirflowCluster, dag_id: str, count: int) -> list[dict[str, Any]] | None:
    """The DAG's backfill runs once `count` backfills are complete and their runs finished."""
    done = [b for b in cluster.api("GET", f"backfills?dag_id={dag_id}")["backfills"] if b["completed_at"]]
    runs = cluster.api("GET", f"dags/{dag_id}/dagRuns?run_type=backfill&limit=100")["dag_runs"]
    if len(done) < count or not runs or any(r["state"] not in {"success", "failed"} for r in runs):
        return None
    return runs


def summary_of(cluster: AirflowCluster, dag_id: str, run_id: str, task: str, map_index: int = -1) -> Any:
    path = f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task}/xcomEntries/return_value?map_index={map_index}"
    return cluster.api("GET", path)["value"]


def by_day(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The latest run of each day (a reprocessed day may have had another)."""
    latest: dict[str, dict[str, Any]] = {}
    for run in sorted(runs, key=lambda r: r["start_date"] or ""):
        latest[run["logical_date"][:10]] = run
    return latest


def writes(s3_server: Any, bucket: str) -> dict[str, int]:
    """How many times the S3 server stored each key (the bucket fixture's warm-up object left out)."""
    return {key: n for key, n in s3_server.object_writes(bucket).items() if key != ".warm"}


def overlapped(runs: list[dict[str, Any]]) -> bool:
    starts = [datetime.fromisoformat(r["start_date"]) for r in runs]
    ends = [datetime.fromisoformat(r["end_date"]) for r in runs]
    return max(starts) < min(ends)


def each_day_moved_its_own(cluster: AirflowCluster, dag_id: str, backfills: int, per_day: int) -> None:
    """The DAG's `backfills`-th backfill is done: one successful run a day, the runs overlapping in time, each
    having moved `per_day` files, all of its interval's."""
    runs = by_day(cluster.until(f"{dag_id}'s backfill", lambda: backfills_done(cluster, dag_id, backfills), 600))
    latest = [runs[day] for day in DAYS]
    if {r["state"] for r in latest} != {"success"}:  # a run failed in CI now and then: say which task, and why
        print(cluster.logs())
        for run in (r for r in latest if r["state"] != "success"):
            tasks = cluster.api("GET", f"dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances")["task_instances"]
            print(run["dag_run_id"], [(t["task_id"], t["map_index"], t["state"], t["try_number"]) for t in tasks])
            scheduler = (cluster.home / "scheduler.log").read_text(errors="replace")
            print("\n".join(line for line in scheduler.splitlines() if run["dag_run_id"] in line)[-6000:])
    assert {r["state"] for r in latest} == {"success"} and overlapped(latest), latest
    for day in DAYS:  # the run's summary says it, as the task that listed the interval did
        report = summary_of(cluster, dag_id, runs[day]["dag_run_id"], "summary")["interval"]
        if dag_id != SFTP_DAG:
            assert summary_of(cluster, dag_id, runs[day]["dag_run_id"], "sweep", 0)["interval"] == report
        assert (report["selected"], report["moved"], report["moved_already"]) == (per_day,) * 2 + (0,)


def test_backfills_move_each_intervals_files_in_its_own_run_once_and_resend_on_purpose(
    conns: None,
    ftp_conns: None,
    s3_server: Any,
    s3_client: Any,
    bucket: str,
    sftp_root: Path,
    local_base: Path,
    postgres_server: Any,
    ledger_uri: str,
) -> None:
    days_tree = sftp_root / "by-day"  # twelve files in a folder per day
    day_files = {day: write_tree(days_tree / day, 12, size=3000, random_seed=n) for n, day in enumerate(DAYS)}
    age(days_tree)
    flat_tree = sftp_root / "flat"  # 24 files in one tree, eight modified on each day (at noon)
    flat = write_tree(flat_tree, 24, size=1000, random_seed=9)
    for n, rel in enumerate(sorted(flat)):
        noon = datetime.fromisoformat(DAYS[n % 3]).replace(hour=12, tzinfo=UTC).timestamp()
        os.utime(flat_tree / rel, (noon, noon))
    env = {
        **os.environ,
        "AIRFLOW__FILEPOOL__TRANSFER_SCHEDULE": "0 0 * * *",  # daily intervals
        "AIRFLOW__FILEPOOL__ALLOWED_PATHS": f"{days_tree},{flat_tree}",
        "AIRFLOW__FILEPOOL__ALLOWED_BUCKETS": bucket,
    }
    sftp_by_day = {"source_path": str(days_tree), "bucket": bucket, "select_by": "partition", "workers": 1}
    sftp_by_mtime = {**sftp_by_day, "source_path": str(flat_tree), "key_prefix": "flat/", "select_by": "mtime"}

    def ftp(tree: Path, dest: str, select_by: str) -> dict[str, Any]:
        folder = {"ftp_conn_id": "filepool_ftp", "source_path": str(tree), "pattern": "*",
                  "local_conn_id": "filepool_local", "dest_path": dest}  # fmt: skip
        return {"folders": [folder], "select_by": select_by, "threads": 4}

    keys = {f"{day}/{rel}": data for day, files in day_files.items() for rel, data in files.items()}
    keys |= {f"flat/{rel}": data for rel, data in flat.items()}
    cluster = AirflowCluster(postgres_server, env, dags=(SFTP_DAG, FTP_DAG)).start()
    try:
        for dag_id in (SFTP_DAG, FTP_DAG):
            cluster.wait_for_dag(dag_id)
        # by date folder into S3, by mtime onto local disk; then the same dates again the other way round
        backfill(cluster, SFTP_DAG, DAYS[0], DAYS[-1], sftp_by_day)
        backfill(cluster, FTP_DAG, DAYS[0], DAYS[-1], ftp(flat_tree, "flat", "mtime"))
        for dag_id in (SFTP_DAG, FTP_DAG):  # a scheduler runs the backfills of active DAGs
            cluster.api("PATCH", f"dags/{dag_id}", {"is_paused": False})
        each_day_moved_its_own(cluster, SFTP_DAG, 1, 12)
        each_day_moved_its_own(cluster, FTP_DAG, 1, 8)
        again = ("--reprocess-behavior", "completed")
        backfill(cluster, SFTP_DAG, DAYS[0], DAYS[-1], sftp_by_mtime, *again)
        backfill(cluster, FTP_DAG, DAYS[0], DAYS[-1], ftp(days_tree, "days", "partition"), *again)
        each_day_moved_its_own(cluster, SFTP_DAG, 2, 8)
        each_day_moved_its_own(cluster, FTP_DAG, 2, 12)
        for key, data in keys.items():
            assert sha256(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()) == sha256(data)
        assert writes(s3_server, bucket) == dict.fromkeys(keys, 1)  # each written once
        for rel, data in flat.items():
            assert sha256((local_base / "flat" / rel).read_bytes()) == sha256(data)
        for day, files in day_files.items():
            for rel, data in files.items():
                assert sha256((local_base / "days" / day / rel).read_bytes()) == sha256(data)

        # the second day again, as completed runs are reprocessed: nothing moves again
        backfill(cluster, SFTP_DAG, DAYS[1], DAYS[1], sftp_by_day, *again)
        runs = by_day(cluster.until("the reprocessing", lambda: backfills_done(cluster, SFTP_DAG, 3), timeout=600))
        report = summary_of(cluster, SFTP_DAG, runs[DAYS[1]]["dag_run_id"], "summary")["interval"]
        assert (report["moved"], report["moved_already"]) == (0, 12)
        assert writes(s3_server, bucket) == dict.fromkeys(keys, 1)

        # ... and with resend: that day's files are written once more each, and why is recorded
        backfill(cluster, SFTP_DAG, DAYS[1], DAYS[1], {**sftp_by_day, "resend": True}, *again)
        runs = by_day(cluster.until("the re-send", lambda: backfills_done(cluster, SFTP_DAG, 4), timeout=600))
        run_id = runs[DAYS[1]]["dag_run_id"]
        report = summary_of(cluster, SFTP_DAG, run_id, "summary")["interval"]
        assert (report["moved"], report["resent"], report["moved_already"]) == (0, 12, 0)  # adds up to 12
        assert writes(s3_server, bucket) == {key: 2 if key.startswith(f"{DAYS[1]}/") else 1 for key in keys}
        assert ledger_rows(
            ledger_uri,
            "SELECT count(*), min(details->>'reason') FROM filepool_file_events WHERE event = 'resend_requested'",
        ) == [(12, f"resend: true on {SFTP_DAG} run {run_id}")]
    finally:
        cluster.stop()
