"""What a filepool operator takes from its Airflow task instance and gives back: the worker's name, and at the end
the summary in XCom and the task's failure when files failed."""

from __future__ import annotations

import contextlib
from typing import Any

from filepool.exceptions import FilepoolError, TransferFailed
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


def task_label(context: Any) -> str:
    """`task_id` or `task_id[map_index]`, as the Airflow UI names a task instance."""
    ti = context.get("ti") if context else None
    if ti is None:
        return "standalone"
    index = getattr(ti, "map_index", -1)
    return f"{ti.task_id}[{index}]" if isinstance(index, int) and index >= 0 else str(ti.task_id)


def finish(context: Any, summary: dict[str, Any], failure: str | None) -> dict[str, Any]:
    """Push `summary` to XCom as `summary` (the return value goes to `return_value` as usual); then, when
    `failure` says what failed, fail the task with TRANSFER_FAILED (the files that moved stay moved)."""
    ti = context.get("ti") if context else None
    if ti is not None:
        ti.xcom_push(key="summary", value={**summary, "task": task_label(context)})
    if failure:
        raise TransferFailed(failure)
    return summary


def report_failure(context: Any, exc: FilepoolError) -> None:
    """Say in XCom (`failure`) why this task fails, with its code: the run's summary task names it and says what
    to do. Never raises (the task fails with `exc` either way)."""
    ti = context.get("ti") if context else None
    if ti is None:
        return
    with contextlib.suppress(Exception):  # the task's own failure is what matters
        ti.xcom_push(key="failure", value={"task": task_label(context), "code": exc.code, "message": exc.message})
