"""# filepool_maintenance

**Housekeeping of the ledger and what transfers leave behind, every 15 minutes.**
Expired leases back to the queue, orphaned temporary files and filepool's stale multipart uploads removed, old
rows pruned, and the outbox sent.

## Example

**Trigger** it with *buckets* `["landing"]`: its `report` task lists what each step did.

## Good to know

- Only what filepool made is touched: uploads it started, temporary files no live claim writes.
- The age limits are at least 1 hour (and one lease): younger work may still be running.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from filepool.operators.maintenance import (
    AbortStaleUploadsOperator,
    PruneLedgerOperator,
    PublishOutboxOperator,
    RemoveTempFilesOperator,
    RequeueExpiredLeasesOperator,
)
from filepool.params import ledger_param
from filepool.settings import LOCAL_CONN_ID, S3_CONN_ID

STEPS = ("requeue_expired_leases", "remove_temp_files", "abort_stale_uploads", "prune_ledger", "publish_outbox")

with DAG(
    dag_id="filepool_maintenance",
    description="Housekeeping: stale leases, what transfers left behind, retention, the outbox",
    schedule="*/15 * * * *",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,
    tags=["filepool", "maintenance"],
    doc_md=__doc__,
    params={
        **ledger_param(),
        "local_conn_ids": Param([LOCAL_CONN_ID], type="array", description="fs connections to sweep"),
        "ftp_folders": Param([], type="array", description='[{"ftp_conn_id": ..., "path": ...}] to sweep'),
        "aws_conn_id": Param(S3_CONN_ID, type="string", description="Airflow aws connection"),
        "buckets": Param([], type="array", description="Buckets whose stale multipart uploads are aborted"),
        "temp_older_than_hours": Param(
            6,
            type="number",
            minimum=1,
            description="Temporary files older than this are orphans (at least 1 hour and one lease: a younger "
            "one may be a transfer still running)",
        ),
        "upload_older_than_hours": Param(
            24,
            type="number",
            minimum=1,
            description="Multipart uploads filepool started older than this are stale (at least 1 hour and one "
            "lease; other applications' uploads are never touched)",
        ),
        "retention_days": Param(
            90,
            type="number",
            minimum=0,
            description="COMPLETED rows kept this long (0 prunes every finished row; what was moved is never "
            "moved again)",
        ),
    },
) as dag:
    steps = [
        RequeueExpiredLeasesOperator(task_id=STEPS[0], ledger_conn_id="{{ params.ledger_conn_id }}"),
        RemoveTempFilesOperator(
            task_id=STEPS[1],
            local_conn_ids="{{ params.local_conn_ids }}",
            ftp_folders="{{ params.ftp_folders }}",
            older_than_hours="{{ params.temp_older_than_hours }}",
            ledger_conn_id="{{ params.ledger_conn_id }}",
        ),
        AbortStaleUploadsOperator(
            task_id=STEPS[2],
            aws_conn_id="{{ params.aws_conn_id }}",
            buckets="{{ params.buckets }}",
            older_than_hours="{{ params.upload_older_than_hours }}",
            ledger_conn_id="{{ params.ledger_conn_id }}",
        ),
        PruneLedgerOperator(
            task_id=STEPS[3], ledger_conn_id="{{ params.ledger_conn_id }}", retention_days="{{ params.retention_days }}"
        ),
        PublishOutboxOperator(task_id=STEPS[4], ledger_conn_id="{{ params.ledger_conn_id }}"),
    ]

    @task(trigger_rule="all_done")
    def report(ti: Any = None) -> dict[str, Any]:
        done = {step: ti.xcom_pull(task_ids=step) for step in STEPS}
        print(f"filepool maintenance: {done}")
        return done

    steps >> report()
