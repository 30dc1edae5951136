"""The maintenance steps as operators; the `filepool_maintenance` DAG runs them every 15 minutes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from typing import Any

from airflow.sdk import BaseOperator

from filepool import maintenance
from filepool.allow import Guarded
from filepool.endpoints.ftp.session import FTPConfig
from filepool.endpoints.ftp.source import FTPSource
from filepool.endpoints.local import LocalConfig
from filepool.endpoints.s3 import S3Destination
from filepool.events.sinks import open_sink
from filepool.ledger import Ledger
from filepool.operators.arguments import as_list, at_least_a_lease, seconds
from filepool.operators.task_instance import worker_name
from filepool.settings import LEDGER_CONN_ID, S3_CONN_ID, Settings
from filepool.transfer.login_slots import login_gate
from filepool.transfer.publish import Publisher

HOUR = 3600.0


@contextmanager
def _ledger(conn_id: str, context: Any) -> Iterator[Ledger]:
    ledger = Ledger.from_airflow(conn_id, worker_name(context))
    try:
        ledger.migrate()
        yield ledger
    finally:
        ledger.close()


class RequeueExpiredLeasesOperator(Guarded, BaseOperator):
    """Put files whose worker stopped renewing its lease back in the queue. Returns how many."""

    template_fields: Sequence[str] = ("ledger_conn_id",)
    ALLOWED_FIELDS = {"connections": ("ledger_conn_id",)}

    def __init__(self, *, ledger_conn_id: str = LEDGER_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ledger_conn_id = ledger_conn_id

    def execute(self, context: Any) -> dict[str, int]:
        self.check_allowed(context)
        with _ledger(self.ledger_conn_id, context) as ledger:
            n, lost = maintenance.requeue_expired_leases(ledger, Settings.load().max_attempts)
        self.log.info("Expired leases put back in the queue: %d", n)
        if lost:
            self.log.warning("Files whose worker was lost on every allowed attempt (WORKER_LOST): %d", lost)
        return {"requeued": n, "worker_lost": lost}


class RemoveTempFilesOperator(Guarded, BaseOperator):
    """
    Remove filepool's temporary files (``*.filepool.tmp``) older than ``older_than_hours`` that no live ledger
    claim is still writing (the claim is named in the temporary name; a live one is IN_PROGRESS with a running
    lease, however long its file takes).

    :param local_conn_ids: ``fs`` connections whose base paths are swept.
    :param ftp_folders: ``{"ftp_conn_id": ..., "path": ...}`` folders swept on FTP servers.
    :param older_than_hours: a temporary file younger than this is left alone. At least one lease (``[filepool]
        lease_seconds``): less is refused with INVALID_CONFIG.
    :param ledger_conn_id: Airflow ``postgres`` connection of the ledger database.
    """

    template_fields: Sequence[str] = ("local_conn_ids", "ftp_folders", "older_than_hours", "ledger_conn_id")
    ALLOWED_FIELDS = {"connections": ("ledger_conn_id",)}

    def __init__(
        self,
        *,
        local_conn_ids: Sequence[str] = (),
        ftp_folders: Sequence[dict[str, str]] | str = (),
        older_than_hours: float | str = 6,
        ledger_conn_id: str = LEDGER_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.local_conn_ids = local_conn_ids
        self.ftp_folders = ftp_folders
        self.older_than_hours = older_than_hours
        self.ledger_conn_id = ledger_conn_id

    def execute(self, context: Any) -> dict[str, list[str]]:
        allowed = self.check_allowed(context)
        older_than = at_least_a_lease("older_than_hours", self.older_than_hours, Settings.load().lease_seconds)
        local_conn_ids = [
            allowed.connection(c, "local_conn_ids") for c in as_list("local_conn_ids", self.local_conn_ids)
        ]
        ftp_folders = as_list("ftp_folders", self.ftp_folders)
        for folder in ftp_folders:
            allowed.connection(folder["ftp_conn_id"], "ftp_folders")
            allowed.path(folder["path"], "ftp_folders")
        removed: list[str] = []
        with _ledger(self.ledger_conn_id, context) as ledger:
            for conn_id in local_conn_ids:
                removed += maintenance.remove_local_temp_files(LocalConfig.from_airflow(conn_id), older_than, ledger)
            connect = Ledger.opener(self.ledger_conn_id, worker_name(context))
            gate_for = login_gate(connect, Settings.load().lease_seconds)
            for folder in ftp_folders:  # one session each, within the server's max_logins
                source = FTPSource(FTPConfig.from_airflow(folder["ftp_conn_id"]), 1)
                source.share_logins(gate_for)
                with closing(source), source.session() as session:
                    removed += maintenance.remove_ftp_temp_files(session, folder["path"], older_than, ledger)
        for path in removed:
            self.log.info("Removed orphaned temporary file %s", path)
        self.log.info("Orphaned temporary files removed: %d", len(removed))
        return {"removed": removed}


class AbortStaleUploadsOperator(Guarded, BaseOperator):
    """
    Abort the S3 multipart uploads filepool started (the ledger keeps their ids) older than ``older_than_hours``
    that no live ledger row owns; another application's uploads in the same bucket are never aborted.

    :param aws_conn_id: Airflow ``aws`` connection.
    :param buckets: buckets to look in.
    :param older_than_hours: uploads younger than this may still be running: they are left alone. At least one
        lease (``[filepool] lease_seconds``): less is refused with INVALID_CONFIG.
    """

    template_fields: Sequence[str] = ("aws_conn_id", "buckets", "older_than_hours", "ledger_conn_id")
    ALLOWED_FIELDS = {"connections": ("aws_conn_id", "ledger_conn_id")}

    def __init__(
        self,
        *,
        buckets: Sequence[str],
        aws_conn_id: str = S3_CONN_ID,
        older_than_hours: float | str = 24,
        ledger_conn_id: str = LEDGER_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.aws_conn_id = aws_conn_id
        self.buckets = buckets
        self.older_than_hours = older_than_hours
        self.ledger_conn_id = ledger_conn_id

    def execute(self, context: Any) -> dict[str, list[dict[str, str]]]:
        allowed = self.check_allowed(context)
        buckets = [allowed.bucket(b) for b in as_list("buckets", self.buckets)]
        settings = Settings.load()
        older_than = at_least_a_lease("older_than_hours", self.older_than_hours, settings.lease_seconds)
        aborted: list[dict[str, str]] = []
        others = 0
        with _ledger(self.ledger_conn_id, context) as ledger:
            for bucket in buckets:
                store = S3Destination.from_airflow(
                    self.aws_conn_id, bucket, 1, settings.multipart_threshold, settings.part_size
                )
                done, left = maintenance.abort_stale_uploads(store, older_than, ledger)
                aborted += done
                others += left
        for upload in aborted:
            self.log.info(
                "Aborted stale multipart upload s3://%s/%s (%s)", upload["bucket"], upload["key"], upload["upload_id"]
            )
        self.log.info(
            "Stale multipart uploads aborted: %d (only uploads filepool started; %d stale uploads of other "
            "applications left alone)",
            len(aborted),
            others,
        )
        return {"aborted": aborted}


class PruneLedgerOperator(Guarded, BaseOperator):
    """Shrink COMPLETED ledger rows older than ``retention_days`` to the key of their file version (the row and
    its events go; that the version was moved stays, so it is never moved again). Returns how many."""

    template_fields: Sequence[str] = ("ledger_conn_id", "retention_days")
    ALLOWED_FIELDS = {"connections": ("ledger_conn_id",)}

    def __init__(
        self, *, ledger_conn_id: str = LEDGER_CONN_ID, retention_days: float | str = 90, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.ledger_conn_id = ledger_conn_id
        self.retention_days = retention_days

    def execute(self, context: Any) -> dict[str, int]:
        self.check_allowed(context)
        retention = seconds("retention_days", self.retention_days) * 24 * HOUR
        with _ledger(self.ledger_conn_id, context) as ledger:
            n = ledger.prune_completed(retention)
            ledger.forget_workers(retention)
            ledger.rows("prune_outbox", older_than=retention)
            ledger.rows("prune_task_messages", older_than=retention)
            ledger.rows("prune_listed_folders", older_than=retention)
            ledger.rows("prune_uploads", older_than=max(retention, 30 * 24 * HOUR))  # ids of uploads long over
        self.log.info("COMPLETED rows older than %s days pruned to their version key: %d", self.retention_days, n)
        return {"pruned": n}


class PublishOutboxOperator(Guarded, BaseOperator):
    """Send what the ledger's outbox still holds (result records, arrival notifications a broker did not take
    while their task ran), waiting up to ``timeout_seconds`` for a broker that is down. Returns what was sent
    and what is left, per channel."""

    template_fields: Sequence[str] = ("ledger_conn_id", "timeout_seconds")
    ALLOWED_FIELDS = {"connections": ("ledger_conn_id",)}

    def __init__(
        self, *, ledger_conn_id: str = LEDGER_CONN_ID, timeout_seconds: float | str = 60, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.ledger_conn_id = ledger_conn_id
        self.timeout_seconds = timeout_seconds

    def execute(self, context: Any) -> dict[str, dict[str, int]]:
        self.check_allowed(context)
        with _ledger(self.ledger_conn_id, context):  # migrated
            pass
        publisher = Publisher(Ledger.opener(self.ledger_conn_id, worker_name(context)), open_sink)
        try:
            left = publisher.drain(seconds("timeout_seconds", self.timeout_seconds))
        finally:
            publisher.close()
        self.log.info(
            "Outbox: sent %s; left %s%s",
            publisher.sent,
            left or "nothing",
            f" ({publisher.last_error})" if left else "",
        )
        return {"sent": publisher.sent, "left": left}
