"""# filepool_ftp_to_local

**New files of FTP folders onto a local disk, or exactly the files of FTP task messages; each version once.**
Every hour it sweeps the folders of its `folders` Param; triggered with task messages, it moves those instead.

## Example

**Trigger** it with one message in *FTP task messages*:
`{"task_id": "t1", "src_id": "filepool_ftp", "src_path": "/outgoing/a.csv", "dst_id": "filepool_local",
"dst_path": "incoming/a.csv"}`. The `messages` task's XCom holds one result record per message; a message that
cannot run fails alone, with its code.

## Good to know

- The hourly sweep: one `sweep` task per entry of `folders` (`enabled: false` leaves one out).
- Backfills select each interval's files as the folder says (`backfill_select_by`, by mtime by default).
- A run with a failed sweep or file is failed: `summary` names the task, its error code and what to do.
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
from filepool.runs import EMITTER_TASK, emit_run_events, planning_failed, summarize
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
    @task(trigger_rule="all_done", outlets=[FTP_TO_LOCAL_ALIAS], inlets=[FTP_TO_LOCAL_FILES], **EMITTER_TASK)
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
