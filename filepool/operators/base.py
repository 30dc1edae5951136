"""The part every filepool transfer operator shares: common arguments and `execute()` around the engine.

A subclass names its route and opens its source and destination; nothing else.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import closing
from typing import Any

from airflow.sdk import BaseOperator

from filepool.airflow_connections import as_bool, reads_once
from filepool.allow import Guarded
from filepool.events.sinks import open_sink
from filepool.exceptions import FilepoolError, InvalidConfig
from filepool.interfaces import Destination, Source
from filepool.operators.arguments import positive_int, seconds
from filepool.operators.interval import interval_window, run_type
from filepool.operators.links import FileTransfersLink
from filepool.operators.outlets import add_events, check_asset_events, lineage
from filepool.operators.task_instance import finish, report_failure, task_ref, worker_name
from filepool.settings import LEDGER_CONN_ID, Settings
from filepool.transfer.completion import AfterTransfer
from filepool.transfer.discovery import Selection
from filepool.transfer.route import Route
from filepool.transfer.task import TransferTask
from filepool.transfer.window import Window

COMMON_TEMPLATE_FIELDS: tuple[str, ...] = (
    "source_path",
    "pattern",
    "recursive",
    "ledger_conn_id",
    "threads",
    "settle_seconds",
    "min_age_seconds",
    "select_by",
    "backfill_select_by",
    "late_partitions",
    "resend",
    "asset_events",
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
    :param select_by: which files the run's data interval selects: ``auto`` (the default: a backfill run by
        ``backfill_select_by``, any other run sweeps), ``sweep`` (all), ``partition`` or ``mtime``; see
        :mod:`filepool.operators.interval`. The ledger job and destination keys stay those of the route's root
        either way.
    :param backfill_select_by: how a backfill run of this route selects its interval's files when its conf says
        nothing: ``mtime`` (the default) or ``partition`` (a date folder per interval, the ``partition``
        template). A fact of the data's layout, set in the DAG file: a backfill never silently sweeps.
    :param partition: for ``select_by="partition"``, the Jinja template of the interval's folder under
        ``source_path``, rendered by the operator for each interval (not a template field, so that a
        scheduled run can render it for earlier intervals too): ``{{ ds }}`` by default.
    :param late_partitions: a scheduled run also lists this many earlier intervals' partitions (files that
        landed there after their run).
    :param resend: send the files of the run's interval that were moved already once more, on purpose (a
        backfill or manual run with ``select_by`` partition or mtime); each is recorded with the reason.
    :param notify_amqp_conn_id: announce each file COMPLETED on this route over AMQP (RabbitMQ) through this
        Airflow connection: one persistent, confirmed message per file (route, source path, destination, size,
        sha256, completed_at, a stable ``message_id``), sent through the ledger's outbox, so a broker outage
        delays notifications and loses none. Set in the DAG file only. None (default): no notifications.
    :param asset_events: what this task tells the ``AssetAlias`` outlets the DAG file gives it when it moved
        files: ``run`` (default) one event with the run's counts, ``file`` one event per moved file (destination,
        size, sha256, source) up to ``max_file_events`` (a run that moved more sends its run event instead), or
        ``none``. Events are on one Asset per route, its destination (``s3://bucket/prefix``, ``file:///...``,
        ``ftp://host:port/...``) unless ``asset`` names one (declare it in the DAG: see filepool.assets); see
        :mod:`filepool.operators.outlets`.
    :param linger_seconds: once the route's queue is empty, keep claiming for this long, so that files registered
        meanwhile (by a file watcher, another task's discovery) move at once instead of waiting for the next run;
        the task holds its worker slot that long. 0 (default): end when the queue is empty.
    :param notify_exchange: the exchange ("" is the default exchange, which routes to the queue named by the
        routing key); ``notify_routing_key``: the routing key. The queue must exist (a message no queue takes
        stays in the outbox).
    """

    template_fields: Sequence[str] = COMMON_TEMPLATE_FIELDS
    ui_color = "#d9f0e3"
    operator_extra_links = (FileTransfersLink(),)
    route_job: str | None = None  # the route's ledger job once known: the extra link's page filter

    def __init__(
        self,
        *,
        source_path: str,
        pattern: str = "*",
        recursive: bool | str = True,
        ledger_conn_id: str = LEDGER_CONN_ID,
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
        select_by: str = "auto",
        backfill_select_by: str = "mtime",
        partition: str = "{{ ds }}",
        late_partitions: int | str = 1,
        resend: bool | str = False,
        notify_amqp_conn_id: str | None = None,
        notify_exchange: str = "",
        notify_routing_key: str = "filepool.arrivals",
        asset_events: str = "run",
        max_file_events: int = 1000,
        linger_seconds: float = 0.0,
        asset: Any = None,
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
        self.select_by = select_by
        self.backfill_select_by = backfill_select_by
        self.partition = partition
        self.late_partitions = late_partitions
        self.resend = resend
        self.asset_events = asset_events
        self.max_file_events = positive_int("max_file_events", max_file_events)
        self.linger_seconds = seconds("linger_seconds", linger_seconds)
        self.asset = asset
        self._locations: tuple[str, str] | None = None
        self.notify = (
            {"conn_id": notify_amqp_conn_id, "exchange": notify_exchange, "routing_key": notify_routing_key}
            if notify_amqp_conn_id
            else None
        )

    # -- what a subclass provides -----------------------------------------------------------------------------

    def open_source(self, settings: Settings, threads: int, sessions: threading.BoundedSemaphore) -> Source:
        """The source, whose session pool takes its sessions from `sessions`, the task's budget over all
        connections (`max_sessions_total`)."""
        raise NotImplementedError

    def make_route(self, source: Source) -> Route:
        raise NotImplementedError

    def open_destination(self, settings: Settings, threads: int, sessions: threading.BoundedSemaphore) -> Destination:
        """The destination; a pooled one takes its sessions from `sessions` too."""
        raise NotImplementedError

    def locations(self, route: Route) -> tuple[str, str]:
        """Where the route's files come from and go, as URIs (``sftp://host:port/folder``, ``s3://bucket/prefix``,
        ``file:///base/folder``): the Asset of its events and its OpenLineage datasets."""
        raise NotImplementedError

    # -- the run ------------------------------------------------------------------------------------------

    @reads_once
    def execute(self, context: Any) -> dict[str, Any]:
        try:
            return self._run(context)
        except FilepoolError as exc:
            report_failure(context, exc)  # the run's summary names this task, its code and what to do
            raise

    def _run(self, context: Any) -> dict[str, Any]:
        self.check_allowed(context)  # before any connection is opened
        settings = Settings.load()
        threads = positive_int("threads", self.threads)
        selection = self._selection() if self.discover else None
        sessions = threading.BoundedSemaphore(settings.max_sessions_total)  # one budget for the whole task
        window = interval_window(
            str(self.select_by),
            self.partition,
            positive_int("late_partitions", self.late_partitions, minimum=0),
            context,
            lambda template, values: self.render_template(template, values),  # type: ignore[arg-type]
            str(self.backfill_select_by),
        )
        resend = self._resend_reason(window, context)
        asset_events = check_asset_events(str(self.asset_events))
        with closing(self.open_source(settings, threads, sessions)) as source:
            route = self.make_route(source)
            self.route_job = route.job
            task = TransferTask(
                self.ledger_conn_id,
                worker_name(context, self.worker_slot),
                route,
                threads,
                settings,
                selection,
                self.max_files,
                AfterTransfer.parse(self.after_transfer, self.archive_path, route.source_root),
                task_ref(context),
                window,
                resend,
                self.notify,
                keep_moved=self.max_file_events if asset_events == "file" else 0,
                linger=self.linger_seconds,
                sinks=open_sink,
            )
            self._locations = self.locations(route)
            if self.transfer:
                with closing(self.open_destination(settings, threads, sessions)) as destination:
                    summary = task.run(source, destination)
            else:
                summary = task.run(source, None)
        summary["location"] = self._locations[1]
        # Events through the task's own AssetAlias outlets (a task alone in its run); in filepool's DAGs the
        # transfer tasks have none and one task of the run sends them all (filepool.runs): its moved files go in
        # the summary, for that task.
        moved = summary.pop("moved_files", [])
        if (
            not add_events(context, self.outlets, self.asset, self._locations[1], summary, moved, asset_events)
            and moved
        ):
            summary["moved_files"] = moved
        return finish(context, summary, _failure(summary) if self.fail_on_file_errors else None)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Inputs and outputs for OpenLineage (the provider calls this when the task ends): the route's source
        folder and destination."""
        return lineage(*self._locations) if self._locations else None

    def _resend_reason(self, window: Window, context: Any) -> str | None:
        if not as_bool(self.resend, False):
            return None
        if not window.exact:
            raise InvalidConfig(
                "resend applies to the run of one data interval: a backfill or a manual run with select_by "
                f"partition or mtime (this is a {run_type(context) or 'run'} with select_by={self.select_by})"
            )
        ti = context.get("ti") if context else None
        where = f"{getattr(ti, 'dag_id', '?')} run {getattr(ti, 'run_id', '?')}"
        self.log.warning("resend: true - this run sends its interval's files moved already once more (%s)", where)
        return f"resend: true on {where}"

    def _selection(self) -> Selection:
        return Selection(
            self.pattern,
            as_bool(self.recursive, True),
            seconds("settle_seconds", self.settle_seconds),
            seconds("min_age_seconds", self.min_age_seconds),
        )


def _failure(summary: dict[str, Any]) -> str | None:
    """What failed, for the task's failure; None when every file moved."""
    failed = summary.get("files_failed")
    if not failed:
        return None
    errors = ", ".join(f"{code}: {n}" for code, n in sorted(summary["errors"].items()))
    halted = f"; stopped early: {summary['halted_by']}" if summary.get("halted_by") else ""
    return f"{failed} of {failed + summary['files_transferred']} files failed ({errors}{halted})"
