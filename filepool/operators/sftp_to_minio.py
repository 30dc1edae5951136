"""SFTPToMinIOOperator: SFTP -> S3/MinIO, exactly once across workers, through the ledger."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from filepool.endpoints.factory import open_destination, open_source
from filepool.endpoints.sftp import SFTPConfig
from filepool.interfaces import Destination, Source
from filepool.operators.base import COMMON_TEMPLATE_FIELDS, FileTransferOperator
from filepool.settings import S3_CONN_ID, SFTP_CONN_ID, Settings
from filepool.transfer.route import Route, sftp_to_s3


class SFTPToMinIOOperator(FileTransferOperator):
    """
    Move every stable file under an SFTP folder to an S3 bucket, never the same file version twice.

    Instances on the same route (same SFTP connection and folder, same AWS connection, bucket and prefix) share
    one ledger queue, in any number of processes. The object key is ``key_prefix`` + the path relative to
    ``source_path``. Other arguments: see :class:`~filepool.operators.base.FileTransferOperator`.

    :param sftp_conn_id: Airflow ``sftp``/``ssh`` connection of the source server.
    :param source_path: absolute folder on the server to take files from.
    :param aws_conn_id: Airflow ``aws`` connection; ``endpoint_url`` in extra for MinIO.
    :param bucket: destination bucket.
    :param key_prefix: prefix of every object key (``incoming/``).
    """

    template_fields: Sequence[str] = (*COMMON_TEMPLATE_FIELDS, "sftp_conn_id", "aws_conn_id", "bucket", "key_prefix")
    ALLOWED_FIELDS = {
        "connections": ("sftp_conn_id", "aws_conn_id", "ledger_conn_id"),
        "buckets": ("bucket",),
        "paths": ("source_path",),
    }

    def __init__(
        self,
        *,
        source_path: str,
        bucket: str,
        sftp_conn_id: str = SFTP_CONN_ID,
        aws_conn_id: str = S3_CONN_ID,
        key_prefix: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(source_path=source_path, **kwargs)
        self.sftp_conn_id = sftp_conn_id
        self.aws_conn_id = aws_conn_id
        self.bucket = bucket
        self.key_prefix = key_prefix

    def open_source(self, settings: Settings, threads: int, sessions: threading.BoundedSemaphore) -> Source:
        return open_source("sftp", self.sftp_conn_id, min(threads, settings.max_sessions_per_connection), sessions)

    def make_route(self, source: Source) -> Route:
        return sftp_to_s3(self.sftp_conn_id, self.source_path, self.aws_conn_id, self.bucket, self.key_prefix)

    def locations(self, route: Route) -> tuple[str, str]:
        config = SFTPConfig.from_airflow(self.sftp_conn_id)
        return f"sftp://{config.host}:{config.port}{route.source_root}", f"s3://{self.bucket}/{self.key_prefix}"

    def open_destination(self, settings: Settings, threads: int, sessions: threading.BoundedSemaphore) -> Destination:
        return open_destination("s3", self.aws_conn_id, threads, bucket=self.bucket, settings=settings)
