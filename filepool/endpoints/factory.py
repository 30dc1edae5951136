"""The one place endpoints are made from Airflow connections: by the transfer operators, task messages, the file
watcher and maintenance. A kind names what the engine reads from or writes to; imports stay lazy, so a task that
moves SFTP -> S3 never loads the FTP code, and the other way round."""

from __future__ import annotations

import threading
from typing import Literal

from filepool.interfaces import Destination, GateFor, Source
from filepool.settings import Settings

SourceKind = Literal["sftp", "ftp", "local"]
DestinationKind = Literal["s3", "ftp", "local"]
Pair = tuple[str, str, str, str]  # (src_id, src kind, dst_id, dst kind) of task messages


def open_source(kind: str, conn_id: str, sessions: int = 1, total: threading.BoundedSemaphore | None = None) -> Source:
    """A source on the Airflow connection `conn_id`, its sessions pooled (`sessions` at most, and within `total`
    for the whole task where given)."""
    if kind == "sftp":
        from filepool.endpoints.sftp import SFTPConfig, SFTPSource

        return SFTPSource(SFTPConfig.from_airflow(conn_id), sessions, total)
    if kind == "ftp":
        from filepool.endpoints.ftp.session import FTPConfig
        from filepool.endpoints.ftp.source import FTPSource

        return FTPSource(FTPConfig.from_airflow(conn_id), sessions, total)
    from filepool.endpoints.local import LocalConfig, LocalSource

    return LocalSource(LocalConfig.from_airflow(conn_id))


def open_destination(
    kind: str,
    conn_id: str,
    sessions: int = 1,
    total: threading.BoundedSemaphore | None = None,
    bucket: str = "",
    settings: Settings | None = None,
) -> Destination:
    """A destination on the Airflow connection `conn_id`: an S3 `bucket` (its client `sessions` connections wide,
    parts as `settings` say), an FTP server (sessions pooled as a source's) or a local base path."""
    if kind == "s3":
        from filepool.endpoints.s3 import S3Destination

        settings = settings or Settings.load()
        return S3Destination.from_airflow(conn_id, bucket, sessions, settings.multipart_threshold, settings.part_size)
    if kind == "ftp":
        from filepool.endpoints.ftp.session import FTPConfig
        from filepool.endpoints.ftp.upload import FTPDestination

        return FTPDestination(FTPConfig.from_airflow(conn_id), sessions, total)
    from filepool.endpoints.local import LocalConfig, LocalDestination

    return LocalDestination(LocalConfig.from_airflow(conn_id))


def open_pair(
    pair: Pair, per_connection: int, total: threading.BoundedSemaphore, gate_for: GateFor
) -> tuple[Source, Destination]:
    """The source and destination of a pair of task messages, their FTP sessions pooled (`per_connection` each,
    `total` for the whole task) and within their servers' `max_logins` (`gate_for`)."""
    src_id, src_kind, dst_id, dst_kind = pair
    source = open_source(src_kind, src_id, per_connection, total)
    try:
        destination = open_destination(dst_kind, dst_id, per_connection, total)
    except BaseException:
        source.close()
        raise
    source.share_logins(gate_for)
    destination.share_logins(gate_for)
    return source, destination
