"""FTP task messages through FTPTaskMessagesOperator: one bad message among good ones, each case its own
error code; nothing is written outside the base path and the rest of the batch still moves."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from filepool.exceptions import TransferFailed
from filepool.operators import FTPTaskMessagesOperator
from tests.helpers import StandInTaskInstance, age, ftp_conn, ledger_rows, make_readable, sha256
from tests.servers.pyftpd import serving_as_filepool_ftp

pytestmark = pytest.mark.integration
GOOD = 5


@pytest.fixture
def outside() -> Iterator[Path]:
    """A folder next to the base path: nothing may ever appear in it."""
    path = Path(tempfile.mkdtemp(prefix="filepool-outside-"))
    yield path
    subprocess.run(["rm", "-rf", str(path)])


@pytest.fixture
def remote_files(sftp_root: Path) -> dict[str, bytes]:
    files = {f"remote/file {i}.bin": os.urandom(3000 + i) for i in range(GOOD + 1)}
    files["remote/big.bin"] = os.urandom(3 * 1024 * 1024)
    for rel, data in files.items():
        (sftp_root / rel).parent.mkdir(parents=True, exist_ok=True)
        (sftp_root / rel).write_bytes(data)
    make_readable(sftp_root)
    age(sftp_root)
    return files


def good_messages(sftp_root: Path) -> list[dict[str, Any]]:
    return [
        {
            "task_id": f"good-{i}",
            "src_id": "filepool_ftp",
            "src_path": f"{sftp_root}/remote/file {i}.bin",
            "dst_id": "filepool_local",
            "dst_path": f"good/file {i}.bin",
            "metadata": {"n": i},
        }
        for i in range(GOOD)
    ]


def run(messages: list[dict[str, Any]]) -> tuple[dict[str, Any], TransferFailed | None]:
    op = FTPTaskMessagesOperator(task_id="messages", tasks=messages, threads=4)
    ti = StandInTaskInstance("messages")
    try:
        return op.execute({"ti": ti}), None
    except TransferFailed as exc:
        return ti.pushed["summary"], exc


def check_good_ones(summary: dict[str, Any], local_base: Path, files: dict[str, bytes]) -> None:
    ok = {r["task_id"]: r for r in summary["results"]}
    assert set(ok) == {f"good-{i}" for i in range(GOOD)}
    for i in range(GOOD):
        assert sha256((local_base / f"good/file {i}.bin").read_bytes()) == sha256(files[f"remote/file {i}.bin"])
        assert ok[f"good-{i}"]["bytes_transferred"] == len(files[f"remote/file {i}.bin"])
        assert set(ok[f"good-{i}"]) == {
            "task_id",
            "status",
            "src_id",
            "src_path",
            "dst_id",
            "dst_path",
            "bytes_transferred",
            "duration_ms",
            "timestamp",
        }
    assert not list(local_base.rglob("*.filepool.tmp"))


def the_failure(summary: dict[str, Any]) -> dict[str, Any]:
    assert len(summary["failures"]) == 1, summary["failures"]
    return summary["failures"][0]


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("dotdot_destination", "PATH_OUTSIDE_BASE"),
        ("absolute_destination_outside", "PATH_OUTSIDE_BASE"),
        ("symlink_to_outside", "PATH_OUTSIDE_BASE"),
        ("both_local", "INVALID_CONFIG"),
        ("both_remote", "INVALID_CONFIG"),
        ("unknown_connection", "INVALID_CONFIG"),
        ("missing_field", "INVALID_CONFIG"),
        ("missing_source", "FILE_NOT_FOUND"),
    ],
)
def test_one_bad_message_among_good_ones(
    case: str,
    code: str,
    ftp_conns: None,
    ftp_server: Any,
    sftp_root: Path,
    local_base: Path,
    outside: Path,
    remote_files: dict[str, bytes],
    ledger_uri: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    src = f"{sftp_root}/remote/file {GOOD}.bin"
    bad: dict[str, Any] = {
        "task_id": "bad",
        "src_id": "filepool_ftp",
        "src_path": src,
        "dst_id": "filepool_local",
        "dst_path": "elsewhere/x.bin",
    }
    if case == "dotdot_destination":
        bad["dst_path"] = f"../{outside.name}/x.bin"
    elif case == "absolute_destination_outside":
        bad["dst_path"] = str(outside / "x.bin")
    elif case == "symlink_to_outside":
        (local_base / "link").symlink_to(outside)
        bad["dst_path"] = "link/x.bin"
    elif case == "both_local":
        bad.update(src_id="filepool_local", src_path="good/anything")
    elif case == "both_remote":
        monkeypatch.setenv("AIRFLOW_CONN_OTHER_FTP", ftp_conn(ftp_server))
        bad.update(dst_id="other_ftp", dst_path="/tmp/x.bin")
    elif case == "unknown_connection":
        bad["dst_id"] = "no_such_connection"
    elif case == "missing_field":
        del bad["dst_path"]
    elif case == "missing_source":
        bad["src_path"] = f"{sftp_root}/remote/never existed.bin"

    summary, err = run([*good_messages(sftp_root), bad])

    assert err is not None and code in str(err)
    failure = the_failure(summary)
    assert failure["task_id"] == "bad" and failure["status"] == "failure" and failure["error_code"] == code
    assert failure["error_message"]
    check_good_ones(summary, local_base, remote_files)
    assert list(outside.iterdir()) == []
    assert not (local_base / "elsewhere").exists()
    rows = ledger_rows(ledger_uri, "SELECT error_code FROM filepool_files WHERE status = 'FAILED'")
    assert rows == [(code,)]


def test_full_disk_fails_that_file_alone(
    ftp_conns: None,
    sftp_root: Path,
    local_base: Path,
    remote_files: dict[str, bytes],
    ledger_uri: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tiny = Path(tempfile.mkdtemp(prefix="filepool-tiny-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(tiny)], capture_output=True)
    if mounted.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot mount a tiny filesystem: {mounted.stderr.decode()}")
        pytest.skip("mounting a tiny tmpfs needs root")
    try:
        monkeypatch.setenv("AIRFLOW_CONN_TINY", json.dumps({"conn_type": "fs", "extra": {"path": str(tiny)}}))
        bad = {
            "task_id": "bad",
            "src_id": "filepool_ftp",
            "src_path": f"{sftp_root}/remote/big.bin",
            "dst_id": "tiny",
            "dst_path": "big.bin",
        }
        summary, err = run([*good_messages(sftp_root), bad])
        assert err is not None and "DISK_FULL" in str(err)
        assert the_failure(summary)["error_code"] == "DISK_FULL"
        check_good_ones(summary, local_base, remote_files)
        assert list(tiny.iterdir()) == []  # no temporary file left behind
    finally:
        subprocess.run(["umount", str(tiny)])
        tiny.rmdir()


def test_wrong_password_fails_its_messages_alone(
    ftp_conns: None,
    ftp_server: Any,
    sftp_root: Path,
    local_base: Path,
    remote_files: dict[str, bytes],
    ledger_uri: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_BAD_FTP", ftp_conn(ftp_server).replace(ftp_server.password, "not-the-password"))
    bad = {
        "task_id": "bad",
        "src_id": "bad_ftp",
        "src_path": f"{sftp_root}/remote/file {GOOD}.bin",
        "dst_id": "filepool_local",
        "dst_path": "elsewhere/x.bin",
    }
    summary, _ = run([*good_messages(sftp_root), bad])
    assert the_failure(summary)["error_code"] == "AUTH_FAILED"
    check_good_ones(summary, local_base, remote_files)
    assert "not-the-password" not in json.dumps(summary)


def test_a_dropped_data_connection_resumes_and_completes(
    sftp_root: Path,
    local_base: Path,
    remote_files: dict[str, bytes],
    ledger_uri: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    with serving_as_filepool_ftp(sftp_root, monkeypatch, drop_once="big.bin"):
        messages = [
            {
                "task_id": "big",
                "src_id": "filepool_ftp",
                "src_path": "/remote/big.bin",
                "dst_id": "filepool_local",
                "dst_path": "big.bin",
            }
        ]
        summary, err = run(messages)
    assert err is None and summary["failures"] == []
    assert summary["results"][0]["bytes_transferred"] == 3 * 1024 * 1024
    assert sha256((local_base / "big.bin").read_bytes()) == sha256(remote_files["remote/big.bin"])
    attempts = ledger_rows(ledger_uri, "SELECT attempts FROM filepool_files WHERE source_path = '/remote/big.bin'")
    assert attempts == [(1,)]  # resumed within the attempt
    # the server cut it after 64 KiB; the download went on from there (REST), not from the start
    assert "Resuming /remote/big.bin at byte 65536 on a fresh session" in caplog.text
    # the log's phases fold in the Airflow UI (the summary, logged after them, is read in tests/system/test_browser.py)
    text = caplog.text
    assert text.index("::group::Ledger start-up") < text.index("::group::Transfer (progress every")
    assert text.index("::group::Transfer (") < text.index("Resuming /remote/big.bin") < text.rindex("::endgroup::")
    assert not list(local_base.rglob("*.filepool.tmp"))


def test_a_file_rewritten_while_its_download_was_cut_is_not_resumed(
    sftp_root: Path, local_base: Path, remote_files: dict[str, bytes], ledger_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server cuts the download after 64 KiB and the file is rewritten in place meanwhile (same size, a newer
    mtime): resuming would splice the new bytes onto the old. The download is not resumed: SOURCE_CHANGED, and
    nothing is written."""
    with serving_as_filepool_ftp(sftp_root, monkeypatch, drop_once="rewrite:big.bin"):
        message = {
            "task_id": "big",
            "src_id": "filepool_ftp",
            "src_path": "/remote/big.bin",
            "dst_id": "filepool_local",
            "dst_path": "big.bin",
        }
        summary, err = run([message])
    assert err is not None and the_failure(summary)["error_code"] == "SOURCE_CHANGED"
    assert "changed since discovery" in the_failure(summary)["error_message"]
    assert not (local_base / "big.bin").exists() and not list(local_base.rglob("*.filepool.tmp"))


def test_a_destination_named_like_a_temporary_file_is_refused(
    ftp_conns: None, sftp_root: Path, local_base: Path, remote_files: dict[str, bytes]
) -> None:
    """The temporary-file sweep deletes `*.filepool.tmp` files no live claim writes: a delivered file of that name
    would be deleted by it."""
    summary, err = run(
        [
            {
                "task_id": "tmp",
                "src_id": "filepool_ftp",
                "src_path": f"{sftp_root}/remote/file 0.bin",
                "dst_id": "filepool_local",
                "dst_path": "out/x.filepool.tmp",
            }
        ]
    )
    assert err is not None and the_failure(summary)["error_code"] == "INVALID_CONFIG"
    assert "temporary suffix" in the_failure(summary)["error_message"]
    assert not list(local_base.rglob("*"))


def test_one_source_sent_to_two_destinations_writes_both(
    ftp_conns: None, sftp_root: Path, local_base: Path, remote_files: dict[str, bytes], ledger_uri: str
) -> None:
    """The destination is part of a message's identity: a second destination of the same source version is a
    transfer of its own, and a message reports success only when its own destination holds the bytes."""
    src = f"{sftp_root}/remote/file 0.bin"
    expected = sha256(remote_files["remote/file 0.bin"])

    def message(task_id: str, dst: str) -> dict[str, Any]:
        return {
            "task_id": task_id,
            "src_id": "filepool_ftp",
            "src_path": src,
            "dst_id": "filepool_local",
            "dst_path": dst,
        }

    summary, err = run([message("a", "copies/a.bin"), message("b", "copies/b.bin")])
    assert err is None and {r["task_id"] for r in summary["results"]} == {"a", "b"}
    later, err = run([message("a-again", "copies/a.bin"), message("c", "copies/c.bin")])
    assert err is None and {r["task_id"] for r in later["results"]} == {"a-again", "c"}
    for name in ("a", "b", "c"):
        assert sha256((local_base / f"copies/{name}.bin").read_bytes()) == expected
    rows = ledger_rows(
        ledger_uri, "SELECT destination, attempts FROM filepool_files WHERE status = 'COMPLETED' ORDER BY destination"
    )
    assert rows == [("copies/a.bin", 1), ("copies/b.bin", 1), ("copies/c.bin", 1)]  # a-again moved nothing


@pytest.mark.parametrize("bad_path", ["with\x00nul.bin", "with\nnewline.bin", "with\rreturn.bin"])
@pytest.mark.parametrize("side", ["src_path", "dst_path"])
def test_a_nul_or_line_break_in_a_path_fails_that_message_alone(
    side: str,
    bad_path: str,
    ftp_conns: None,
    sftp_root: Path,
    local_base: Path,
    remote_files: dict[str, bytes],
    ledger_uri: str,
) -> None:
    bad: dict[str, Any] = {
        "task_id": "bad",
        "src_id": "filepool_ftp",
        "src_path": f"{sftp_root}/remote/file 5.bin",
        "dst_id": "filepool_local",
        "dst_path": "elsewhere/x.bin",
    }
    bad[side] = f"{sftp_root}/remote/{bad_path}" if side == "src_path" else f"elsewhere/{bad_path}"
    summary, err = run([*good_messages(sftp_root), bad])
    assert err is not None and "INVALID_CONFIG" in str(err)
    failure = the_failure(summary)
    assert failure["task_id"] == "bad" and failure["error_code"] == "INVALID_CONFIG"
    assert "NUL or line break" in failure["error_message"]
    check_good_ones(summary, local_base, remote_files)
    assert not (local_base / "elsewhere").exists()
    rows = ledger_rows(
        ledger_uri, "SELECT source_path, destination, error_code FROM filepool_files WHERE status = 'FAILED'"
    )
    assert len(rows) == 1 and rows[0][2] == "INVALID_CONFIG"
    assert "\x00" not in rows[0][0] + rows[0][1]  # the ledger keeps a NUL as %00


def test_max_sessions_total_bounds_the_task_below_the_per_connection_limit(
    sftp_root: Path, local_base: Path, ledger_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(40):
        (sftp_root / f"m{i}.bin").write_bytes(os.urandom(20_000))
    make_readable(sftp_root)
    with serving_as_filepool_ftp(sftp_root, monkeypatch) as server:
        monkeypatch.setenv("AIRFLOW__FILEPOOL__MAX_SESSIONS_PER_CONNECTION", "8")
        monkeypatch.setenv("AIRFLOW__FILEPOOL__MAX_SESSIONS_TOTAL", "2")
        messages = [
            {
                "task_id": f"m{i}",
                "src_id": "filepool_ftp",
                "src_path": f"/m{i}.bin",
                "dst_id": "filepool_local",
                "dst_path": f"m/m{i}.bin",
            }
            for i in range(40)
        ]
        summary, err = run(messages)
        _, peak, _ = server.counts()
    assert err is None and len(summary["results"]) == 40
    assert {p.name for p in (local_base / "m").iterdir()} == {f"m{i}.bin" for i in range(40)}
    assert 1 <= peak <= 2, peak


def test_the_xcom_stays_bounded_and_every_result_is_in_the_ledger(
    ftp_conns: None,
    sftp_root: Path,
    local_base: Path,
    remote_files: dict[str, bytes],
    ledger_uri: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from filepool.operators import task_messages

    monkeypatch.setattr(task_messages, "XCOM_RESULTS", 2)
    summary, err = run(good_messages(sftp_root))
    assert err is None
    assert (summary["succeeded"], summary["failed"], summary["truncated"]) == (GOOD, 0, True)
    assert len(summary["results"]) == 2 and "in the ledger" in summary["the_rest"]
    rows = ledger_rows(
        ledger_uri, "SELECT metadata->>'task_id', status FROM filepool_files WHERE metadata ? 'task_id' ORDER BY 1"
    )
    assert rows == [(f"good-{i}", "COMPLETED") for i in range(GOOD)]
