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

from airflow.sdk import DAG, get_current_context, task

from filepool.assets import FTP_TO_LOCAL_ALIAS, FTP_TO_LOCAL_FILES
from filepool.exceptions import FilepoolError
from filepool.operators import FTPTaskMessagesOperator, FTPToLocalOperator
from filepool.operators.task_instance import report_failure
from filepool.params import interval_params, task_message_params, transfer_params
from filepool.routes import check_folders_allowed, selection
from filepool.runs import emit_run_events, planning_failed, summarize
from filepool.schedules import transfer_timetable
from filepool.settings import FTP_CONN_ID, LEDGER_CONN_ID, LOCAL_CONN_ID
from filepool.transfer.route import ftp_to_local

# This DAG's data intervals, a cron: "0 0 * * *" gives daily runs (a backfill of three days, three runs). None: the
# deployment's [filepool] transfer_schedule, hourly by default.
SCHEDULE: str | None = None

with DAG(
    dag_id="filepool_ftp_to_local",
    description="FTP -> local disk, and FTP task messages, each file version exactly once",
    schedule=transfer_timetable(SCHEDULE),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,
    tags=["filepool", "ftp", "local"],
    doc_md=__doc__,
    params={**task_message_params(), **interval_params(), **transfer_params()},
) as dag:
    # How a backfill run selects a folder's files when the folder does not say (`backfill_select_by` and
    # `partition` in its entry of the `folders` Param): by modification time within the run's interval.
    BACKFILL_SELECT_BY, PARTITION = "mtime", "{{ ds }}"

    # Folders and task messages may use the connections below and FTP folders under /outgoing, and what
    # [filepool] allowed_connections and allowed_paths add (see filepool/allow.py).
    allowed = {"connections": [FTP_CONN_ID, LOCAL_CONN_ID, LEDGER_CONN_ID], "paths": ["/outgoing"]}

    @task
    def folders_to_sweep(params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The configured folders that are enabled, or none when the run was triggered with task messages; a
        folder the allow-lists refuse fails the run here, before any server is listed."""
        params = params or {}
        folders = [] if params.get("tasks") else list(params.get("folders") or [])
        enabled = [
            {**{k: v for k, v in f.items() if k != "enabled"}, **selection(params, f, BACKFILL_SELECT_BY, PARTITION)}
            for f in folders
            if f.get("enabled", True)
        ]
        try:
            check_folders_allowed(enabled, allowed, str(params.get("ledger_conn_id") or LEDGER_CONN_ID))
        except FilepoolError as exc:
            report_failure(get_current_context(), exc)
            raise
        return enabled

    sweep = FTPToLocalOperator.partial(
        task_id="sweep",
        threads="{{ params.threads }}",
        settle_seconds="{{ params.settle_seconds }}",
        min_age_seconds="{{ params.min_age_seconds }}",
        ledger_conn_id="{{ params.ledger_conn_id }}",
        resend="{{ params.resend }}",
        asset_events="{{ params.asset_events }}",  # which events asset_events sends for each sweep that moved files
        allowed=allowed,
    ).expand_kwargs(folders_to_sweep())

    # One task sends the run's asset events (events of each folder's file:///base/dest_path/, on FTP_TO_LOCAL_FILES;
    # see filepool.runs); it runs whatever the sweeps did.
    @task(trigger_rule="all_done", outlets=[FTP_TO_LOCAL_ALIAS], inlets=[FTP_TO_LOCAL_FILES])
    def asset_events(params: dict[str, Any] | None = None) -> int:
        mode = str((params or {}).get("asset_events") or "run")
        return emit_run_events(get_current_context(), [FTP_TO_LOCAL_ALIAS], FTP_TO_LOCAL_FILES, "sweep", mode)

    @task(trigger_rule="all_done")
    def summary(ti: Any = None) -> dict[str, Any]:
        """What the sweeps did, per folder; fails the run when a sweep failed or files failed (see filepool.runs)."""
        folders = ti.xcom_pull(task_ids="folders_to_sweep")
        if folders is None:
            planning_failed(ti, "folders_to_sweep")
        routes = [
            ftp_to_local(f["ftp_conn_id"], f["source_path"], f["local_conn_id"], f.get("dest_path", ""))
            for f in folders
        ]
        jobs = {route.job: route.describe() for route in routes}
        return summarize(ti, {"sweep": len(folders)}, jobs)

    sweep >> [asset_events(), summary()]

    FTPTaskMessagesOperator(
        task_id="messages",
        tasks="{{ params.tasks }}",
        threads="{{ params.threads }}",
        ledger_conn_id="{{ params.ledger_conn_id }}",
        allowed=allowed,
    )
