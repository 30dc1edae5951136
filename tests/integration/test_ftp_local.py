"""FTPToLocalOperator and LocalToFTPOperator against a real vsftpd (plain and FTPS)."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from filepool.endpoints.ftp.listing import Entry
from filepool.endpoints.ftp.session import FTPSession
from filepool.endpoints.local import LocalWriter
from filepool.operators import FTPToLocalOperator, LocalToFTPOperator
from tests.helpers import age, deep_tree, ftp_conn, ledger_rows, make_readable, not_utf8_name, sha256, write_tree
from tests.servers.pyftpd import serving_as_filepool_ftp

pytestmark = pytest.mark.integration


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


def download(source: Path, **kwargs: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "task_id": "down",
        "ftp_conn_id": "filepool_ftp",
        "local_conn_id": "filepool_local",
        "source_path": str(source),
        "dest_path": "incoming",
        "threads": 8,
        "settle_seconds": 1,
        "min_age_seconds": 60,
    }
    args.update(kwargs)
    return FTPToLocalOperator(**args).execute({})


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("AIRFLOW__FILEPOOL__RETRY_BACKOFF_SECONDS", "0")
    caplog.set_level(logging.INFO)


def test_ftp_to_local_verified_then_nothing_again(
    ftp_conns: None, sftp_root: Path, local_base: Path, ledger_uri: str
) -> None:
    files = write_tree(sftp_root, 150, size=2500)
    (sftp_root / "empty").write_bytes(b"")
    files["empty"] = b""
    (sftp_root / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 17))  # more than one 1 MiB chunk
    files["big.bin"] = (sftp_root / "big.bin").read_bytes()
    (sftp_root / "d0" / ".half.bin.7-1.0a1b.filepool.tmp").write_bytes(b"an upload in progress: never a source")
    make_readable(sftp_root)
    age(sftp_root)

    first = download(sftp_root)
    assert first["files_transferred"] == len(files) and first["files_failed"] == 0
    assert tree_hashes(local_base / "incoming") == {rel: sha256(data) for rel, data in files.items()}
    assert not list(local_base.rglob("*.filepool.tmp"))
    rows = ledger_rows(ledger_uri, "SELECT status, count(*) FROM filepool_files GROUP BY status")
    assert rows == [("COMPLETED", len(files))]
    checks = dict(ledger_rows(ledger_uri, "SELECT destination, checksum FROM filepool_files"))
    assert checks == {f"incoming/{rel}": sha256(data) for rel, data in files.items()}

    second = download(sftp_root)
    assert second["discovery"]["registered"] == 0 and second["files_transferred"] == 0


def test_files_are_copied_while_the_listing_goes_on(
    ftp_conns: None, ftp_server: Any, sftp_root: Path, local_base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a folder with files is listed, every other folder's listing is held until a file has been copied:
    a run that listed everything before copying anything would wait out each hold (and fail here). vsftpd lists
    in UTC; the connection says so, or files an hour old would wait for the settle check like young ones."""
    monkeypatch.setenv("AIRFLOW_CONN_FILEPOOL_FTP", ftp_conn(ftp_server, timezone="UTC"))
    files = write_tree(sftp_root, 60, size=1000)
    age(sftp_root)
    copied = threading.Event()
    lock = threading.Lock()
    files_out = False
    held: list[bool] = []
    real_entries, real_commit = FTPSession.entries, LocalWriter.commit

    def entries(self: FTPSession, folder: str, problems: Any = None) -> list[Entry]:
        nonlocal files_out
        listed = real_entries(self, folder, problems)
        with lock:
            hold, files_out = files_out, files_out or any(entry.kind == "file" for entry in listed)
        if hold:
            held.append(copied.wait(10))
        return listed

    def commit(self: LocalWriter, sha256: bytes) -> Any:
        result = real_commit(self, sha256)
        copied.set()
        return result

    monkeypatch.setattr(FTPSession, "entries", entries)
    monkeypatch.setattr(LocalWriter, "commit", commit)
    summary = download(sftp_root)
    assert held and all(held), f"{held.count(False)} of {len(held)} listings waited for a copy in vain"
    assert summary["files_transferred"] == 60 and summary["discovery"]["registered"] == 60
    assert tree_hashes(local_base / "incoming") == {rel: sha256(data) for rel, data in files.items()}


def test_local_to_ftp_verified_then_nothing_again(
    ftp_conns: None, local_base: Path, ftp_upload_root: Path, ledger_uri: str
) -> None:
    files = write_tree(local_base / "outgoing", 80, size=1500)
    age(local_base)

    def upload() -> dict[str, Any]:
        return LocalToFTPOperator(
            task_id="up",
            ftp_conn_id="filepool_ftp",
            local_conn_id="filepool_local",
            source_path="outgoing",
            dest_path=str(ftp_upload_root / "in"),
            threads=8,
            settle_seconds=1,
        ).execute({})

    first = upload()
    assert first["files_transferred"] == 80
    assert tree_hashes(ftp_upload_root / "in") == {rel: sha256(data) for rel, data in files.items()}
    assert not [p for p in ftp_upload_root.rglob("*") if p.name.endswith(".filepool.tmp")]
    assert upload()["files_transferred"] == 0


def test_ftps_download(
    ftps_server: Any, sftp_root: Path, local_base: Path, ledger_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_FILEPOOL_FTP", ftp_conn(ftps_server, tls=True, ca_file=str(ftps_server.cert_path)))
    files = write_tree(sftp_root, 20)
    age(sftp_root)
    assert download(sftp_root)["files_transferred"] == 20
    assert tree_hashes(local_base / "incoming") == {rel: sha256(data) for rel, data in files.items()}


def test_sixteen_threads_never_open_more_than_four_sessions(
    sftp_root: Path, local_base: Path, ledger_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = write_tree(sftp_root, 300, size=20_000)
    age(sftp_root)
    with serving_as_filepool_ftp(sftp_root, monkeypatch) as server:
        monkeypatch.setenv("AIRFLOW__FILEPOOL__MAX_SESSIONS_PER_CONNECTION", "4")
        summary = download(sftp_root, source_path="/", threads=16)  # pyftpdlib serves `root` as "/"
        current, peak, total = server.counts()
    assert summary["files_transferred"] == 300
    assert tree_hashes(local_base / "incoming") == {rel: sha256(data) for rel, data in files.items()}
    assert peak <= 4 and total <= 4, (current, peak, total)  # at most 4 concurrent logins, and no churn
    assert peak >= 2  # it really ran in parallel


def test_a_hostile_listing_costs_only_its_bad_entries(
    sftp_root: Path, local_base: Path, ledger_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real FTP server (pyftpdlib) whose LIST output carries garbage, an impossible date, a name with a slash
    and one with a NUL, over a tree 70 folders deep: every good file is moved, each bad entry and the folders
    past the depth limit get a FAILED row with its code, and the control connection stays usable."""
    files = write_tree(sftp_root, 20, size=500)
    deep_tree(sftp_root)
    make_readable(sftp_root)
    age(sftp_root)
    with serving_as_filepool_ftp(sftp_root, monkeypatch, hostile=True):
        summary = download(sftp_root, source_path="/", fail_on_file_errors=False)
    assert summary["files_transferred"] == 20 and summary["discovery"]["rejected"] == 5
    assert tree_hashes(local_base / "incoming") == {rel: sha256(data) for rel, data in files.items()}
    rows = ledger_rows(
        ledger_uri, "SELECT error_code, source_path FROM filepool_files WHERE status = 'FAILED' ORDER BY 1, 2"
    )
    codes = [code for code, _ in rows]
    assert codes == ["INVALID_NAME", "INVALID_NAME", "LISTING_ERROR", "LISTING_ERROR", "LISTING_ERROR"], rows
    assert any(path.endswith("/l63") for code, path in rows if code == "LISTING_ERROR")  # 65 deep
    assert "\x00" not in "".join(path for _, path in rows)
    events = ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_file_events WHERE event = 'rejected'")
    assert events == [(5,)]


@pytest.mark.parametrize("listing", ["LIST", "MLSD"])
def test_a_folder_that_lists_past_the_entry_limit_costs_only_that_folder(
    listing: str,
    ftp_conns: None,
    sftp_root: Path,
    local_base: Path,
    ledger_uri: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A folder whose listing passes `max_folder_entries` (1,000 here; 500,000 by default) is read no further:
    LISTING_ERROR for it, and the other folder's files move. A listing that never ends cannot fill the memory.
    Through vsftpd (LIST) and pyftpdlib (MLSD)."""
    monkeypatch.setenv("AIRFLOW__FILEPOOL__MAX_FOLDER_ENTRIES", "1000")
    (sftp_root / "crowded").mkdir()
    for i in range(1200):
        (sftp_root / "crowded" / f"f{i:04d}").write_bytes(b"x")
    files = write_tree(sftp_root / "fine", 5, size=100)
    make_readable(sftp_root)
    age(sftp_root)
    if listing == "MLSD":
        with serving_as_filepool_ftp(sftp_root, monkeypatch):
            summary = download(sftp_root, source_path="/", fail_on_file_errors=False)
    else:
        summary = download(sftp_root, fail_on_file_errors=False)
    assert summary["files_transferred"] == 5
    assert tree_hashes(local_base / "incoming" / "fine") == {rel: sha256(data) for rel, data in files.items()}
    [(code, message)] = ledger_rows(ledger_uri, "SELECT error_code, error_message FROM filepool_files WHERE size = -1")
    assert code == "LISTING_ERROR" and "more than 1000 entries" in message


def test_a_name_that_is_not_utf8_is_moved_under_its_percent_encoded_name(
    ftp_conns: None, sftp_root: Path, local_base: Path, ledger_uri: str
) -> None:
    """vsftpd sends the name's bytes as they are: the file is read by those bytes and written locally as
    caf%E9.csv (a UTF-8 name), once."""
    files = write_tree(sftp_root, 30, size=700)
    not_utf8_name(sftp_root)
    make_readable(sftp_root)
    age(sftp_root)
    summary = download(sftp_root, min_age_seconds=0, settle_seconds=0)
    assert summary["files_transferred"] == 31 and summary["discovery"]["rejected"] == 0
    expected = {rel: sha256(data) for rel, data in files.items()} | {"latin1/caf%E9.csv": sha256(b"x")}
    assert tree_hashes(local_base / "incoming") == expected
    [(path,)] = ledger_rows(ledger_uri, "SELECT source_path FROM filepool_files WHERE source_bytes IS NOT NULL")
    assert path == f"{sftp_root}/latin1/caf%E9.csv"
    assert download(sftp_root, min_age_seconds=0, settle_seconds=0)["files_transferred"] == 0


def test_a_name_that_spells_anothers_escape_is_refused_never_written_over_it(
    ftp_conns: None, sftp_root: Path, local_base: Path, ledger_uri: str
) -> None:
    """`caf\xe9.csv` (not UTF-8) is escaped as `caf%E9.csv`, and a file may be named `caf%E9.csv` literally: the
    same size and mtime, one destination. The ledger tells them apart by their bytes: the first is moved, the
    second refused with NAME_COLLISION (a FAILED row saying what to do), and no run writes one over the other."""
    folder = not_utf8_name(sftp_root)
    (folder / "caf%E9.csv").write_bytes(b"y")  # the same size as the other's b"x"
    stat = os.stat(os.path.join(os.fsencode(folder), b"caf\xe9.csv"))
    os.utime(folder / "caf%E9.csv", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    make_readable(sftp_root)
    age(sftp_root)
    first = download(sftp_root, min_age_seconds=0, settle_seconds=0, fail_on_file_errors=False)
    assert first["files_transferred"] == 1
    delivered = (local_base / "incoming" / "latin1" / "caf%E9.csv").read_bytes()
    assert delivered in (b"x", b"y") and len(list((local_base / "incoming").rglob("*"))) == 2  # latin1/ and it
    [(code, message)] = ledger_rows(ledger_uri, "SELECT error_code, error_message FROM filepool_files WHERE size = -1")
    assert code == "NAME_COLLISION" and "rename one of them" in message
    again = download(sftp_root, min_age_seconds=0, settle_seconds=0, fail_on_file_errors=False)
    assert again["files_transferred"] == 0
    assert (local_base / "incoming" / "latin1" / "caf%E9.csv").read_bytes() == delivered


def test_a_listing_that_breaks_half_read_costs_its_folder_and_the_session_is_not_reused(
    ftp_conns: None, sftp_root: Path, local_base: Path, ledger_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listing cut in the middle (here: a line the reader cannot take) leaves a reply pending on the control
    connection: that folder is recorded as LISTING_ERROR, its session is closed, not pooled, and the rest moves."""
    files = write_tree(sftp_root, 30, size=700)
    (sftp_root / "breaks").mkdir()
    (sftp_root / "breaks" / "x.bin").write_bytes(b"x")
    make_readable(sftp_root)
    age(sftp_root)
    real = FTPSession._list_folder

    def breaks(self: FTPSession, folder: str, problems: Any) -> Any:
        if folder.endswith("/breaks"):
            self._ftp.putcmd("LIST")  # a listing started, and left with its reply unread
            raise UnicodeDecodeError("utf-8", b"\xe9", 0, 1, "a stand-in for a reader that fails half way")
        return real(self, folder, problems)

    monkeypatch.setattr(FTPSession, "_list_folder", breaks)
    summary = download(sftp_root, min_age_seconds=0, settle_seconds=0)
    assert summary["files_transferred"] == 30 and summary["discovery"]["rejected"] == 1
    assert tree_hashes(local_base / "incoming") == {rel: sha256(data) for rel, data in files.items()}
    [(code, path)] = ledger_rows(
        ledger_uri, "SELECT error_code, source_path FROM filepool_files WHERE status = 'FAILED'"
    )
    assert code == "LISTING_ERROR" and path.endswith("/breaks")


def test_a_task_reads_the_ledger_connection_once(
    ftp_conns: None, sftp_root: Path, local_base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transfer task opens six ledger connections or more; in an Airflow task each lookup of the Airflow
    connection is a request to the API server, so the task makes one."""
    from filepool.ledger import connect

    looked_up: list[str] = []
    read = connect.read_connection

    def counted(conn_id: str) -> Any:
        looked_up.append(conn_id)
        return read(conn_id)

    monkeypatch.setattr(connect, "read_connection", counted)
    files = write_tree(sftp_root, 20, size=100)
    make_readable(sftp_root)
    age(sftp_root)
    summary = download(sftp_root)
    assert summary["files_transferred"] == len(files)
    assert looked_up == ["filepool_ledger"]
