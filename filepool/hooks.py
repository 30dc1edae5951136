"""Connection types of filepool's own, so that the Airflow UI's connection form shows every setting filepool reads
(host key, login cap, time zone, TLS, ...) as a field of its own, with help, and its Test button tries a login.

`filepool_sftp` and `filepool_ftp` are the stock `sftp` and `ftp` types with those fields: filepool reads either
(and `fs`) the same way; Airflow lets no provider add fields to another provider's form. The fields are declared in
filepool.get_provider_info (`conn-fields`, read by Airflow 3.2 and later); each hook here is what Airflow calls to
test a connection (`[core] test_connection = Enabled`).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook


class FilepoolSFTPHook(BaseHook):
    """An SFTP server as filepool reads it (filepool.endpoints.sftp.SFTPConfig)."""

    conn_name_attr = "sftp_conn_id"
    default_conn_name = "filepool_sftp"
    conn_type = "filepool_sftp"
    hook_name = "SFTP (filepool)"

    def __init__(self, sftp_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sftp_conn_id = sftp_conn_id

    def get_conn(self) -> Any:
        from filepool.endpoints.sftp import SFTPConfig, SFTPSession

        return SFTPSession.open(SFTPConfig.from_airflow(self.sftp_conn_id))

    def test_connection(self) -> tuple[bool, str]:
        """Log in (the host key checked as for a transfer) and look at the login's home folder."""
        return _tried(self.get_conn, lambda session: session.has_folder("."))


class FilepoolFTPHook(BaseHook):
    """An FTP or FTPS server as filepool reads it (filepool.endpoints.ftp.session.FTPConfig)."""

    conn_name_attr = "ftp_conn_id"
    default_conn_name = "filepool_ftp"
    conn_type = "filepool_ftp"
    hook_name = "FTP/FTPS (filepool)"

    def __init__(self, ftp_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ftp_conn_id = ftp_conn_id

    def get_conn(self) -> Any:
        from filepool.endpoints.ftp.session import FTPConfig, FTPSession

        return FTPSession.open(FTPConfig.from_airflow(self.ftp_conn_id))

    def test_connection(self) -> tuple[bool, str]:
        """Log in (TLS as configured) and look at the login's home folder."""
        return _tried(self.get_conn, lambda session: session.has_folder("."))


def _tried(open_session: Any, look: Any) -> tuple[bool, str]:
    from filepool.exceptions import as_error

    try:
        session = open_session()
    except Exception as exc:
        error = as_error(exc)
        return False, f"[{error.code}] {error.message}"
    try:
        look(session)
        return True, "logged in: filepool can list and move files with this connection"
    except Exception as exc:
        error = as_error(exc)
        return False, f"logged in, but: [{error.code}] {error.message}"
    finally:
        session.close()
