"""filepool_ftp_to_local: every hour, download new stable files from configured FTP folders to local disk;
or, when triggered with `tasks`, move exactly the files those FTP task messages name (FTP <-> local).

sweep (mapped over the configured folders, skipped when `tasks` is given) and messages (the `tasks` Param:
`{"task_id"?, "src_id", "src_path", "dst_id", "dst_path", "metadata"?}` with Airflow `ftp`/`fs` connection
ids); the messages task returns `{"results": [...], "failures": [...]}` as result records.

A sweep task that moved files emits an asset event on the Asset `filepool_ftp_to_local_files` (filepool.assets)
through the alias `filepool_ftp_to_local`, naming its folder's destination `file:///base/dest_path/` (the
`asset_events` Param: one per run, one per file, or none).

Backfill dates: each run covers one data interval (hourly; `[filepool] transfer_schedule`). With `select_by`
`partition` (a date folder under each swept folder) or `mtime`, a backfill run moves exactly its interval's files:
`airflow backfill create --dag-id filepool_ftp_to_local --from-date 2026-01-01 --to-date 2026-01-03
--dag-run-conf '{"select_by": "mtime"}'`; each sweep task's summary says what became of them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow.sdk import DAG, task

from filepool.assets import FTP_TO_LOCAL_ALIAS, FTP_TO_LOCAL_FILES
from filepool.operators import FTPTaskMessagesOperator, FTPToLocalOperator
from filepool.params import interval_params, task_message_params, transfer_params
from filepool.schedules import transfer_timetable
from filepool.settings import FTP_CONN_ID, LEDGER_CONN_ID, LOCAL_CONN_ID

with DAG(
    dag_id="filepool_ftp_to_local",
    description="FTP -> local disk, and FTP task messages, each file version exactly once",
    schedule=transfer_timetable(),  # hourly data intervals ([filepool] transfer_schedule)
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,
    tags=["filepool", "ftp", "local"],
    doc_md=__doc__,
    params={**task_message_params(), **interval_params(), **transfer_params()},
) as dag:

    @task(inlets=[FTP_TO_LOCAL_FILES])  # declared: Airflow knows the Asset before any event
    def folders_to_sweep(params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The configured folders that are enabled, or none when the run was triggered with task messages."""
        params = params or {}
        folders = [] if params.get("tasks") else list(params.get("folders") or [])
        return [{k: v for k, v in f.items() if k != "enabled"} for f in folders if f.get("enabled", True)]

    # Folders and task messages may use the connections below and FTP folders under /outgoing, and what
    # [filepool] allowed_connections and allowed_paths add (see filepool/allow.py).
    allowed = {"connections": [FTP_CONN_ID, LOCAL_CONN_ID, LEDGER_CONN_ID], "paths": ["/outgoing"]}

    FTPToLocalOperator.partial(
        task_id="sweep",
        threads="{{ params.threads }}",
        settle_seconds="{{ params.settle_seconds }}",
        min_age_seconds="{{ params.min_age_seconds }}",
        ledger_conn_id="{{ params.ledger_conn_id }}",
        select_by="{{ params.select_by }}",
        partition="{{ params.partition }}",
        resend="{{ params.resend }}",
        asset_events="{{ params.asset_events }}",
        outlets=[FTP_TO_LOCAL_ALIAS],  # events on FTP_TO_LOCAL_FILES, each naming its folder's file:///base/dest_path/
        asset=FTP_TO_LOCAL_FILES,
        allowed=allowed,
    ).expand_kwargs(folders_to_sweep())

    FTPTaskMessagesOperator(
        task_id="messages",
        tasks="{{ params.tasks }}",
        threads="{{ params.threads }}",
        ledger_conn_id="{{ params.ledger_conn_id }}",
        allowed=allowed,
    )
