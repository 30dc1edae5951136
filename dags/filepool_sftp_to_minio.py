"""filepool_sftp_to_minio: every hour, move new stable files from SFTP folders to MinIO/S3 buckets.

routes (the run's) -> discover (mapped over the routes: lists each source and registers its new stable files
in the ledger) -> transfer (mapped over routes x worker slots, never over files: each slot drains its route's
shared ledger queue) -> summary (adds up what the slots did, per route; runs even when a slot failed).

Routes: the `routes` Param, a list of JSON objects (`name`, `sftp_conn_id`, `source_path`, `pattern`, `recursive`,
`aws_conn_id`, `bucket`, `key_prefix`, `workers`, `enabled`; any key but `source_path` left out takes the Param of
the same name). Keep your routes as that Param's default in this file: reviewed and versioned with the DAG, shown
and editable in the trigger form for one run. An empty list (the default here) is the one route of the form's
fields. A server that is down or refuses us fails its own route's tasks with its error code; the others move.

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
from filepool.routes import ROUTE_SCHEMA, plan_routes, routes_named
from filepool.schedules import transfer_timetable
from filepool.settings import LEDGER_CONN_ID, S3_CONN_ID, SFTP_CONN_ID
from filepool.transfer.route import sftp_to_s3
from filepool.transfer.task import interval_report, log_interval_report

log = logging.getLogger(__name__)

# The routes this deployment moves (see the module's doc); empty: the one route of the Params below.
ROUTES: list[dict[str, Any]] = []

# What a trigger form may point the tasks at beyond these (and beyond the routes above, which this file names):
# [filepool] allowed_connections, allowed_buckets and allowed_paths (see filepool/allow.py).
ALLOWED: dict[str, list[str]] = {
    "connections": [SFTP_CONN_ID, S3_CONN_ID, LEDGER_CONN_ID, *routes_named(ROUTES, "sftp_conn_id", "aws_conn_id")],
    "buckets": ["landing", *routes_named(ROUTES, "bucket")],
    "paths": ["/data/outgoing", *routes_named(ROUTES, "source_path")],
}

RUN: dict[str, Any] = {  # what every task of a run shares; each route's own fields come from `routes`
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
        "routes": Param(
            ROUTES,
            type="array",
            items=ROUTE_SCHEMA,
            title="Routes",
            description_md=(
                "One JSON object per route: `source_path` (absolute), and as needed `name`, `sftp_conn_id`, "
                "`pattern`, `recursive`, `aws_conn_id`, `bucket`, `key_prefix`, `workers`, `enabled` (a key left "
                "out takes the field of the same name below). Empty: the one route of the fields below."
            ),
            section=WHAT,
        ),
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
    def routes(params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The run's enabled routes (a task of their own: Airflow maps over a task's whole value only)."""
        planned = plan_routes(params or {})
        log.info("%d routes, %d transfer tasks: %s", len(planned["routes"]), len(planned["slots"]), planned["routes"])
        return planned["routes"]

    @task
    def worker_slots(params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Routes x their worker slots."""
        return plan_routes(params or {})["slots"]

    @task(trigger_rule="all_done", inlets=[SFTP_TO_MINIO_FILES])  # declared: Airflow knows it before any event
    def summary(ti: Any = None) -> dict[str, Any]:
        planned = ti.xcom_pull(task_ids="worker_slots") or []
        parts = _values(ti.xcom_pull(task_ids="transfer", key="summary"))
        found = {d.get("job"): d.get("discovery", {}) for d in _values(ti.xcom_pull(task_ids="discover"))}
        routes: dict[str, dict[str, Any]] = {}
        for part in parts:
            log.info(
                "Worker %s on %s: %d files transferred, %d failed",
                part.get("worker"),
                part.get("job"),
                part.get("files_transferred", 0),
                part.get("files_failed", 0),
            )
            route = routes.setdefault(part["job"], {"workers": 0, "files_transferred": 0, "files_failed": 0})
            route["workers"] += 1
            route["files_transferred"] += part.get("files_transferred", 0)
            route["files_failed"] += part.get("files_failed", 0)
            route["ledger"] = part.get("ledger", {})
        for job, route in routes.items():
            report = interval_report(found.get(job, {}), route["files_transferred"], route["files_failed"])
            if report is not None:
                route["interval"] = report
                log_interval_report(report)
        total = {
            "workers": len(parts),
            "files_transferred": sum(s.get("files_transferred", 0) for s in parts),
            "files_failed": sum(s.get("files_failed", 0) for s in parts),
            "bytes_transferred": sum(s.get("bytes_transferred", 0) for s in parts),
            "routes": routes,
        }
        if len(routes) == 1:  # one route: its ledger counts and interval report at the top, as they always were
            total |= {k: v for k, v in next(iter(routes.values())).items() if k in ("ledger", "interval")}
        log.info("filepool summary: %s", total)
        # A route whose server is down fails its discovery (its transfer tasks find its queue empty and end), and a
        # transfer task may die or fail: the run must show either, not turn green.
        jobs = [sftp_to_s3(r["sftp_conn_id"], r["source_path"], r["aws_conn_id"], r["bucket"], r["key_prefix"]).job
                for r in ti.xcom_pull(task_ids="routes") or []]  # fmt: skip
        undiscovered = [job for job in jobs if job not in found]
        problems = []
        if undiscovered:
            problems.append(f"discovery failed on {len(undiscovered)} of {len(jobs)} routes: {', '.join(undiscovered)}")
        if len(parts) < len(planned):
            problems.append(f"{len(planned) - len(parts)} of {len(planned)} transfer tasks did not finish")
        if problems:
            raise TransferFailed(
                "; ".join(problems) + " (their task logs say why, with the error code); the other routes moved. "
                "Clear the failed tasks to run them again (files a failed task held go back to the queue)"
            )
        return total

    discover = SFTPToMinIOOperator.partial(
        task_id="discover",
        transfer=False,
        resend="{{ params.resend }}",
        settle_seconds="{{ params.settle_seconds }}",
        min_age_seconds="{{ params.min_age_seconds }}",
        **RUN,
    ).expand_kwargs(routes())
    transfer = SFTPToMinIOOperator.partial(
        task_id="transfer",
        discover=False,
        threads="{{ params.threads }}",
        asset_events="{{ params.asset_events }}",
        # each task that moved files emits an event on SFTP_TO_MINIO_FILES through the alias (none when it moved none)
        outlets=[SFTP_TO_MINIO_ALIAS],
        asset=SFTP_TO_MINIO_FILES,
        # a route whose discovery failed (its server is down) still gets its transfer tasks, which fail with the
        # server's error themselves; the other routes' move whatever happens to one
        trigger_rule="all_done",
        **RUN,
    ).expand_kwargs(worker_slots())
    discover >> transfer >> summary()


def _values(pulled: Any) -> list[dict[str, Any]]:
    """The XCom values of a mapped task: with a single one, Airflow hands back that value, not a list."""
    return [v for v in ([pulled] if isinstance(pulled, dict) else (pulled or [])) if v]
