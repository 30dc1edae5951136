"""# filepool_sftp_to_minio

**New files of SFTP folders into S3/MinIO buckets, each file version moved once.**
Every hour it lists each route's folder, moves what is new and stable, and says in `summary` what moved and what
failed.

## Example

**Trigger** it, set *Source folder* to a folder of the `filepool_sftp` server (`/data/outgoing` unless
`[filepool] sftp_source_path` says another) and keep the rest: its files land in the bucket `landing` under their
path relative to that folder. Run it again and nothing moves twice.

## Good to know

- Several servers in one run: the `routes` Param (keep your list as `ROUTES` in this file).
- Backfills select each interval's files as this file says (`BACKFILL_SELECT_BY`: by mtime, or by date folder);
  `SCHEDULE` sets this DAG's intervals (hourly by default).
- A run with a failed task or file is failed: `summary` names the task, its error code and what to do.
- Tasks: `routes` -> `discover` (per route) -> `transfer` (per route and worker) -> `asset_events`, `summary`.
  Each transfer task's *File transfers* link shows its files.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import DAG, Param, get_current_context, task

from filepool.assets import SFTP_TO_MINIO_ALIAS, SFTP_TO_MINIO_FILES
from filepool.exceptions import FilepoolError
from filepool.operators import SFTPToMinIOOperator
from filepool.operators.task_instance import report_failure
from filepool.params import CONNECTIONS, TUNING, WHAT, interval_params, transfer_params
from filepool.routes import ROUTE_SCHEMA, check_allowed, plan_routes, route_of, routes_named
from filepool.runs import EMITTER_TASK, emit_run_events, planning_failed, summarize
from filepool.schedules import transfer_timetable
from filepool.settings import LEDGER_CONN_ID, S3_CONN_ID, SFTP_CONN_ID, setting

log = logging.getLogger(__name__)

# The routes this deployment moves (see the module's doc); empty: the one route of the Params below.
ROUTES: list[dict[str, Any]] = []

# The folder of that one route: [filepool] sftp_source_path, /data/outgoing unless the deployment says.
SOURCE_PATH = setting("sftp_source_path")

# What a trigger form may point the tasks at beyond these (and beyond the routes above, which this file names):
# [filepool] allowed_connections, allowed_buckets and allowed_paths (see filepool/allow.py).
ALLOWED: dict[str, list[str]] = {
    "connections": [SFTP_CONN_ID, S3_CONN_ID, LEDGER_CONN_ID, *routes_named(ROUTES, "sftp_conn_id", "aws_conn_id")],
    "buckets": ["landing", *routes_named(ROUTES, "bucket")],
    "paths": [SOURCE_PATH, *routes_named(ROUTES, "source_path")],
}

# How a backfill run selects each route's files when the route does not say (`backfill_select_by` and `partition`
# in a route of ROUTES): by modification time within the run's interval. Say "partition" where the files land in a
# folder per date (the folder: PARTITION under the route's source folder).
BACKFILL_SELECT_BY = "mtime"
PARTITION = "{{ ds }}"

RUN: dict[str, Any] = {  # what every task of a run shares; each route's own fields come from `routes`
    "ledger_conn_id": "{{ params.ledger_conn_id }}",
    "allowed": ALLOWED,
}

# This DAG's data intervals, a cron: "0 0 * * *" gives daily runs (a backfill of three days, three runs). None: the
# deployment's [filepool] transfer_schedule, hourly by default.
SCHEDULE: str | None = None

with DAG(
    dag_id="filepool_sftp_to_minio",
    description="SFTP -> MinIO, each file version exactly once",
    schedule=transfer_timetable(SCHEDULE),
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
            SOURCE_PATH,
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
            type=["string", "null"],  # empty (the bucket's root) is a value: the form sends it as null
            title="Key prefix",
            description="Prefix of every object key, e.g. incoming/ (empty: the bucket's root)",
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
    def routes(params: dict[str, Any] | None = None) -> dict[str, list[dict[str, Any]]]:
        """The run's enabled routes and their worker slots; a route the allow-lists refuse fails the run here,
        before any server is listed."""
        params = params or {}
        try:
            planned = plan_routes(params, BACKFILL_SELECT_BY, PARTITION)
            check_allowed(planned["routes"], ALLOWED, str(params.get("ledger_conn_id") or LEDGER_CONN_ID))
        except FilepoolError as exc:
            report_failure(get_current_context(), exc)
            raise
        log.info("%d routes, %d transfer tasks", len(planned["routes"]), len(planned["slots"]))
        for number, route in enumerate(planned["routes"], start=1):
            log.info("Route %d: %s", number, route_of(route).describe())
        return planned

    # Airflow maps over a task's whole value: the routes, then routes x their worker slots, each a task of its own.
    @task
    def each_route(planned: Any) -> list[dict[str, Any]]:
        return planned["routes"]

    @task
    def worker_slots(planned: Any) -> list[dict[str, Any]]:
        return planned["slots"]

    # One task sends the run's asset events (see filepool.runs); it runs whatever the transfer tasks did.
    @task(trigger_rule="all_done", outlets=[SFTP_TO_MINIO_ALIAS], inlets=[SFTP_TO_MINIO_FILES], **EMITTER_TASK)
    def asset_events(params: dict[str, Any] | None = None) -> int:
        mode = str((params or {}).get("asset_events") or "run")
        return emit_run_events(get_current_context(), [SFTP_TO_MINIO_ALIAS], SFTP_TO_MINIO_FILES, "transfer", mode)

    @task(trigger_rule="all_done")
    def summary(ti: Any = None) -> dict[str, Any]:
        """What the run did, per route; fails the run when a task failed or files failed (see filepool.runs)."""
        planned = ti.xcom_pull(task_ids="routes")
        if not planned:
            planning_failed(ti, "routes")
        jobs = {route_of(r).job: route_of(r).describe() for r in planned["routes"]}
        return summarize(ti, {"discover": len(planned["routes"]), "transfer": len(planned["slots"])}, jobs)

    plan = routes()
    discover = SFTPToMinIOOperator.partial(
        task_id="discover",
        transfer=False,
        resend="{{ params.resend }}",
        settle_seconds="{{ params.settle_seconds }}",
        min_age_seconds="{{ params.min_age_seconds }}",
        **RUN,
    ).expand_kwargs(each_route(plan))
    transfer = SFTPToMinIOOperator.partial(
        task_id="transfer",
        discover=False,
        threads="{{ params.threads }}",
        asset_events="{{ params.asset_events }}",  # which events asset_events sends for each task that moved files
        # a route whose discovery failed (its server is down) still gets its transfer tasks, which fail with the
        # server's error themselves; the other routes' move whatever happens to one
        trigger_rule="all_done",
        **RUN,
    ).expand_kwargs(worker_slots(plan))
    discover >> transfer >> [asset_events(), summary()]
