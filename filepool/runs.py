"""The end of a transfer DAG's run: its asset events, from one task, and its summary, which decides that a run with a
failed task or failed files is not green and says what to do about each failure.

Asset events come from one task of the run (`emit_run_events`), never from its parallel transfer tasks: tasks that
emit through one AssetAlias for the first time at once race in Airflow's metadata database (a UniqueViolation on
`asset_alias_asset`, seen in Airflow 3.3), which failed tasks that had moved their files and lost their events.
The one emitter runs whatever the transfer tasks did, adds one event per task that moved files (or one per file),
and never fails.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, NoReturn

from filepool.exceptions import TransferFailed
from filepool.operators.outlets import add_events
from filepool.transfer.task import counts_text, interval_report, log_interval_report

# The emitter's task settings. Overlapping runs (a backfill's days, a trigger during the hour's run) each have their
# emitter, and the first events through an alias in a fresh Airflow database race there; one emitter of a DAG at a
# time (max_active_tis_per_dag) makes them take turns. The retries are for the one race left: the first events of
# two DAGs sharing an alias (filepool_sftp_to_minio and its on-arrival DAG); a failed try recorded nothing, and the
# retry finds the alias's row made.
EMITTER_TASK: dict[str, Any] = {"max_active_tis_per_dag": 1, "retries": 2, "retry_delay": timedelta(seconds=5)}

log = logging.getLogger(__name__)

# What to do about a failed task, by its code (the task's log has the whole story).
_FIX_AND_TRIGGER = "fix it (the DAG file's routes, the form, or the connection) and trigger the DAG again"
ADVICE = {
    "INVALID_CONFIG": _FIX_AND_TRIGGER + "; clearing the task fails the same way",
    "SOURCE_NOT_FOUND": "create the folder or correct source_path, then trigger the DAG again",
    "PATH_OUTSIDE_BASE": _FIX_AND_TRIGGER,
    "CONNECTION_ERROR": "once the server answers, clear the failed tasks: their files wait in the queue",
    "AUTH_FAILED": "correct the connection's login, then clear the failed tasks",
    "HOST_KEY_UNKNOWN": "add the server's host key to the connection (check it out of band), then clear the tasks",
    "LEDGER_ERROR": "once the ledger's PostgreSQL answers, clear the failed tasks",
    "TRANSFER_FAILED": (
        "the failed files are retried by later runs after their backoff, or at once with Retry now on the File "
        "transfers page"
    ),
}
_UNFINISHED = (
    "it did not finish (killed, out of memory, or an upstream task failed): clear it; the files it held go back "
    "to the queue"
)


def pulled(ti: Any, task_id: str, key: str) -> list[dict[str, Any]]:
    """The XCom values `key` of a task, mapped or not (Airflow hands back a lone value for a single instance)."""
    values = ti.xcom_pull(task_ids=task_id, key=key)
    return [v for v in ([values] if isinstance(values, dict) else (values or [])) if v]


def emit_run_events(context: Any, outlets: Sequence[Any], asset: Any, task_id: str, mode: str) -> int:
    """Add the asset events of every `task_id` instance of this run that moved files (see
    filepool.operators.outlets) to the AssetAlias among `outlets`; returns how many. Never raises: a run's files
    moved whatever becomes of its events, and the log says what went wrong."""
    try:
        added = 0
        for summary in pulled(context["ti"], task_id, "summary"):
            added += add_events(
                context, outlets, asset, summary.get("location", ""), summary, summary.get("moved_files", []), mode
            )
        log.info("Asset events of this run: %d", added)
        return added
    except Exception as exc:
        log.exception("Asset events of this run not sent: %s", exc)
        return 0


def planning_failed(ti: Any, task_id: str) -> NoReturn:
    """Fail the run's summary (TRANSFER_FAILED) with what the planning task `task_id` said when it failed: its
    code, message and what to do (the run moved nothing)."""
    said = pulled(ti, task_id, "failure")
    why = f"[{said[0]['code']}] {said[0]['message']}" if said else "it left no word (see its log)"
    advice = ADVICE.get(said[0]["code"], _UNFINISHED) if said else _UNFINISHED
    log.error("%s failed: %s; nothing was listed or moved", task_id, why)
    log.error("  what to do: %s", advice)
    raise TransferFailed(f"{task_id} failed: {why}; nothing was listed or moved - what to do: {advice}")


def summarize(ti: Any, planned: dict[str, int], jobs: dict[str, str]) -> dict[str, Any]:
    """Add up what the run's transfer tasks did, per route, log it as lines a user reads, and fail the run
    (TRANSFER_FAILED) when a task failed or left no word, or files failed: naming each task, its code and what to do.
    `planned`: {task_id: instances} of the mapped tasks whose word counts (e.g. {"discover": 2, "transfer": 8}),
    the last one the transfer tasks; `jobs`: the routes planned, {ledger job: how a log line names it}."""
    *_, transfer_id = planned
    reports = {task_id: pulled(ti, task_id, "summary") for task_id in planned}
    failures = [f for task_id in planned for f in pulled(ti, task_id, "failure")]
    # what each route's listing selected: a discover task's word, or a sweep's own (it lists and transfers)
    found = {d.get("job"): d["discovery"] for task_id in planned for d in reports[task_id] if "discovery" in d}
    routes: dict[str, dict[str, Any]] = {}
    for part in reports[transfer_id]:
        log.info(
            "%s (worker %s): %d files transferred, %d failed",
            part.get("task"),
            part.get("worker"),
            part.get("files_transferred", 0),
            part.get("files_failed", 0),
        )
        route = routes.setdefault(
            part["job"], {"workers": 0, "files_transferred": 0, "files_failed": 0, "bytes_transferred": 0, "errors": {}}
        )
        route["workers"] += 1
        for key in ("files_transferred", "files_failed", "bytes_transferred"):
            route[key] += part.get(key, 0)
        route["ledger"] = part.get("ledger", {})
        for code, n in (part.get("errors") or {}).items():
            route["errors"][code] = route["errors"].get(code, 0) + n
    for number, (job, route) in enumerate(routes.items(), start=1):
        _log_route(number, jobs.get(job, job), route)
        report = interval_report(found.get(job, {}), route["files_transferred"], route["files_failed"])
        if report is not None:
            route["interval"] = report
            log_interval_report(report)
    total = {
        "workers": len(reports[transfer_id]),
        "files_transferred": sum(r["files_transferred"] for r in routes.values()),
        "files_failed": sum(r["files_failed"] for r in routes.values()),
        "bytes_transferred": sum(r["bytes_transferred"] for r in routes.values()),
        "routes": routes,
    }
    if len(routes) == 1:  # one route: its ledger counts and interval report at the top, as they always were
        total |= {k: v for k, v in next(iter(routes.values())).items() if k in ("ledger", "interval")}
    log.info(
        "This run: %d files moved (%.1f MB), %d failed, on %d of %d routes",
        total["files_transferred"],
        total["bytes_transferred"] / 1e6,
        total["files_failed"],
        len(routes),
        len(jobs),
    )
    heard = {r["task"] for parts in reports.values() for r in parts} | {f["task"] for f in failures}
    problems = [  # (what happened, what to do): two lines, each short enough to read in the log view
        (f"{f['task']} failed: [{f['code']}] {f['message']}", ADVICE.get(f["code"], _UNFINISHED)) for f in failures
    ]
    problems += [
        (f"{label} left no word", _UNFINISHED)
        for task_id, count in planned.items()
        for label in (f"{task_id}[{i}]" for i in range(count))
        if label not in heard
    ]
    if problems:
        for what, advice in problems:
            log.error("%s", what)
            log.error("  what to do: %s", advice)
        raise TransferFailed(
            f"{len(problems)} task(s) of this run failed: the lines above say which, why and what to do"
        )
    return total


def _log_route(number: int, name: str, route: dict[str, Any]) -> None:
    log.info(
        "Route %d, %s: %d files moved (%.1f MB) by %d tasks, %d failed%s; its files in the ledger now: %s",
        number,
        name,
        route["files_transferred"],
        route["bytes_transferred"] / 1e6,
        route["workers"],
        route["files_failed"],
        " (" + ", ".join(f"{c}: {n}" for c, n in sorted(route["errors"].items())) + ")" if route["errors"] else "",
        counts_text(route.get("ledger", {})),
    )
