"""SFTPToMinIOOperator: SFTP -> S3/MinIO, exactly once across workers, through the ledger."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from filepool.endpoints.s3 import S3Destination
from filepool.endpoints.sftp import SFTPConfig, SFTPSource
from filepool.exceptions import InvalidConfig
from filepool.operators import runner
from filepool.settings import Settings
from filepool.transfer.route import sftp_to_s3


class SFTPToMinIOOperator(BaseOperator):
    """
    Move every stable file under an SFTP folder to an S3 bucket, never the same file version twice.

    Instances on the same route (same SFTP connection and folder, same AWS connection, bucket and prefix) share
    one ledger queue, in any number of processes. The object key is ``key_prefix`` + the path relative to
    ``source_path``.

    :param sftp_conn_id: Airflow ``sftp``/``ssh`` connection of the source server.
    :param source_path: absolute folder on the server to take files from.
    :param pattern: glob on file names (``*.csv``).
    :param recursive: also take files in sub-folders.
    :param aws_conn_id: Airflow ``aws`` connection; ``endpoint_url`` in extra for MinIO.
    :param bucket: destination bucket.
    :param key_prefix: prefix of every object key (``incoming/``).
    :param ledger_conn_id: Airflow ``postgres`` connection of the ledger database.
    :param threads: parallel transfers in this task.
    :param settle_seconds: a young file is taken only if its size and mtime stay the same this long.
    :param min_age_seconds: files whose mtime is at least this old are taken without the settle wait.
    :param discover: list the source and register new stable files.
    :param transfer: claim registered files and move them.
    :param max_files: stop after claiming this many files (None: until the queue is empty).
    :param fail_on_file_errors: fail the task when any file failed (the others are still moved).
    :param worker_slot: a number to map transfer tasks over; only names the worker in logs.
    """

    template_fields: Sequence[str] = (
        "sftp_conn_id", "source_path", "pattern", "recursive", "aws_conn_id", "bucket", "key_prefix",
        "ledger_conn_id", "threads", "settle_seconds", "min_age_seconds",
    )
    ui_color = "#d9f0e3"

    def __init__(
        self,
        *,
        source_path: str,
        bucket: str,
        sftp_conn_id: str = "sftp_default",
        pattern: str = "*",
        recursive: bool | str = True,
        aws_conn_id: str = "aws_default",
        key_prefix: str = "",
        ledger_conn_id: str = "filepool_ledger",
        threads: int | str = 8,
        settle_seconds: float | str = 5.0,
        min_age_seconds: float | str = 60.0,
        discover: bool = True,
        transfer: bool = True,
        max_files: int | None = None,
        fail_on_file_errors: bool = True,
        worker_slot: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not discover and not transfer:
            raise InvalidConfig("nothing to do: both discover and transfer are False")
        self.sftp_conn_id = sftp_conn_id
        self.source_path = source_path
        self.pattern = pattern
        self.recursive = recursive
        self.aws_conn_id = aws_conn_id
        self.bucket = bucket
        self.key_prefix = key_prefix
        self.ledger_conn_id = ledger_conn_id
        self.threads = threads
        self.settle_seconds = settle_seconds
        self.min_age_seconds = min_age_seconds
        self.discover = discover
        self.transfer = transfer
        self.max_files = max_files
        self.fail_on_file_errors = fail_on_file_errors
        self.worker_slot = worker_slot

    def execute(self, context: Any) -> dict[str, Any]:
        threads = runner.positive_int("threads", self.threads)
        settle, min_age = runner.seconds("settle_seconds", self.settle_seconds), runner.seconds(
            "min_age_seconds", self.min_age_seconds)
        settings = Settings.load()
        route = sftp_to_s3(self.sftp_conn_id, self.source_path, self.aws_conn_id, self.bucket, self.key_prefix)
        worker = runner.worker_name(context)
        self.log.info("Worker %s on %s (%d threads)", worker, route.job, threads)
        ledger = runner.open_ledger(self.ledger_conn_id, worker)
        source = SFTPSource(SFTPConfig.from_airflow(self.sftp_conn_id),
                            min(threads, settings.max_sessions_per_connection),
                            runner.total_sessions(settings))
        summary: dict[str, Any] = {"job": route.job, "worker": worker}
        try:
            if self.discover:
                with source.session() as session:
                    summary["discovery"] = runner.discover(
                        ledger, route, session, self.pattern, runner.flag(self.recursive), settle, min_age,
                    )
            if self.transfer:
                destination = S3Destination.from_airflow(self.aws_conn_id, self.bucket, threads,
                                                         settings.multipart_threshold, settings.part_size)
                summary.update(runner.transfer(self.ledger_conn_id, worker, route, source, destination,
                                               threads, settings, self.max_files))
            runner.finish(summary, ledger, route, context, self.fail_on_file_errors)
        finally:
            source.close()
            ledger.close()
        return summary
