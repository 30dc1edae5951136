"""SFTPToMinIOOperator against real sshd, SeaweedFS and PostgreSQL: bytes, checksums, ledger rows, log lines."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from filepool.exceptions import TransferFailed
from filepool.operators import SFTPToMinIOOperator
from tests.helpers import (
    SECRETS,
    age,
    aws_conn,
    bucket_contents,
    deep_tree,
    ledger_rows,
    make_readable,
    not_utf8_name,
    sftp_conn,
    sftp_to_s3,
    sha256,
    write_tree,
)
from tests.servers.process import free_port

pytestmark = pytest.mark.integration
MIB = 1024 * 1024


def operator(root: Path, bucket: str, **kwargs: Any) -> SFTPToMinIOOperator:
    op: SFTPToMinIOOperator = sftp_to_s3(
        root, bucket, **{"threads": 8, "settle_seconds": 1, "min_age_seconds": 60, **kwargs}
    )
    return op


def assert_no_secrets(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def statuses(uri: str) -> dict[str, int]:
    return dict(ledger_rows(uri, "SELECT status, count(*) FROM filepool_files GROUP BY status"))


def errors(uri: str) -> str:
    return " ".join(str(r) for r in ledger_rows(uri, "SELECT error_code, error_message FROM filepool_files"))


@pytest.fixture(autouse=True)
def fast_settings(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("AIRFLOW__FILEPOOL__MULTIPART_THRESHOLD_MB", "8")
    monkeypatch.setenv("AIRFLOW__FILEPOOL__PART_SIZE_MB", "5")
    monkeypatch.setenv("AIRFLOW__FILEPOOL__RETRY_BACKOFF_SECONDS", "0")
    caplog.set_level(logging.DEBUG)


def test_moves_every_file_verified_and_never_twice(
    conns: None, sftp_root: Path, bucket: str, s3_client: Any, ledger_uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    files = write_tree(sftp_root, 120, size=3000)
    files["empty file"] = b""
    files["big/large file ü.bin"] = os.urandom(21 * MIB)  # 5 parts of 5 MiB: a multipart upload
    for rel, data in list(files.items())[-2:]:
        (sftp_root / rel).parent.mkdir(exist_ok=True)
        (sftp_root / rel).write_bytes(data)
    make_readable(sftp_root)
    age(sftp_root)

    first = operator(sftp_root, bucket).execute({})
    assert first["files_transferred"] == len(files) and first["files_failed"] == 0
    assert bucket_contents(s3_client, bucket, "in/") == {rel: sha256(data) for rel, data in files.items()}
    big = s3_client.head_object(Bucket=bucket, Key="in/big/large file ü.bin")
    assert big["ETag"].strip('"').endswith("-5")
    rows = ledger_rows(ledger_uri, "SELECT source_path, status, checksum, bytes_transferred FROM filepool_files")
    assert {(r[0][len(str(sftp_root)) + 1 :], r[1], r[2], r[3]) for r in rows} == {
        (rel, "COMPLETED", sha256(data), len(data)) for rel, data in files.items()
    }
    assert "transferred and verified" in caplog.text

    second = operator(sftp_root, bucket).execute({})
    assert second["discovery"]["registered"] == 0 and second["files_transferred"] == 0
    assert ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_file_events WHERE event = 'completed'") == [
        (len(files),)
    ]
    assert_no_secrets(caplog.text)


def test_a_growing_file_waits_until_it_stops_changing(
    conns: None, sftp_root: Path, bucket: str, s3_client: Any, ledger_uri: str
) -> None:
    write_tree(sftp_root, 5)
    age(sftp_root)
    growing = sftp_root / "growing.log"
    growing.write_bytes(b"start\n")
    make_readable(sftp_root)
    stop = threading.Event()

    def append() -> None:
        while not stop.is_set():
            with growing.open("ab") as f:
                f.write(os.urandom(1000))
            time.sleep(0.1)

    writer = threading.Thread(target=append)
    writer.start()
    try:
        time.sleep(0.3)
        first = operator(sftp_root, bucket).execute({})
    finally:
        stop.set()
        writer.join()
    assert first["discovery"]["still_changing"] == 1
    assert first["files_transferred"] == 5
    assert "growing.log" not in bucket_contents(s3_client, bucket, "in/")

    time.sleep(1.1)  # the mtime must be older than the last append by the settle time, in whole seconds
    second = operator(sftp_root, bucket).execute({})
    assert second["files_transferred"] == 1
    assert bucket_contents(s3_client, bucket, "in/")["growing.log"] == sha256(growing.read_bytes())


def test_a_vanished_file_fails_alone_with_file_not_found(
    conns: None, sftp_root: Path, bucket: str, s3_client: Any, ledger_uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    files = write_tree(sftp_root, 30)
    age(sftp_root)
    operator(sftp_root, bucket, transfer=False).execute({})
    victim = sorted(files)[0]
    (sftp_root / victim).unlink()
    with pytest.raises(TransferFailed) as err:
        operator(sftp_root, bucket, discover=False).execute({})
    assert "FILE_NOT_FOUND" in str(err.value)
    assert statuses(ledger_uri) == {"COMPLETED": 29, "FAILED": 1}
    assert ledger_rows(ledger_uri, "SELECT error_code, next_attempt_at FROM filepool_files WHERE status='FAILED'") == [
        ("FILE_NOT_FOUND", None)
    ]
    assert "FILE_NOT_FOUND" in caplog.text and victim in caplog.text
    assert len(bucket_contents(s3_client, bucket, "in/")) == 29


def other_host_key() -> str:
    key = asyncssh.generate_private_key("ssh-ed25519")
    return key.export_public_key().decode().strip()


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("wrong_password", "AUTH_FAILED"),
        ("unknown_host_key", "HOST_KEY_UNKNOWN"),
        ("unreachable_s3", "CONNECTION_ERROR"),
    ],
)
def test_endpoint_failures_get_their_code_and_nothing_is_lost(
    case: str,
    code: str,
    conns: None,
    sshd_server: Any,
    s3_server: Any,
    sftp_root: Path,
    bucket: str,
    s3_client: Any,
    ledger_uri: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    files = write_tree(sftp_root, 40)
    age(sftp_root)
    operator(sftp_root, bucket, transfer=False).execute({})
    # The route is named by connection ids: point one of them at bad settings for one run, then fix it.
    env, bad = {
        "wrong_password": ("AIRFLOW_CONN_FILEPOOL_SFTP", sftp_conn(sshd_server, password="not-the-password")),
        "unknown_host_key": (
            "AIRFLOW_CONN_FILEPOOL_SFTP",
            sftp_conn(sshd_server, extra={"host_key": other_host_key()}),
        ),
        "unreachable_s3": ("AIRFLOW_CONN_FILEPOOL_MINIO", aws_conn(f"http://127.0.0.1:{free_port()}")),
    }[case]
    good = os.environ[env]
    monkeypatch.setenv(env, bad)

    with pytest.raises(TransferFailed) as err:
        operator(sftp_root, bucket, discover=False).execute({})
    assert code in str(err.value)
    failed = ledger_rows(ledger_uri, "SELECT DISTINCT error_code FROM filepool_files WHERE status = 'FAILED'")
    assert failed == [(code,)]
    assert f"Failed {sftp_root}" in caplog.text and code in caplog.text
    assert statuses(ledger_uri).get("COMPLETED", 0) == 0

    monkeypatch.setenv(env, good)  # the connection is fixed: the next run moves everything
    operator(sftp_root, bucket, discover=False).execute({})
    assert statuses(ledger_uri) == {"COMPLETED": len(files)}
    assert len(bucket_contents(s3_client, bucket, "in/")) == len(files)
    assert_no_secrets(caplog.text, errors(ledger_uri), str(err.value))


def test_an_unreadable_folder_and_a_tree_past_the_depth_limit_cost_only_themselves(
    conns: None, sftp_root: Path, bucket: str, s3_client: Any, ledger_uri: str
) -> None:
    files = write_tree(sftp_root, 15, size=700)
    locked = sftp_root / "locked"
    locked.mkdir()
    (locked / "secret.bin").write_bytes(b"x")
    deep_tree(sftp_root)
    make_readable(sftp_root)
    locked.chmod(0o700)  # root's: the SFTP login cannot list it
    age(sftp_root)
    summary = operator(sftp_root, bucket, min_age_seconds=0, settle_seconds=0).execute({})
    assert summary["files_transferred"] == 15 and summary["discovery"]["rejected"] == 2
    assert bucket_contents(s3_client, bucket, "in/") == {rel: sha256(d) for rel, d in files.items()}
    rows = ledger_rows(
        ledger_uri,
        "SELECT error_code, source_path, error_message FROM filepool_files "
        "WHERE status = 'FAILED' ORDER BY source_path",
    )
    assert [(code, path.rsplit("/", 1)[-1]) for code, path, _ in rows] == [
        ("LISTING_ERROR", "l63"),
        ("LISTING_ERROR", "locked"),
    ]  # deep/l0/.../l62 is 64 folders deep
    assert "could not be listed" in rows[1][2] and "more than 64 folders deep" in rows[0][2]


def test_a_name_that_is_not_utf8_is_moved_under_its_percent_encoded_name(
    conns: None, sftp_root: Path, bucket: str, s3_client: Any, ledger_uri: str
) -> None:
    files = write_tree(sftp_root, 10, size=700)
    not_utf8_name(sftp_root)  # latin1/caf\xe9.csv, holding b"x"
    make_readable(sftp_root)
    age(sftp_root)
    summary = operator(sftp_root, bucket, min_age_seconds=0, settle_seconds=0).execute({})
    assert summary["files_transferred"] == 11 and summary["discovery"]["rejected"] == 0
    expected = {rel: sha256(d) for rel, d in files.items()} | {"latin1/caf%E9.csv": sha256(b"x")}
    assert bucket_contents(s3_client, bucket, "in/") == expected
    [(path, exact)] = ledger_rows(
        ledger_uri, "SELECT source_path, source_bytes FROM filepool_files WHERE source_bytes IS NOT NULL"
    )
    assert path == f"{sftp_root}/latin1/caf%E9.csv" and bytes(exact) == os.fsencode(sftp_root) + b"/latin1/caf\xe9.csv"
    assert operator(sftp_root, bucket, min_age_seconds=0, settle_seconds=0).execute({})["files_transferred"] == 0
