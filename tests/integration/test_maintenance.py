"""The maintenance steps against real servers: each removes what it should and nothing else."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from filepool.exceptions import FilepoolError
from filepool.ledger import Completion, DiscoveredFile, Ledger
from filepool.operators.maintenance import (
    AbortStaleUploadsOperator,
    PruneLedgerOperator,
    RemoveTempFilesOperator,
    RequeueExpiredLeasesOperator,
)
from tests.helpers import age, bucket_contents, ledger_rows, sftp_to_s3, sha256, write_tree

pytestmark = pytest.mark.integration
DAY = 86400


def backdate(path: Path, seconds: float) -> None:
    st = path.stat()
    os.utime(path, (st.st_atime - seconds, st.st_mtime - seconds))


def ledger(uri: str) -> Ledger:
    lg = Ledger(lambda: psycopg2.connect(uri), "test")
    lg.migrate()
    return lg


def test_expired_leases_go_back_with_an_event(ledger_uri: str) -> None:
    lg = ledger(ledger_uri)
    lg.register("job", [DiscoveredFile(f"/f{i}", 1, 1.0, f"f{i}") for i in range(3)])
    lg.claim_batch("job", 3, lease_seconds=0.01)
    time.sleep(0.05)
    assert RequeueExpiredLeasesOperator(task_id="r").execute({}) == {"requeued": 3, "worker_lost": 0}
    assert ledger_rows(ledger_uri, "SELECT DISTINCT status FROM filepool_files") == [("DISCOVERED",)]
    assert ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_file_events WHERE event = 'lease_expired'") == [(3,)]


def test_old_temporary_files_are_removed_and_nothing_else(
    local_base: Path, ftp_conns: None, ftp_upload_root: Path
) -> None:
    old, young, data = (
        local_base / "a" / ".x.bin.1.filepool.tmp",
        local_base / ".y.bin.2.filepool.tmp",
        local_base / "a" / "x.bin",
    )
    old.parent.mkdir()
    for p in (old, young, data):
        p.write_bytes(b"1")
    backdate(old, DAY)
    backdate(data, DAY)
    ftp_old, ftp_young = ftp_upload_root / "in" / ".z.bin.3.filepool.tmp", ftp_upload_root / ".w.bin.4.filepool.tmp"
    ftp_old.parent.mkdir()
    for p in (ftp_old, ftp_young):
        p.write_bytes(b"1")
        os.chown(p, ftp_upload_root.stat().st_uid, -1)
    os.chown(ftp_old.parent, ftp_upload_root.stat().st_uid, -1)
    backdate(ftp_old, DAY)

    result = RemoveTempFilesOperator(
        task_id="t",
        local_conn_ids=["filepool_local"],
        ftp_folders=[{"ftp_conn_id": "filepool_ftp", "path": str(ftp_upload_root)}],
        older_than_hours=6,
    ).execute({})

    assert sorted(result["removed"]) == sorted([str(old), str(ftp_old)])
    assert not old.exists() and not ftp_old.exists()
    assert young.exists() and data.exists() and ftp_young.exists()


def test_only_filepools_stale_uploads_are_aborted_and_never_one_a_live_row_owns(
    conns: None, bucket: str, s3_client: Any, ledger_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three stale uploads in one bucket: filepool's whose file is still to move (kept: it resumes), filepool's
    whose file moved since (aborted), and another application's (never touched)."""
    monkeypatch.setenv("AIRFLOW__FILEPOOL__LEASE_SECONDS", "1")  # so that an upload 2 s old may be stale
    owned = s3_client.create_multipart_upload(Bucket=bucket, Key="owned.bin")["UploadId"]
    stale = s3_client.create_multipart_upload(Bucket=bucket, Key="stale.bin")["UploadId"]
    foreign = s3_client.create_multipart_upload(Bucket=bucket, Key="theirs.bin")["UploadId"]
    lg = ledger(ledger_uri)
    lg.register("job", [DiscoveredFile(f"/{name}", 1, 1.0, name) for name in ("owned.bin", "stale.bin")])
    claimed = {f.destination: f for f in lg.claim_batch("job", 2, 60).files}
    assert lg.set_upload_id(claimed["owned.bin"], owned) and lg.set_upload_id(claimed["stale.bin"], stale)
    lg.complete([Completion(claimed["stale.bin"].id, 1, 1, "ab", "sha256", None, 0, 0, 0)])
    time.sleep(2.1)

    result = AbortStaleUploadsOperator(
        task_id="a", aws_conn_id="filepool_minio", buckets=[bucket], older_than_hours=0.0005
    ).execute({})

    assert [u["upload_id"] for u in result["aborted"]] == [stale]
    left = {u["UploadId"] for u in s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])}
    assert left == {owned, foreign}


@pytest.mark.parametrize("operator", ["uploads", "temporary files"])
def test_an_age_limit_shorter_than_a_lease_is_refused(operator: str, ledger_uri: str) -> None:
    """0 hours would abort uploads and delete temporary files of transfers still running."""
    op = (
        AbortStaleUploadsOperator(task_id="a", buckets=["test-x"], older_than_hours=0)
        if operator == "uploads"
        else RemoveTempFilesOperator(task_id="t", local_conn_ids=[], older_than_hours=0)
    )
    with pytest.raises(FilepoolError) as err:
        op.execute({})
    assert err.value.code == "INVALID_CONFIG" and "at least one lease" in err.value.message


def test_retention_prunes_old_completed_rows_only(ledger_uri: str) -> None:
    lg = ledger(ledger_uri)
    lg.register("job", [DiscoveredFile(f"/f{i}", 1, 1.0, f"f{i}") for i in range(4)])
    conn = psycopg2.connect(ledger_uri)
    with conn, conn.cursor() as cur:
        cur.execute(
            "UPDATE filepool_files SET status = 'COMPLETED', completed_at = now() - interval '100 days' "
            "WHERE source_path IN ('/f0', '/f1')"
        )
        cur.execute("UPDATE filepool_files SET status = 'COMPLETED', completed_at = now() WHERE source_path = '/f2'")
    conn.close()
    assert PruneLedgerOperator(task_id="p", retention_days=90).execute({}) == {"pruned": 2}
    assert ledger_rows(ledger_uri, "SELECT source_path, status FROM filepool_files ORDER BY source_path") == [
        ("/f2", "COMPLETED"),
        ("/f3", "DISCOVERED"),
    ]
    assert ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_moved") == [(2,)]
    assert ledger_rows(
        ledger_uri,
        "SELECT count(*) FROM filepool_file_events e LEFT JOIN filepool_files f ON f.id = e.file_id WHERE f.id IS NULL",
    ) == [(0,)]


def test_retention_then_the_hourly_run_moves_nothing_again(
    conns: None, s3_server: Any, sftp_root: Path, bucket: str, s3_client: Any, ledger_uri: str
) -> None:
    """Retention at 0 days, then the transfer again with every source file still there: nothing is registered,
    claimed or written a second time (writes counted in SeaweedFS's own log); a file replaced since is moved."""

    files = write_tree(sftp_root, 30, size=2000)
    age(sftp_root)

    def hourly() -> dict[str, Any]:
        return sftp_to_s3(sftp_root, bucket).execute({})

    assert hourly()["files_transferred"] == 30
    assert PruneLedgerOperator(task_id="p", retention_days=0).execute({}) == {"pruned": 30}
    again = hourly()
    assert again["files_transferred"] == 0 and again["discovery"]["registered"] == 0
    assert ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_files") == [(0,)]
    replaced = sorted(files)[0]
    (sftp_root / replaced).write_bytes(b"a new version")
    backdate(sftp_root / replaced, 3600)
    assert hourly()["files_transferred"] == 1
    writes = {key: n for key, n in s3_server.object_writes(bucket).items() if key.startswith("in/")}
    assert writes == {f"in/{rel}": 2 if rel == replaced else 1 for rel in files}
    assert bucket_contents(s3_client, bucket, "in/")[replaced] == sha256(b"a new version")


def test_a_temporary_file_of_a_live_claim_is_kept_however_old(local_base: Path, ledger_uri: str) -> None:
    lg = ledger(ledger_uri)
    lg.register("job", [DiscoveredFile(f"/f{i}", 1, 1.0, f"f{i}.bin") for i in range(2)])
    live, dead = lg.claim_batch("job", 2, lease_seconds=600).files
    ledger_rows(
        ledger_uri, "UPDATE filepool_files SET lease_until = now() - interval '1 second' WHERE id = %s", (dead.id,)
    )
    kept = local_base / f".f0.bin.{live.id}-{live.attempts}.0a1b2c.filepool.tmp"  # still being written
    gone = local_base / f".f1.bin.{dead.id}-{dead.attempts}.0a1b2c.filepool.tmp"  # its worker is gone
    earlier = local_base / f".f0.bin.{live.id}-{live.attempts - 1}.0a1b2c.filepool.tmp"  # an earlier attempt's
    for p in (kept, gone, earlier):
        p.write_bytes(b"1")
        backdate(p, DAY)
    result = RemoveTempFilesOperator(task_id="t", local_conn_ids=["filepool_local"], older_than_hours=6).execute({})
    assert sorted(result["removed"]) == sorted([str(gone), str(earlier)])
    assert kept.exists()
