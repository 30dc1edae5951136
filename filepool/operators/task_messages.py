"""FTPTaskMessagesOperator: run a batch of FTP task messages (FTP <-> local), one result per message."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, field, replace
from typing import Any

from airflow.sdk import BaseOperator

from filepool.allow import Guarded
from filepool.endpoints.ftp import FTPConfig
from filepool.endpoints.ftp_source import FTPSource
from filepool.endpoints.ftp_upload import FTPDestination
from filepool.endpoints.local import LocalConfig, LocalDestination, LocalSource
from filepool.exceptions import FileNotFound, FilepoolError, as_error, error_code
from filepool.ledger import DiscoveredFile, Ledger
from filepool.names import storable
from filepool.operators.arguments import positive_int
from filepool.operators.task_instance import finish, task_ref, worker_name
from filepool.settings import LEDGER_CONN_ID, Settings
from filepool.transfer.completion import AfterTransfer
from filepool.transfer.interfaces import GateFor, RemoteFile
from filepool.transfer.login_slots import login_gate
from filepool.transfer.messages import TaskMessage, kinds, result
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

    def execute(self, context: Any) -> dict[str, Any]:
        allowed = self.check_allowed(context)
        threads = positive_int("threads", self.threads)
        out = _Outcomes(list(self.tasks or []))
        settings = Settings.load()
        worker = worker_name(context)
        ledger = open_ledger(Ledger.opener(self.ledger_conn_id, worker), settings, task_ref(context))
        try:
            groups: dict[tuple[str, str, str, str], list[tuple[int, TaskMessage]]] = defaultdict(list)
            for index, raw in enumerate(out.raws):
                try:
                    message = TaskMessage.parse(raw)
                    allowed.connection(message.src_id, "src_id")
                    allowed.connection(message.dst_id, "dst_id")
                    src_kind, dst_kind = kinds(message)
                    if src_kind == "ftp":
                        allowed.path(message.src_path, "src_path")
                    else:
                        allowed.path(message.dst_path, "dst_path")
                except FilepoolError as exc:
                    out.refuse(index, exc)
                    continue
                groups[(message.src_id, src_kind, message.dst_id, dst_kind)].append((index, message))
            sessions = threading.BoundedSemaphore(settings.max_sessions_total)  # one budget for the whole task
            for (src_id, src_kind, dst_id, dst_kind), members in groups.items():
                self._run_group(
                    ledger, worker, (src_id, src_kind, dst_id, dst_kind), members, out, threads, settings, sessions
                )
            ledger.reject(out.rejects)
            ledger.retire_worker()
        finally:
            ledger.close()
        return self._finish(out, context)

    def _run_group(
        self,
        ledger: Ledger,
        worker: str,
        pair: tuple[str, str, str, str],
        members: list[tuple[int, TaskMessage]],
        out: _Outcomes,
        threads: int,
        settings: Settings,
        sessions: threading.BoundedSemaphore,
    ) -> None:
        """Move the messages of one source/destination pair: check, register each file version, drain, report."""
        src_id, src_kind, dst_id, dst_kind = pair
        job = f"{src_kind}://{src_id} -> {dst_kind}://{dst_id}"
        connect = Ledger.opener(self.ledger_conn_id, worker)
        per_connection = min(threads, settings.max_sessions_per_connection)
        try:
            source, destination = open_pair(pair, per_connection, sessions, login_gate(connect, settings.lease_seconds))
        except FilepoolError as exc:
            for index, _message in members:
                out.refuse(index, exc, job)
            return
        with closing(source), closing(destination):
            found, refused = file_versions(source, destination, members, ledger, job)
            for index, why in refused.items():
                out.refuse(index, why, job)
            messages = dict(members)
            versions = {index: (messages[index], version) for index, version in found.items()}
            ledger.register(
                job,
                [
                    replace(version, metadata={"task_id": message.task_id, "metadata": message.metadata})
                    for message, version in versions.values()
                ],
            )
            move_queued(connect, job, source, destination, threads, settings, after_transfer=self.after)
            _report(ledger, job, versions, out)

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
        fields = raw if isinstance(raw, dict) else {}
        task_id = str(fields.get("task_id") or "")
        message = exc.message if isinstance(exc, FilepoolError) else str(exc)
        # A refused message may hold what the ledger cannot store (a NUL): its row gets the escaped form.
        self.rejects.append(
            {
                "job": storable(job or f"rejected://{fields.get('src_id')} -> {fields.get('dst_id')}"),
                "source_path": storable(str(fields.get("src_path") or "")),
                "destination": storable(str(fields.get("dst_path") or "")),
                "error_code": error_code(exc),
                "error_message": storable(message),
                "metadata": {"task_id": storable(task_id)},
            }
        )
        self.results[index] = result(raw, task_id, "failure", error_code=error_code(exc), error_message=message)


def open_pair(
    pair: tuple[str, str, str, str], per_connection: int, sessions: threading.BoundedSemaphore, gate_for: GateFor
) -> tuple[FTPSource | LocalSource, FTPDestination | LocalDestination]:
    """The source and destination of a (src_id, src kind, dst_id, dst kind) pair of task messages, their FTP
    sessions pooled (`per_connection` each, `sessions` for the whole task) and within their servers' `max_logins`
    (`gate_for`)."""
    src_id, src_kind, dst_id, dst_kind = pair
    source: FTPSource | LocalSource = (
        FTPSource(FTPConfig.from_airflow(src_id), per_connection, sessions)
        if src_kind == "ftp"
        else LocalSource(LocalConfig.from_airflow(src_id))
    )
    try:
        destination: FTPDestination | LocalDestination = (
            FTPDestination(FTPConfig.from_airflow(dst_id), per_connection, sessions)
            if dst_kind == "ftp"
            else LocalDestination(LocalConfig.from_airflow(dst_id))
        )
    except BaseException:
        source.close()
        raise
    source.share_logins(gate_for)
    destination.share_logins(gate_for)
    return source, destination


def file_versions(
    source: FTPSource | LocalSource,
    destination: FTPDestination | LocalDestination,
    members: Sequence[tuple[int, TaskMessage]],
    ledger: Ledger,
    job: str,
) -> tuple[dict[int, DiscoveredFile], dict[int, FilepoolError]]:
    """({index: its file version} for the messages whose paths are allowed and whose source exists, {index: why
    not} for the others), from one listing session; a version listed with a coarse time (FTP LIST) is the one the
    ledger has where their times agree (`Ledger.canonical`). The destination is part of the version: the same
    source sent to two places is two transfers, and each message reports on its own destination only."""
    refused: dict[int, FilepoolError] = {}
    wanted: list[tuple[int, TaskMessage, str]] = []
    for index, message in members:
        try:
            path = source.config.confine(message.src_path) if isinstance(source, LocalSource) else message.src_path
            if isinstance(destination, LocalDestination):
                destination.config.confine(message.dst_path)  # refuse escapes before any byte moves
            wanted.append((index, message, path))
        except FilepoolError as exc:
            refused[index] = exc
    try:
        with source.session() as session:
            found = session.stat_files([path for _, _, path in wanted])
    except FilepoolError as exc:
        if exc.endpoint_wide:  # the source refuses us (login, host, network): all of its messages fail
            refused.update({index: exc for index, _message, _path in wanted})
            return {}, refused
        found = _one_by_one(source, wanted, refused)
    except Exception:  # one path the source cannot look at (a name too long): each path on its own
        found = _one_by_one(source, wanted, refused)
    listed: dict[int, DiscoveredFile] = {}
    for index, message, path in wanted:
        if path in found:
            f = found[path]
            listed[index] = DiscoveredFile(
                path, f.size, f.mtime, message.dst_path, None, f.mtime_precision, f.mtime_offset
            )
        elif index not in refused:
            refused[index] = FileNotFound(f"{message.src_path} not found on {message.src_id}")
    canonical = ledger.canonical(job, list(listed.values()))
    return dict(zip(listed, canonical, strict=True)), refused


def _one_by_one(
    source: FTPSource | LocalSource, wanted: list[tuple[int, TaskMessage, str]], refused: dict[int, FilepoolError]
) -> dict[str, RemoteFile]:
    """Each path looked up alone, so that what one path raises refuses its message only."""
    found: dict[str, RemoteFile] = {}
    with source.session() as session:
        for index, _message, path in wanted:
            try:
                found.update(session.stat_files([path]))
            except Exception as exc:
                refused[index] = as_error(exc)
    return found


def _report(ledger: Ledger, job: str, versions: dict[int, tuple[TaskMessage, DiscoveredFile]], out: _Outcomes) -> None:
    """A result record per message, from its file version's row in the ledger."""
    keys = {index: (v.source_path, v.size, v.mtime, v.destination) for index, (_, v) in versions.items()}
    rows = ledger.lookup(job, list(keys.values()))
    for index, (message, _version) in versions.items():
        row = rows.get(keys[index]) or {}
        out.results[index] = result(
            out.raws[index],
            message.task_id,
            "success" if row.get("status") == "COMPLETED" else "failure",
            bytes_transferred=int(row.get("bytes_transferred") or 0),
            duration_ms=int((row.get("total_seconds") or 0) * 1000),
            timestamp=row.get("updated_at"),
            error_code=row.get("error_code") or (None if row else "UNKNOWN_ERROR"),
            error_message=row.get("error_message"),
        )
