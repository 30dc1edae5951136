"""Downloads that would wait for ever: an SFTP server that answers keepalives but never a READ, an FTP server that
sends a byte every half second. Each file fails TRANSFER_STALLED after `stall_seconds` (2 s here, from the
connection's extra), its lease is released for a later attempt, and the task ends."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from filepool.operators import FTPTaskMessagesOperator, SFTPToMinIOOperator
from tests.helpers import REPO, age, ledger_rows, make_readable
from tests.servers.pyftpd import serving_as_filepool_ftp
from tests.servers.silent_sftp import SilentSFTPServer

pytestmark = pytest.mark.integration


def test_an_sftp_server_that_never_answers_a_read_fails_its_files_and_releases_them(
    conns: None, sftp_root: Path, bucket: str, ledger_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (sftp_root / "small.bin").write_bytes(os.urandom(10_000))
    (sftp_root / "large.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    make_readable(sftp_root)
    age(sftp_root)
    monkeypatch.chdir(REPO)  # the server runs as `python -m tests.servers.silent_sftp`
    server = SilentSFTPServer(sftp_root).start()
    try:
        conn = {
            "conn_type": "sftp",
            "host": "127.0.0.1",
            "port": server.port,
            "login": server.user,
            "password": server.password,
            "extra": {"host_key": server.host_key_public, "stall_seconds": 2},
        }
        monkeypatch.setenv("AIRFLOW_CONN_FILEPOOL_SFTP", json.dumps(conn))
        summary = SFTPToMinIOOperator(
            task_id="t",
            source_path="/",
            bucket=bucket,
            threads=2,
            min_age_seconds=0,
            settle_seconds=0,
            fail_on_file_errors=False,
        ).execute({})
    finally:
        server.stop()
    assert (summary["files_transferred"], summary["files_failed"]) == (0, 2), summary
    rows = ledger_rows(
        ledger_uri, "SELECT status, error_code, claimed_by, next_attempt_at IS NOT NULL FROM filepool_files"
    )
    assert rows == [("FAILED", "TRANSFER_STALLED", None, True)] * 2


def test_an_ftp_server_that_trickles_fails_the_file_and_the_task_ends(
    sftp_root: Path, local_base: Path, ledger_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (sftp_root / "remote").mkdir()
    (sftp_root / "remote" / "big.bin").write_bytes(os.urandom(2 * 1024 * 1024))
    make_readable(sftp_root)
    age(sftp_root)
    with serving_as_filepool_ftp(
        sftp_root, monkeypatch, {"stall_seconds": 2, "timeout": 3}, drop_once="trickle:big.bin"
    ):
        message: dict[str, Any] = {
            "task_id": "big",
            "src_id": "filepool_ftp",
            "src_path": "/remote/big.bin",
            "dst_id": "filepool_local",
            "dst_path": "big.bin",
        }
        op = FTPTaskMessagesOperator(task_id="m", tasks=[message], threads=1, fail_on_file_errors=False)
        summary = op.execute({})
    [failure] = summary["failures"]
    assert failure["error_code"] == "TRANSFER_STALLED" and "did not come within 2 s" in failure["error_message"]
    assert ledger_rows(ledger_uri, "SELECT status, claimed_by FROM filepool_files") == [("FAILED", None)]
    assert not (local_base / "big.bin").exists() and not list(local_base.rglob("*.filepool.tmp"))
