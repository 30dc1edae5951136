"""What a filepool operator takes from its Airflow task instance and gives back: the worker's name, and at the end
the summary in XCom and the task's failure when files failed."""

from __future__ import annotations

from typing import Any

from filepool.exceptions import TransferFailed
from filepool.ledger import TaskRef
from filepool.transfer import process


def worker_name(context: Any, slot: int | None = None) -> str:
    """Unique per task try: host, pid, "dag.task" (with its worker slot) and a random suffix."""
    ti = context.get("ti") if context else None
    task = f"{ti.dag_id}.{ti.task_id}" if ti is not None else "standalone"
    return process.worker_name(task if slot is None else f"{task}[{slot}]")


def task_ref(context: Any) -> TaskRef | None:
    """The task try this operator runs in, for the ledger (None outside Airflow)."""
    ti = context.get("ti") if context else None
    if ti is None or not getattr(ti, "run_id", None):
        return None
    map_index = getattr(ti, "map_index", -1)
    return TaskRef(ti.dag_id, ti.run_id, ti.task_id, -1 if map_index is None else int(map_index), int(ti.try_number))


def finish(context: Any, summary: dict[str, Any], failure: str | None) -> dict[str, Any]:
    """Push `summary` to XCom as `summary` (the return value goes to `return_value` as usual); then, when
    `failure` says what failed, fail the task with TRANSFER_FAILED (the files that moved stay moved)."""
    ti = context.get("ti") if context else None
    if ti is not None:
        ti.xcom_push(key="summary", value=summary)
    if failure:
        raise TransferFailed(failure)
    return summary
