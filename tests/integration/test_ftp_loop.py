"""Plain FTP downloads on one thread (filepool/endpoints/ftp/loop.py), against a real vsftpd: the common case on the
loop, anything else given up on it and copied the ordinary way."""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from filepool.endpoints.ftp.session import FTPConfig
from filepool.endpoints.ftp.source import FTPSource
from filepool.endpoints.local import LocalWriter
from filepool.interfaces import Download, Downloaded, NotDoneHere
from filepool.ledger import ClaimedFile
from filepool.operators import FTPToLocalOperator
from filepool.transfer import copy as ordinary_copy
from tests.helpers import age, ftp_conn, ledger_rows, make_readable, sha256, write_tree

pytestmark = pytest.mark.integration


class Sink:
    """A writer that keeps what it is given."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data += data

    def commit(self, sha256: bytes) -> Any:
        raise AssertionError("the loop never commits: its caller does")

    def abort(self, keep: bool = False) -> None:
        pass


def tree_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): sha256(p.read_bytes()) for p in root.rglob("*") if p.is_file()}


def run_downloads(source: FTPSource, files: list[tuple[str, int]]) -> list[tuple[Sink, Downloaded | NotDoneHere]]:
    """Download `files` ((path, size listed)) on the loop; each file's sink and outcome, in order."""
    todo = [(path, size, Sink()) for path, size in files]
    outcomes: dict[int, Downloaded | NotDoneHere] = {}
    all_done = threading.Event()
    given = iter(range(len(todo)))

    def next_download() -> Download | None:
        i = next(given, None)
        if i is None:
            return None
        path, size, sink = todo[i]

        def done(outcome: Downloaded | NotDoneHere, i: int = i) -> None:
            outcomes[i] = outcome
            if len(outcomes) == len(todo):
                all_done.set()

        return Download(path, size, sink, done)

    loop = source.downloads(4, next_download)
    assert loop is not None
    loop.wake()
    assert all_done.wait(60)
    loop.close()
    return [(todo[i][2], outcomes[i]) for i in range(len(todo))]


def ftp_to_local(root: Path, **kwargs: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"threads": 4, "settle_seconds": 1, "min_age_seconds": 60, **kwargs}
    return FTPToLocalOperator(
        task_id="down",
        ftp_conn_id="filepool_ftp",
        local_conn_id="filepool_local",
        source_path=str(root),
        dest_path="incoming",
        **args,
    ).execute({})


@pytest.fixture
def ftp_source(ftp_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AIRFLOW_CONN_FILEPOOL_FTP", ftp_conn(ftp_server, timeout=5))
    source = FTPSource(FTPConfig.from_airflow("filepool_ftp"), 4)
    yield source
    source.close()


def test_files_come_whole_with_their_sha256_and_the_sessions_are_reused(ftp_source: FTPSource, sftp_root: Path) -> None:
    files = write_tree(sftp_root, 30, size=70_000)
    make_readable(sftp_root)
    got = run_downloads(ftp_source, [(str(sftp_root / rel), len(data)) for rel, data in files.items()])
    for (sink, outcome), data in zip(got, files.values(), strict=True):
        assert isinstance(outcome, Downloaded)
        assert bytes(sink.data) == data and outcome.sha256 == hashlib.sha256(data).digest()
        assert outcome.size == len(data)
    assert ftp_source.pool.opened <= 4  # one login per session, reused file after file


def test_what_the_loop_does_not_expect_is_given_up_on_and_the_next_file_goes_on(
    ftp_source: FTPSource, sftp_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    (sftp_root / "a.bin").write_bytes(b"a" * 5000)
    (sftp_root / "b.bin").write_bytes(b"b" * 5000)
    make_readable(sftp_root)
    got = run_downloads(
        ftp_source,
        [
            (str(sftp_root / "a.bin"), 4000),  # grew since listed
            (str(sftp_root / "b.bin"), 6000),  # shrank since listed
            (str(sftp_root / "missing.bin"), 10),  # 550
            (str(sftp_root / "b.bin"), 5000),
        ],
    )
    outcomes = [outcome for _, outcome in got]
    assert isinstance(outcomes[0], NotDoneHere) and "more than the 4000 bytes listed" in str(outcomes[0])
    assert isinstance(outcomes[1], NotDoneHere) and "5000 bytes instead of the 6000 listed" in str(outcomes[1])
    assert isinstance(outcomes[2], NotDoneHere) and "550" in str(outcomes[2])
    assert isinstance(outcomes[3], Downloaded) and bytes(got[3][0].data) == b"b" * 5000
    assert "left to the ordinary copy" in caplog.text


def test_ftp_to_local_moves_every_file_on_the_loop_thread(
    ftp_conns: None, sftp_root: Path, local_base: Path, ledger_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = write_tree(sftp_root, 120, size=3000)
    make_readable(sftp_root)
    age(sftp_root)
    writers: set[str] = set()
    real_write = LocalWriter.write

    def write(self: LocalWriter, data: bytes) -> None:
        writers.add(threading.current_thread().name)
        real_write(self, data)

    def no_ordinary_copy(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a first attempt of a plain FTP download is made on the loop")

    monkeypatch.setattr(LocalWriter, "write", write)
    monkeypatch.setattr("filepool.transfer.worker.copy_file", no_ordinary_copy)
    summary = ftp_to_local(sftp_root, threads=8)
    assert summary["files_transferred"] == len(files) and summary["files_failed"] == 0
    assert writers == {"filepool-ftp-loop"}
    checks = dict(
        ledger_rows(ledger_uri, "SELECT destination, checksum FROM filepool_files WHERE status = 'COMPLETED'")
    )
    assert checks == {f"incoming/{rel}": sha256(data) for rel, data in files.items()}
    assert {p.name for p in local_base.rglob("*") if p.is_file()} == {Path(rel).name for rel in files}


def test_a_file_that_changed_since_listing_is_failed_by_the_ordinary_copy_with_its_code(
    ftp_conns: None, sftp_root: Path, local_base: Path, ledger_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop gives the grown file up; the ordinary copy then refuses it as SOURCE_CHANGED, and the others move."""
    files = write_tree(sftp_root, 10, size=2000)
    make_readable(sftp_root)
    age(sftp_root)
    grown = next(iter(files))
    real_copy = ordinary_copy.copy_file
    copied: list[str] = []

    def copy_file(f: ClaimedFile, *args: Any, **kwargs: Any) -> Any:
        copied.append(f.source_path)
        return real_copy(f, *args, **kwargs)

    monkeypatch.setattr("filepool.transfer.worker.copy_file", copy_file)

    ftp_to_local(sftp_root, transfer=False)  # listed and registered with its size then
    with (sftp_root / grown).open("ab") as grow:
        grow.write(b"more")
    summary = ftp_to_local(sftp_root, discover=False, fail_on_file_errors=False)
    assert summary["files_transferred"] == len(files) - 1
    assert summary["errors"] == {"SOURCE_CHANGED": 1}
    assert copied == [str(sftp_root / grown)]
    assert not list(local_base.rglob("*.filepool.tmp"))


@pytest.mark.parametrize("fault", ["one download", "the loop"])
def test_a_fault_on_the_loop_costs_no_file(
    fault: str,
    ftp_conns: None,
    sftp_root: Path,
    local_base: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bug in handling one download gives that file to the ordinary copy; a bug in the loop itself stops it,
    and every file it held or had queued goes the ordinary way, as does what comes after."""
    from filepool.endpoints.ftp.loop import FTPDownloads

    caplog.set_level(logging.INFO)
    files = write_tree(sftp_root, 40, size=1500)
    make_readable(sftp_root)
    age(sftp_root)

    def bug(*args: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(FTPDownloads, "_on_data" if fault == "one download" else "_time_out", bug)
    summary = ftp_to_local(sftp_root, threads=8)
    assert summary["files_transferred"] == len(files) and summary["files_failed"] == 0
    assert tree_hashes(local_base / "incoming") == {rel: sha256(data) for rel, data in files.items()}
    assert not list(local_base.rglob("*.filepool.tmp"))
    stopped = "The FTP download loop stopped" in caplog.text
    assert stopped == (fault == "the loop")
