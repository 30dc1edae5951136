"""A file whose write landed but whose COMPLETED record did not (a worker killed in between) is not written again.

The writes are counted by the servers themselves: SeaweedFS's own log of stored objects, the inode of local files.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest

from filepool.operators import FTPToLocalOperator
from tests.helpers import age, bucket_contents, ledger_rows, make_readable, sftp_to_s3, sha256, write_tree

pytestmark = pytest.mark.integration
MIB = 1024 * 1024


def lose_completions(uri: str) -> None:
    """What a kill between the destination write and the ledger commit leaves: rows still IN_PROGRESS with an
    expired lease, then put back in the queue by the clean-up every worker runs at its start."""
    ledger_rows(
        uri,
        "UPDATE filepool_files SET status = 'IN_PROGRESS', lease_until = now() - interval '1 second', "
        "claimed_by = 'killed'",
    )


@pytest.fixture(autouse=True)
def small_parts(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("AIRFLOW__FILEPOOL__MULTIPART_THRESHOLD_MB", "8")
    monkeypatch.setenv("AIRFLOW__FILEPOOL__PART_SIZE_MB", "5")
    caplog.set_level(logging.INFO)


def test_objects_already_stored_are_not_put_again(
    conns: None,
    s3_server: Any,
    sftp_root: Path,
    bucket: str,
    s3_client: Any,
    ledger_uri: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    files = write_tree(sftp_root, 40, size=5000)
    files["large.bin"] = os.urandom(12 * MIB)  # 3 parts: a multipart upload
    (sftp_root / "large.bin").write_bytes(files["large.bin"])
    make_readable(sftp_root)
    age(sftp_root)

    def run() -> dict[str, Any]:
        return sftp_to_s3(sftp_root, bucket).execute({})

    assert run()["files_transferred"] == len(files)
    lose_completions(ledger_uri)
    # One object changed behind our back: it must be written again, the others not.
    s3_client.put_object(Bucket=bucket, Key="in/d0/plain 00000.bin", Body=b"x" * len(files["d0/plain 00000.bin"]))

    again = run()
    assert again["files_transferred"] == len(files) and again["files_failed"] == 0
    writes = {key: n for key, n in s3_server.object_writes(bucket).items() if key.startswith("in/")}
    assert writes["in/d0/plain 00000.bin"] == 3  # ours, the tampering, ours again
    assert {key: n for key, n in writes.items() if key != "in/d0/plain 00000.bin"} == {
        f"in/{rel}": 1 for rel in files if rel != "d0/plain 00000.bin"
    }
    assert bucket_contents(s3_client, bucket, "in/") == {rel: sha256(data) for rel, data in files.items()}
    assert ledger_rows(ledger_uri, "SELECT status, count(*), min(attempts) FROM filepool_files GROUP BY status") == [
        ("COMPLETED", len(files), 2)
    ]
    assert sum("recorded without writing it again" in r.getMessage() for r in caplog.records) == len(files) - 1


def test_local_files_already_in_place_are_not_written_again(
    ftp_conns: None, sftp_root: Path, local_base: Path, ledger_uri: str
) -> None:
    files = write_tree(sftp_root, 30, size=3000)
    make_readable(sftp_root)
    age(sftp_root)

    def run() -> dict[str, Any]:
        return FTPToLocalOperator(
            task_id="t",
            ftp_conn_id="filepool_ftp",
            local_conn_id="filepool_local",
            source_path=str(sftp_root),
            dest_path="in",
            threads=4,
        ).execute({})

    assert run()["files_transferred"] == len(files)
    inodes = {p: p.stat().st_ino for p in (local_base / "in").rglob("*") if p.is_file()}
    lose_completions(ledger_uri)
    changed = local_base / "in" / "d0" / "plain 00000.bin"
    changed.write_bytes(b"y" * changed.stat().st_size)  # same size, other bytes: written again

    assert run()["files_transferred"] == len(files)
    now = {p: p.stat().st_ino for p in (local_base / "in").rglob("*") if p.is_file()}
    assert {p for p in now if now[p] != inodes[p]} == {changed}
    assert {str(p.relative_to(local_base / "in")): sha256(p.read_bytes()) for p in now} == {
        rel: sha256(data) for rel, data in files.items()
    }
