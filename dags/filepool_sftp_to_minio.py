"""filepool_sftp_to_minio: every hour, move new stable files from an SFTP folder to a MinIO/S3 bucket.

discover (one task lists the source and registers new stable files in the ledger)
  -> transfer (mapped over worker slots, never over files: each slot drains the shared ledger queue)
  -> summary (adds up what the slots did; runs even when a slot failed).
Trigger it from the UI with another folder, pattern or bucket through the Params form.

Backfill dates: each run covers one data interval (hourly; `[filepool] transfer_schedule`). With `select_by`
`partition` (a date folder under the source folder, `{{ ds }}` by default) or `mtime`, a backfill run moves exactly
its interval's files, keys relative to the source folder as always:
`airflow backfill create --dag-id filepool_sftp_to_minio --from-date 2026-01-01 --to-date 2026-01-03
--dag-run-conf '{"select_by": "partition"}'`. Re-running a date moves only what it still lacks; `"resend": true`
sends its files again, on purpose, recorded as such. The summary task says what became of the interval's files.

New files, for downstream DAGs: each transfer task that moved files emits an asset event on the Asset
`filepool_sftp_to_minio_files` (filepool.assets), its extra naming the route and `s3://<bucket>/<key_prefix>` (the
`asset_events` Param: one per task run with its counts, one per file, or none); `filepool_new_files` shows a DAG
scheduled on it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from filepool.assets import SFTP_TO_MINIO_ALIAS, SFTP_TO_MINIO_FILES
from filepool.exceptions import TransferFailed
from filepool.operators import SFTPToMinIOOperator
from filepool.params import CONNECTIONS, TUNING, WHAT, interval_params, transfer_params
from filepool.schedules import transfer_timetable
from filepool.settings import LEDGER_CONN_ID, S3_CONN_ID, SFTP_CONN_ID
from filepool.transfer.task import interval_report, log_interval_report

log = logging.getLogger(__name__)

# What a trigger form may point the tasks at beyond these: [filepool] allowed_connections, allowed_buckets and
# allowed_paths (see filepool/allow.py).
ALLOWED: dict[str, list[str]] = {
    "connections": [SFTP_CONN_ID, S3_CONN_ID, LEDGER_CONN_ID],
    "buckets": ["landing"],
    "paths": ["/data/outgoing"],
}

ROUTE: dict[str, Any] = {
    "sftp_conn_id": "{{ params.sftp_conn_id }}",
    "source_path": "{{ params.source_path }}",
    "pattern": "{{ params.pattern }}",
    "recursive": "{{ params.recursive }}",
    "aws_conn_id": "{{ params.aws_conn_id }}",
    "bucket": "{{ params.bucket }}",
    "key_prefix": "{{ params.key_prefix }}",
    "ledger_conn_id": "{{ params.ledger_conn_id }}",
    "select_by": "{{ params.select_by }}",
    "partition": "{{ params.partition }}",
    "allowed": ALLOWED,
}

with DAG(
    dag_id="filepool_sftp_to_minio",
    description="SFTP -> MinIO, each file version exactly once",
    schedule=transfer_timetable(),  # hourly data intervals ([filepool] transfer_schedule)
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,
    tags=["filepool", "sftp", "s3"],
    doc_md=__doc__,
    params={
        "source_path": Param(
            "/data/outgoing",
            type="string",
            minLength=1,
            pattern="^/",
            title="Source folder",
            description="Absolute folder on the SFTP server",
            section=WHAT,
        ),
        "pattern": Param(
            "*",
            type="string",
            minLength=1,
            title="File name pattern",
            description="Glob on file names, e.g. *.csv",
            section=WHAT,
        ),
        "recursive": Param(
            True,
            type="boolean",
            title="Include sub-folders",
            description="Also take files in sub-folders",
            section=WHAT,
        ),
        "bucket": Param(
            "landing",
            type="string",
            minLength=3,
            maxLength=63,
            title="Bucket",
            description="Destination bucket",
            section=WHAT,
        ),
        "key_prefix": Param(
            "",
            type="string",
            title="Key prefix",
            description="Prefix of every object key, e.g. incoming/",
            section=WHAT,
        ),
        **interval_params(),
        "workers": Param(
            4,
            type="integer",
            minimum=1,
            maximum=64,
            title="Transfer tasks",
            description="Parallel transfer tasks, each with its threads",
            section=TUNING,
        ),
        **transfer_params(),
        "sftp_conn_id": Param(
            SFTP_CONN_ID,
            type="string",
            minLength=1,
            title="SFTP connection",
            description="Airflow sftp connection of the source server",
            section=CONNECTIONS,
        ),
        "aws_conn_id": Param(
            S3_CONN_ID,
            type="string",
            minLength=1,
            title="S3 connection",
            description="Airflow aws connection of the bucket",
            section=CONNECTIONS,
        ),
    },
) as dag:

    @task
    def worker_slots(params: dict[str, Any] | None = None) -> list[int]:
        return list(range(int((params or {})["workers"])))

    @task(trigger_rule="all_done", inlets=[SFTP_TO_MINIO_FILES])  # declared: Airflow knows it before any event
    def summary(ti: Any = None, params: dict[str, Any] | None = None) -> dict[str, Any]:
        pulled = ti.xcom_pull(task_ids="transfer", key="summary") or []
        # One value per mapped transfer task; with a single one, Airflow hands back that value, not a list.
        parts = [s for s in ([pulled] if isinstance(pulled, dict) else pulled) if s]
        for part in parts:
            log.info(
                "Worker %s: %d files transferred, %d failed",
                part.get("worker"),
                part.get("files_transferred", 0),
                part.get("files_failed", 0),
            )
        total = {
            "workers": len(parts),
            "files_transferred": sum(s.get("files_transferred", 0) for s in parts),
            "files_failed": sum(s.get("files_failed", 0) for s in parts),
            "bytes_transferred": sum(s.get("bytes_transferred", 0) for s in parts),
            "ledger": parts[-1].get("ledger", {}) if parts else {},
        }
        found = ti.xcom_pull(task_ids="discover") or {}
        report = interval_report(found.get("discovery", {}), total["files_transferred"], total["files_failed"])
        if report is not None:
            total["interval"] = report
            log_interval_report(report)
        log.info("filepool summary: %s", total)
        expected = int(params["workers"]) if params else len(parts)
        if len(parts) < expected:  # a transfer task died or failed: the run must show it, not turn green
            raise TransferFailed(
                f"{expected - len(parts)} of {expected} transfer tasks did not finish; clear them "
                "to move the rest (files they held go back to the queue)"
            )
        return total

    discover = SFTPToMinIOOperator(
        task_id="discover",
        transfer=False,
        resend="{{ params.resend }}",
        settle_seconds="{{ params.settle_seconds }}",
        min_age_seconds="{{ params.min_age_seconds }}",
        **ROUTE,
    )
    transfer = SFTPToMinIOOperator.partial(
        task_id="transfer",
        discover=False,
        threads="{{ params.threads }}",
        asset_events="{{ params.asset_events }}",
        # each task that moved files emits an event on SFTP_TO_MINIO_FILES through the alias (none when it moved none)
        outlets=[SFTP_TO_MINIO_ALIAS],
        asset=SFTP_TO_MINIO_FILES,
        **ROUTE,
    ).expand(worker_slot=worker_slots())
    discover >> transfer >> summary()
