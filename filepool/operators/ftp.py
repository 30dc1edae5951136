"""FTPToLocalOperator and LocalToFTPOperator: FTP/FTPS <-> a local base path, exactly once, through the ledger."""

from __future__ import annotations

import posixpath
import threading
from collections.abc import Sequence
from typing import Any

from filepool.endpoints.factory import open_destination, open_source
from filepool.endpoints.ftp.session import FTPConfig
from filepool.endpoints.local import LocalConfig
from filepool.interfaces import Destination, Source
from filepool.operators.base import COMMON_TEMPLATE_FIELDS, FileTransferOperator
from filepool.settings import FTP_CONN_ID, LOCAL_CONN_ID, Settings
from filepool.transfer.route import Route, ftp_to_local, local_to_ftp


class FTPToLocalOperator(FileTransferOperator):
    """
    Download every stable file under an FTP folder into a local base path, never the same file version twice.

    The local file is ``dest_path`` + the path relative to ``source_path``, inside the base path of the ``fs``
    connection ``local_conn_id``; it is written under a temporary name, fsynced and renamed.

    :param ftp_conn_id: Airflow ``ftp`` connection (``tls: true`` in extra for explicit FTPS).
    :param source_path: absolute folder on the FTP server.
    :param local_conn_id: Airflow ``fs`` connection whose extra ``path`` is the base path.
    :param dest_path: folder under the base path (relative, or absolute inside the base).
    """

    template_fields: Sequence[str] = (*COMMON_TEMPLATE_FIELDS, "ftp_conn_id", "local_conn_id", "dest_path")
    # the local side is confined to the fs connection's base path; the FTP side must be allowed
    ALLOWED_FIELDS = {"connections": ("ftp_conn_id", "local_conn_id", "ledger_conn_id"), "paths": ("source_path",)}

    def __init__(
        self,
        *,
        source_path: str,
        ftp_conn_id: str = FTP_CONN_ID,
        local_conn_id: str = LOCAL_CONN_ID,
        dest_path: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(source_path=source_path, **kwargs)
        self.ftp_conn_id = ftp_conn_id
        self.local_conn_id = local_conn_id
        self.dest_path = dest_path

    def open_source(self, settings: Settings, threads: int, sessions: threading.BoundedSemaphore) -> Source:
        return open_source("ftp", self.ftp_conn_id, min(threads, settings.max_sessions_per_connection), sessions)

    def make_route(self, source: Source) -> Route:
        return ftp_to_local(self.ftp_conn_id, self.source_path, self.local_conn_id, self.dest_path)

    def open_destination(self, settings: Settings, threads: int, sessions: threading.BoundedSemaphore) -> Destination:
        return open_destination("local", self.local_conn_id)

    def locations(self, route: Route) -> tuple[str, str]:
        base = LocalConfig.from_airflow(self.local_conn_id).base
        return ftp_uri(self.ftp_conn_id, route.source_root), "file://" + posixpath.join(base, route.key_prefix)


class LocalToFTPOperator(FileTransferOperator):
    """
    Upload every stable file under a local folder to an FTP server, never the same file version twice.

    The remote file is ``dest_path`` + the path relative to ``source_path``; it is stored under a temporary
    name, its size checked, then renamed.

    :param local_conn_id: Airflow ``fs`` connection whose extra ``path`` is the base path.
    :param source_path: folder under the base path (relative, or absolute inside the base).
    :param ftp_conn_id: Airflow ``ftp`` connection (``tls: true`` in extra for explicit FTPS).
    :param dest_path: absolute folder on the FTP server.
    """

    template_fields: Sequence[str] = (*COMMON_TEMPLATE_FIELDS, "ftp_conn_id", "local_conn_id", "dest_path")
    ALLOWED_FIELDS = {"connections": ("ftp_conn_id", "local_conn_id", "ledger_conn_id"), "paths": ("dest_path",)}

    def __init__(
        self,
        *,
        source_path: str,
        dest_path: str,
        ftp_conn_id: str = FTP_CONN_ID,
        local_conn_id: str = LOCAL_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(source_path=source_path, **kwargs)
        self.ftp_conn_id = ftp_conn_id
        self.local_conn_id = local_conn_id
        self.dest_path = dest_path

    def open_source(self, settings: Settings, threads: int, sessions: threading.BoundedSemaphore) -> Source:
        return open_source("local", self.local_conn_id)

    def make_route(self, source: Source) -> Route:
        return local_to_ftp(self.local_conn_id, source.confine(self.source_path), self.ftp_conn_id, self.dest_path)

    def open_destination(self, settings: Settings, threads: int, sessions: threading.BoundedSemaphore) -> Destination:
        per_connection = min(threads, settings.max_sessions_per_connection)
        return open_destination("ftp", self.ftp_conn_id, per_connection, sessions)

    def locations(self, route: Route) -> tuple[str, str]:
        return "file://" + route.source_root, ftp_uri(self.ftp_conn_id, route.key_prefix)


def ftp_uri(conn_id: str, path: str) -> str:
    config = FTPConfig.from_airflow(conn_id)
    return f"ftp://{config.host}:{config.port}{path}"
