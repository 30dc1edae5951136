"""FTPTaskMessagesOperator: run a batch of FTP task messages (FTP <-> local), one result per message."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, field, replace
from typing import Any

from airflow.sdk import BaseOperator

from filepool.airflow_connections import reads_once
from filepool.allow import Guarded
from filepool.endpoints.factory import open_pair
from filepool.exceptions import FilepoolError, error_code
from filepool.ledger import Ledger
from filepool.operators.arguments import positive_int
from filepool.operators.task_instance import finish, task_ref, worker_name
from filepool.settings import LEDGER_CONN_ID, Settings
from filepool.transfer.completion import AfterTransfer
from filepool.transfer.login_slots import login_gate
from filepool.transfer.message_pairs import (
    Pair,
    checked_pair,
    file_versions,
    job_of,
    reject_row,
    rejected_job,
    results,
)
from filepool.transfer.messages import TaskMessage, result
from filepool.transfer.startup import open_ledger
from filepool.transfer.task import move_queued

XCOM_RESULTS = 1000  # results and failures each, in the task's XCom


class FTPTaskMessagesOperator(Guarded, BaseOperator):
    """
    Move the files named by FTP task messages, each exactly once, and report one result per message.

    A message that is invalid (a missing field, an unknown connection, both sides local or both remote, a path
    outside the local base path) or whose source is missing gets a failure result at once and a FAILED ledger
    row; the others are registered in the ledger by file version and moved by the usual worker.

    :param tasks: the messages: ``task_id`` (optional), ``src_id``, ``src_path``, ``dst_id``, ``dst_path``,
        ``metadata``; ``src_id``/``dst_id`` are Airflow ``ftp`` or ``fs`` connection ids.
    :param ledger_conn_id: Airflow ``postgres`` connection of the ledger database.
    :param threads: parallel transfers per source/destination pair.
    :param fail_on_file_errors: fail the task when any message failed (its XCom ``summary`` still has them all).
    :param after_transfer: ``keep`` (default), ``delete`` or ``move`` each source file once every message that
        reads it is verified and recorded; set in the DAG file only (not a template field).
    :param archive_path: absolute folder on the source's server for ``move``; a file keeps its whole path in it.
    :param allowed: the connections (globs) and FTP folders messages may name, beyond ``[filepool]
        allowed_connections`` and ``allowed_paths``: ``{"connections": [...], "paths": [...]}``. A message
        outside them fails alone with INVALID_CONFIG. Not a template field.
    :return: ``{"results": [successes], "failures": [failures]}`` as result records (see filepool.transfer.messages).
    """

    template_fields: Sequence[str] = ("tasks", "ledger_conn_id", "threads")
    ALLOWED_FIELDS = {"connections": ("ledger_conn_id",)}

    def __init__(
        self,
        *,
        tasks: Any,
        ledger_conn_id: str = LEDGER_CONN_ID,
        threads: int | str = 8,
        fail_on_file_errors: bool = True,
        after_transfer: str = "keep",
        archive_path: str | None = None,
        allowed: dict[str, list[str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.after = AfterTransfer.parse(after_transfer, archive_path, None)
        self.allowed = allowed
        self.tasks = tasks
        self.ledger_conn_id = ledger_conn_id
        self.threads = threads
        self.fail_on_file_errors = fail_on_file_errors

    @reads_once
    def execute(self, context: Any) -> dict[str, Any]:
        allowed = self.check_allowed(context)
        threads = positive_int("threads", self.threads)
        out = _Outcomes(list(self.tasks or []))
        settings = Settings.load()
        worker = worker_name(context)
        ledger = open_ledger(Ledger.opener(self.ledger_conn_id, worker), settings, task_ref(context))
        try:
            groups: dict[Pair, list[tuple[int, TaskMessage]]] = defaultdict(list)
            for index, raw in enumerate(out.raws):
                try:
                    message = TaskMessage.parse(raw)
                    groups[checked_pair(message, allowed)].append((index, message))
                except FilepoolError as exc:
                    out.refuse(index, exc)
            sessions = threading.BoundedSemaphore(settings.max_sessions_total)  # one budget for the whole task
            for pair, members in groups.items():
                self._run_group(ledger, worker, pair, members, out, threads, settings, sessions)
            ledger.reject(out.rejects)
            ledger.retire_worker()
        finally:
            ledger.close()
        return self._finish(out, context)

    def _run_group(
        self,
        ledger: Ledger,
        worker: str,
        pair: Pair,
        members: list[tuple[int, TaskMessage]],
        out: _Outcomes,
        threads: int,
        settings: Settings,
        sessions: threading.BoundedSemaphore,
    ) -> None:
        """Move the messages of one source/destination pair: check, register each file version, drain, report."""
        job = job_of(pair)
        connect = Ledger.opener(self.ledger_conn_id, worker)
        per_connection = min(threads, settings.max_sessions_per_connection)
        try:
            source, destination = open_pair(pair, per_connection, sessions, login_gate(connect, settings.lease_seconds))
        except FilepoolError as exc:
            for index, _message in members:
                out.refuse(index, exc, job)
            return
        with closing(source), closing(destination):
            versions = file_versions(source, destination, members, ledger, job)
            for index, why in versions.refused.items():
                out.refuse(index, why, job)
            messages = dict(members)
            moving = {index: (messages[index], version) for index, version in versions.found.items()}
            ledger.register(
                job,
                [
                    replace(version, metadata={"task_id": message.task_id, "metadata": message.metadata})
                    for message, version in moving.values()
                ],
            )
            move_queued(connect, job, source, destination, threads, settings, after_transfer=self.after)
            for index, record in results(ledger, job, moving, out.raws).items():
                out.results[index] = record

    def _finish(self, out: _Outcomes, context: Any) -> dict[str, Any]:
        """Log the failures, push the summary to XCom, fail the task if any message failed.

        The XCom stays small however many messages came (it lives in Airflow's metadata database): counts, and
        the first XCOM_RESULTS results and failures; every message's row is in the ledger
        (`metadata->>'task_id'`), and every failure in the task log."""
        done = [o for o in out.results if o is not None]
        results = [o for o in done if o["status"] == "success"]
        failures = [o for o in done if o["status"] != "success"]
        summary = {
            "succeeded": len(results),
            "failed": len(failures),
            "results": results[:XCOM_RESULTS],
            "failures": failures[:XCOM_RESULTS],
            "truncated": len(results) > XCOM_RESULTS or len(failures) > XCOM_RESULTS,
        }
        if summary["truncated"]:
            summary["the_rest"] = (
                f"the first {XCOM_RESULTS} of each are here; every message's result is in the ledger: "
                "SELECT metadata->>'task_id', status, error_code, error_message FROM filepool_files "
                "WHERE metadata ? 'task_id' ORDER BY updated_at DESC"
            )
        self.log.info("Task messages: %d succeeded, %d failed", len(results), len(failures))
        for failure in failures:
            self.log.warning(
                "Task %s (%s -> %s): [%s] %s",
                failure["task_id"],
                failure["src_path"],
                failure["dst_path"],
                failure["error_code"],
                failure["error_message"],
            )
        codes = sorted({str(f["error_code"]) for f in failures})
        failed = f"{len(failures)} of {len(done)} task messages failed: {codes}" if failures else None
        return finish(context, summary, failed if self.fail_on_file_errors else None)


@dataclass
class _Outcomes:
    """One result per raw message (None until known), and the refusals to record in the ledger."""

    raws: list[Any]
    results: list[dict[str, Any] | None] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.results = [None] * len(self.raws)

    def refuse(self, index: int, exc: BaseException, job: str | None = None) -> None:
        raw = self.raws[index]
        task_id = str((raw.get("task_id") if isinstance(raw, dict) else None) or "")
        message = exc.message if isinstance(exc, FilepoolError) else str(exc)
        self.rejects.append(reject_row(job or rejected_job(raw), raw, task_id, error_code(exc), message))
        self.results[index] = result(raw, task_id, "failure", error_code=error_code(exc), error_message=message)
