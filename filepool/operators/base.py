"""The part every filepool transfer operator shares: common arguments and `execute()` around the engine.

A subclass names its route and opens its source and destination; nothing else.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from airflow.sdk import BaseOperator

from filepool.allow import Guarded
from filepool.endpoints.connections import as_bool
from filepool.exceptions import InvalidConfig
from filepool.ledger import Ledger
from filepool.operators import runner
from filepool.settings import Settings
from filepool.transfer.completion import AfterTransfer
from filepool.transfer.route import Route

COMMON_TEMPLATE_FIELDS: tuple[str, ...] = (
    "source_path",
    "pattern",
    "recursive",
    "ledger_conn_id",
    "threads",
    "settle_seconds",
    "min_age_seconds",
)


class FileTransferOperator(Guarded, BaseOperator):
    """
    Base of filepool's transfer operators: discover stable files, then claim and move them through the ledger.

    :param source_path: folder to take files from.
    :param pattern: glob on file names (``*.csv``).
    :param recursive: also take files in sub-folders.
    :param ledger_conn_id: Airflow ``postgres`` connection of the ledger database.
    :param threads: parallel transfers in this task.
    :param settle_seconds: a young file is taken only if its size and mtime stay the same this long.
    :param min_age_seconds: files whose mtime is at least this old are taken without the settle wait.
    :param discover: list the source and register new stable files.
    :param transfer: claim registered files and move them.
    :param max_files: stop after claiming this many files (None: until the queue is empty).
    :param fail_on_file_errors: fail the task when any file failed (the others are still moved).
    :param after_transfer: what becomes of a source file once its transfer is verified and recorded: ``keep``
        (the default), ``delete``, or ``move`` to ``archive_path`` on the same server (its path relative to
        ``source_path`` kept). Set in the DAG file only: it is not a template field, so no trigger form or
        ``--conf`` can turn it on.
    :param archive_path: absolute folder, outside ``source_path``, for ``after_transfer="move"``.
    :param allowed: what a trigger form, ``--conf`` or an upstream task may point this task at, beyond the
        arguments written literally here and ``[filepool] allowed_*``: ``{"connections": [...], "buckets":
        [...], "paths": [...]}`` (globs; folders). Not a template field. See :mod:`filepool.allow`.
    :param worker_slot: a number to map transfer tasks over (never files); it names the worker in logs and
        in the ledger (``claimed_by``).
    """

    template_fields: Sequence[str] = COMMON_TEMPLATE_FIELDS
    ui_color = "#d9f0e3"

    def __init__(
        self,
        *,
        source_path: str,
        pattern: str = "*",
        recursive: bool | str = True,
        ledger_conn_id: str = "filepool_ledger",
        threads: int | str = 8,
        settle_seconds: float | str = 5.0,
        min_age_seconds: float | str = 60.0,
        discover: bool = True,
        transfer: bool = True,
        max_files: int | None = None,
        fail_on_file_errors: bool = True,
        after_transfer: str = "keep",
        archive_path: str | None = None,
        allowed: dict[str, list[str]] | None = None,
        worker_slot: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        AfterTransfer.parse(after_transfer, archive_path, None)  # a wrong value fails when the DAG is parsed
        if not discover and not transfer:
            raise InvalidConfig("nothing to do: both discover and transfer are False")
        self.source_path = source_path
        self.pattern = pattern
        self.recursive = recursive
        self.ledger_conn_id = ledger_conn_id
        self.threads = threads
        self.settle_seconds = settle_seconds
        self.min_age_seconds = min_age_seconds
        self.discover = discover
        self.transfer = transfer
        self.max_files = max_files
        self.fail_on_file_errors = fail_on_file_errors
        self.after_transfer = after_transfer
        self.archive_path = archive_path
        self.allowed = allowed
        self.worker_slot = worker_slot

    # -- what a subclass provides -----------------------------------------------------------------------------

    def open_source(self, settings: Settings, threads: int, sessions: threading.BoundedSemaphore) -> Any:
        """A source with `session()` (whose sessions can also list) and `close()`; its session pool takes its
        sessions from `sessions`, the task's budget over all connections (`max_sessions_total`)."""
        raise NotImplementedError

    def make_route(self, source: Any) -> Route:
        raise NotImplementedError

    def open_destination(self, settings: Settings, threads: int, sessions: threading.BoundedSemaphore) -> Any:
        """A destination with `chunk_size()`, `open_writer()` and, optionally, `close()`; a pooled one takes its
        sessions from `sessions` too."""
        raise NotImplementedError

    def _discover(
        self,
        source: Any,
        ledger: Any,
        route: Route,
        settle: float,
        min_age: float,
        registered: Callable[[], None] | None = None,
    ) -> dict[str, Any]:
        recursive = as_bool(self.recursive, True)
        if hasattr(source, "list_files"):  # a source that lists over several sessions at once
            return runner.discover(ledger, route, source, self.pattern, recursive, settle, min_age, registered)
        with source.session() as session:
            return runner.discover(ledger, route, session, self.pattern, recursive, settle, min_age, registered)

    # -- the run ------------------------------------------------------------------------------------------

    def execute(self, context: Any) -> dict[str, Any]:
        self.check_allowed(context)  # before any connection is opened
        threads = runner.positive_int("threads", self.threads)
        settle = runner.seconds("settle_seconds", self.settle_seconds)
        min_age = runner.seconds("min_age_seconds", self.min_age_seconds)
        settings = Settings.load()
        worker = runner.worker_name(context, self.worker_slot)
        sessions = threading.BoundedSemaphore(settings.max_sessions_total)  # one budget for the whole task
        source = self.open_source(settings, threads, sessions)
        destination = None
        try:
            route = self.make_route(source)
            after = AfterTransfer.parse(self.after_transfer, self.archive_path, route.source_root)
            self.log.info("Worker %s on %s (%d threads)", worker, route.job, threads)
            ledger = runner.open_ledger(self.ledger_conn_id, worker, settings)
            summary: dict[str, Any] = {"job": route.job, "worker": worker}
            discovery = None
            try:
                if self.discover and self.transfer:  # copy files while the rest is still being listed
                    discovery = runner.Discovery(
                        Ledger.from_airflow(self.ledger_conn_id, worker),
                        lambda own, news: self._discover(source, own, route, settle, min_age, news),
                    )
                    discovery.start()
                elif self.discover:
                    summary["discovery"] = self._discover(source, ledger, route, settle, min_age)
                if self.transfer:
                    destination = self.open_destination(settings, threads, sessions)
                    summary.update(
                        runner.transfer(
                            self.ledger_conn_id,
                            worker,
                            route.job,
                            source,
                            destination,
                            threads,
                            settings,
                            self.max_files,
                            discovery.more_coming if discovery is not None else None,
                            after,
                        )
                    )
                if discovery is not None:
                    summary["discovery"] = discovery.outcome()
                runner.finish(summary, ledger, route, context, self.fail_on_file_errors)
            finally:
                if discovery is not None:
                    discovery.join()  # it lists over the source's sessions: done before they close
                ledger.close()
        finally:
            source.close()
            if destination is not None and hasattr(destination, "close"):
                destination.close()
        return summary
