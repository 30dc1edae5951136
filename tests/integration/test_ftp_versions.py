"""One FTP tree listed in every way a server shows it - MLSD to the second, vsftpd's LIST to the minute, LIST after
the six-month boundary to the day, a session whose FEAT failed, the connection's timezone edited - moves each file
once: the ledger compares a listing's times with the versions it has at the listing's precision. Files are kept at
the source (`after_transfer: keep`), so every run lists them again; retention prunes the rows in the middle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from filepool.endpoints.ftp.session import FTPConfig, FTPSession
from filepool.operators.maintenance import PruneLedgerOperator
from tests.helpers import age, ftp_conn, make_readable, sha256, write_tree
from tests.integration.test_ftp_local import download, tree_hashes
from tests.servers.pyftpd import serving_as_filepool_ftp

pytestmark = pytest.mark.integration


def written(base: Path) -> dict[str, int]:
    """Each delivered file's inode and mtime: a file written again (renamed over) gets a new inode."""
    return {str(p.relative_to(base)): p.stat().st_ino * 10**9 + p.stat().st_mtime_ns % 10**9 for p in base.rglob("*")}


def nothing_new(summary: dict[str, Any]) -> None:
    assert (summary["files_transferred"], summary["discovery"]["registered"]) == (0, 0), summary


def test_mlsd_list_old_dates_and_a_failed_feat_move_nothing_a_second_time(
    ftp_server: Any,
    ftp_conns: None,
    sftp_root: Path,
    local_base: Path,
    ledger_uri: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = write_tree(sftp_root, 30, size=800)
    make_readable(sftp_root)
    age(sftp_root, 7200)
    wanted = {rel: sha256(data) for rel, data in files.items()}
    # pyftpdlib serves the whole disk, so its paths are vsftpd's: one route, one ledger job
    with serving_as_filepool_ftp(Path("/"), monkeypatch):
        first = download(sftp_root)  # MLSD: to the second
    assert first["files_transferred"] == 30 and tree_hashes(local_base / "incoming") == wanted
    once = written(local_base)

    monkeypatch.setenv("AIRFLOW_CONN_FILEPOOL_FTP", ftp_conn(ftp_server, timezone="UTC"))
    nothing_new(download(sftp_root))  # vsftpd, LIST: to the minute

    assert PruneLedgerOperator(task_id="p", retention_days=0).execute({})["pruned"] == 30
    with serving_as_filepool_ftp(Path("/"), monkeypatch, flags=("list_only", "old_dates")):
        nothing_new(download(sftp_root))  # LIST once the files are six months old: to the day, rows pruned

    with serving_as_filepool_ftp(Path("/"), monkeypatch, flags=("no_feat",)):
        session = FTPSession.open(FTPConfig.from_airflow("filepool_ftp"))
        session.entries(str(sftp_root))
        assert session.listing == "MLSD"  # a failed FEAT never sends a session silently to LIST
        session.close()
        nothing_new(download(sftp_root))
    assert written(local_base) == once


def test_an_edited_timezone_moves_nothing_a_second_time(
    ftp_server: Any,
    ftp_conns: None,
    sftp_root: Path,
    local_base: Path,
    ledger_uri: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """vsftpd's LIST shows its own clock (UTC here); the connection said nothing of it, then New York, then Tokyo:
    each reading moves every time, but the server showed the same minutes, so nothing moves again."""
    files = write_tree(sftp_root, 20, size=600)
    make_readable(sftp_root)
    age(sftp_root, 7200)
    monkeypatch.setenv("AIRFLOW_CONN_FILEPOOL_FTP", ftp_conn(ftp_server))
    assert download(sftp_root, min_age_seconds=0)["files_transferred"] == 20
    once = written(local_base)
    monkeypatch.setenv("AIRFLOW_CONN_FILEPOOL_FTP", ftp_conn(ftp_server, timezone="America/New_York"))
    nothing_new(download(sftp_root, min_age_seconds=0))
    assert PruneLedgerOperator(task_id="p", retention_days=0).execute({})["pruned"] == 20
    monkeypatch.setenv("AIRFLOW_CONN_FILEPOOL_FTP", ftp_conn(ftp_server, timezone="Asia/Tokyo"))
    nothing_new(download(sftp_root, min_age_seconds=0))
    assert written(local_base) == once
    assert tree_hashes(local_base / "incoming") == {rel: sha256(data) for rel, data in files.items()}
