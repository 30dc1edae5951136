"""Many SFTP sources in one DAG run: the `routes` Param of filepool_sftp_to_minio, planned into its mapped tasks.

A route is one JSON object: `name`, `sftp_conn_id`, `source_path`, `pattern`, `recursive`, `aws_conn_id`, `bucket`,
`key_prefix`, `workers` (transfer tasks for it) and `enabled`; every key but `source_path` may be left out and is
then the run's Param of the same name. How a backfill selects the route's files is a fact of its data's layout,
said in the DAG file: `backfill_select_by` (`mtime` by default, or `partition`) and `partition` (the folder
template, `{{ ds }}` by default); a run's `select_by` and `partition` Params override them. An empty list means the
one route the single-route Params give (the trigger form's fields). Disabled routes are left out. The run maps its
discover task over the routes and its transfer task over routes x worker slots: a server that is down fails its
route's tasks with its error code while the others move.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from filepool.allow import Allowed
from filepool.exceptions import InvalidConfig
from filepool.transfer.route import Route, sftp_to_s3

ROUTE_FIELDS = ("sftp_conn_id", "source_path", "pattern", "recursive", "aws_conn_id", "bucket", "key_prefix")
MAX_TASKS = 256  # transfer tasks of one run, over all routes: well below Airflow's max_map_length (1,024)

# The JSON schema of one route, for the trigger form.
ROUTE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "sftp_conn_id": {"type": "string", "minLength": 1, "pattern": r"^[A-Za-z0-9_.-]+$"},
        "source_path": {"type": "string", "minLength": 1, "pattern": "^/"},
        "pattern": {"type": "string", "minLength": 1},
        "recursive": {"type": "boolean"},
        "aws_conn_id": {"type": "string", "minLength": 1, "pattern": r"^[A-Za-z0-9_.-]+$"},
        "bucket": {"type": "string", "minLength": 3, "maxLength": 63},
        "key_prefix": {"type": ["string", "null"]},
        "workers": {"type": "integer", "minimum": 1, "maximum": 64},
        "enabled": {"type": "boolean"},
        "backfill_select_by": {"type": "string", "enum": ["mtime", "partition"]},
        "partition": {"type": "string", "minLength": 1},
    },
    "required": ["source_path"],
    "additionalProperties": False,
}


def plan_routes(
    params: Mapping[str, Any], backfill_select_by: str = "mtime", partition: str = "{{ ds }}"
) -> dict[str, list[dict[str, Any]]]:
    """{"routes": the keyword arguments of each enabled route's discover task, "slots": those of its transfer tasks
    (the route's, and `worker_slot`)}, from the run's Params; `backfill_select_by` and `partition`: the DAG file's
    defaults for routes that do not say."""
    given = params.get("routes") or [{}]
    if not isinstance(given, list) or not all(isinstance(r, Mapping) for r in given):
        raise InvalidConfig("routes must be a list of JSON objects, one per route")
    routes: list[dict[str, Any]] = []
    slots: list[dict[str, Any]] = []
    names: set[str] = set()
    for n, raw in enumerate(given):
        unknown = set(raw) - set(ROUTE_SCHEMA["properties"])
        if unknown:
            raise InvalidConfig(f"route {n + 1} has unknown keys {sorted(unknown)}; a route takes {ROUTE_FIELDS}")
        if not raw.get("enabled", True):
            continue
        route = {field: raw.get(field, params.get(field)) for field in ROUTE_FIELDS}
        route["key_prefix"] = route["key_prefix"] or ""  # a form's empty field arrives as null: the bucket's root
        route |= selection(params, raw, backfill_select_by, partition)
        name = str(raw.get("name") or f"{route['sftp_conn_id']}:{route['source_path']}")
        if name in names:
            raise InvalidConfig(f"two routes are named {name!r}: give each route its own name")
        names.add(name)
        routes.append(route)
        workers = int(raw.get("workers", params.get("workers", 1)))
        slots += [{**route, "worker_slot": slot} for slot in range(workers)]
    if len(slots) > MAX_TASKS:
        raise InvalidConfig(f"the routes ask for {len(slots)} transfer tasks; at most {MAX_TASKS} a run")
    return {"routes": routes, "slots": slots}


def selection(
    params: Mapping[str, Any], item: Mapping[str, Any], backfill_select_by: str, partition: str
) -> dict[str, Any]:
    """How a route (or swept folder) `item` selects a run's files: the run's `select_by` (`auto` unless the form or
    conf says otherwise), the item's own `backfill_select_by` and `partition` (else the DAG file's), the run's
    `partition` Param overriding."""
    return {
        "select_by": params.get("select_by") or "auto",
        "backfill_select_by": item.get("backfill_select_by") or backfill_select_by,
        "partition": params.get("partition") or item.get("partition") or partition,
    }


def routes_named(routes: list[dict[str, Any]], *fields: str) -> list[str]:
    """The values the DAG file's own routes give `fields` (what the file names literally is allowed)."""
    return [str(route[field]) for route in routes for field in fields if route.get(field)]


def check_allowed(routes: list[dict[str, Any]], allowed: Mapping[str, list[str]], ledger_conn_id: str) -> None:
    """Refuse (INVALID_CONFIG, as the transfer tasks would) a route whose connections, bucket or folder neither the
    DAG file (`allowed`) nor `[filepool]` allows: the run's first task fails, before any server is listed."""
    permitted = Allowed.of(allowed)
    permitted.connection(ledger_conn_id, "ledger_conn_id")
    for route in routes:
        permitted.connection(str(route["sftp_conn_id"]), "sftp_conn_id")
        permitted.connection(str(route["aws_conn_id"]), "aws_conn_id")
        permitted.bucket(str(route["bucket"]))
        permitted.path(str(route["source_path"]), "source_path")


def check_folders_allowed(folders: list[dict[str, Any]], allowed: Mapping[str, list[str]], ledger_conn_id: str) -> None:
    """As `check_allowed`, for the folders of the FTP -> local sweep."""
    permitted = Allowed.of(allowed)
    permitted.connection(ledger_conn_id, "ledger_conn_id")
    for folder in folders:
        permitted.connection(str(folder["ftp_conn_id"]), "ftp_conn_id")
        permitted.connection(str(folder["local_conn_id"]), "local_conn_id")
        permitted.path(str(folder["source_path"]), "source_path")


def route_of(planned: Mapping[str, Any]) -> Route:
    """The Route of one planned route (an item of `plan_routes(...)["routes"]`)."""
    return sftp_to_s3(
        str(planned["sftp_conn_id"]),
        str(planned["source_path"]),
        str(planned["aws_conn_id"]),
        str(planned["bucket"]),
        str(planned["key_prefix"] or ""),
    )
