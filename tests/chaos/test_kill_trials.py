"""Twelve kill -9 trials at moments of a worker's life, on one route: nothing lost, nothing doubled.

Each trial starts a worker process and kills it with SIGKILL: three while it lists and registers (discovery),
six at random points while it transfers, three in the middle of a ledger commit of finished files. Between
trials nothing is cleaned by hand: the next worker's start-up clean-up and the maintenance steps must cope.
After the last trial one more worker runs to the end.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from filepool.ledger import Ledger
from filepool.operators.maintenance import RequeueExpiredLeasesOperator
from tests.helpers import REPO, age, bucket_contents, ledger_rows, maintenance_then_rerun, sha256, write_tree

pytestmark = pytest.mark.chaos
LEASE = 2


def completed(uri: str) -> int:
    return ledger_rows(uri, "SELECT count(*) FROM filepool_files WHERE status = 'COMPLETED'")[0][0]


def kill_when(worker: subprocess.Popen[bytes], ready: Any, timeout: float = 60) -> bool:
    """SIGKILL the worker once `ready()` holds; False if it ended before that."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and worker.poll() is None:
            if ready():
                os.kill(worker.pid, signal.SIGKILL)
                return True
            time.sleep(0.005)
        return False
    finally:
        if worker.poll() is None:
            os.kill(worker.pid, signal.SIGKILL)
        worker.wait()


def slow_commits(uri: str) -> None:
    """Make each batch of completions wait 1 s inside its statement (a trigger: `pg_sleep`), so a kill can land in
    the middle of it; PostgreSQL notices the dead client within 50 ms and rolls the batch back."""
    ledger_rows(
        uri,
        """
        CREATE FUNCTION filepool_test_slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF current_query() LIKE '%%bytes_transferred = done.bytes%%' THEN PERFORM pg_sleep(1); END IF;
            RETURN NULL;
        END $$""",
    )
    ledger_rows(
        uri,
        "CREATE TRIGGER slow_commit AFTER UPDATE ON filepool_files FOR EACH STATEMENT "
        "EXECUTE FUNCTION filepool_test_slow_commit()",
    )
    ledger_rows(uri, f"ALTER DATABASE {uri.rsplit('/', 1)[1]} SET client_connection_check_interval = '50ms'")


def test_twelve_kills_then_everything_exactly_once(
    conns: None,
    s3_server: Any,
    sftp_root: Path,
    bucket: str,
    s3_client: Any,
    ledger_uri: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW__FILEPOOL__LEASE_SECONDS", str(LEASE))
    # Twelve kills can land on one file's every attempt (the 40 MB one is claimed at each start and outlives each
    # worker): more than the five attempts after which a file whose worker keeps dying is failed WORKER_LOST (that
    # guard has its own test in test_ledger.py). Here every file must end COMPLETED.
    monkeypatch.setenv("AIRFLOW__FILEPOOL__MAX_ATTEMPTS", "20")
    monkeypatch.setenv("AIRFLOW__FILEPOOL__MULTIPART_THRESHOLD_MB", "8")
    monkeypatch.setenv("AIRFLOW__FILEPOOL__PART_SIZE_MB", "5")
    files = write_tree(sftp_root, 1500, size=30_000)
    (sftp_root / "large.bin").write_bytes(os.urandom(40 * 1024 * 1024))  # a multipart upload among them
    files["large.bin"] = (sftp_root / "large.bin").read_bytes()
    age(sftp_root)
    Ledger(lambda: psycopg2.connect(ledger_uri), "test").migrate()  # so the trials can watch the tables
    rnd = random.Random(int(os.environ.get("FILEPOOL_CHAOS_SEED", "20261123")))
    outcomes = []

    def start(*extra: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.run_worker", str(sftp_root), bucket, "8", *extra],
            cwd=REPO,
            env=dict(os.environ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    for trial in range(12):
        if trial == 9:
            slow_commits(ledger_uri)
        # Each kill is aimed by progress, never by time: at a count of rows the worker has not reached yet and
        # will pass well before its end, whatever the machine's speed.
        if trial < 3:  # during discovery: as soon as some more, but not all, files are registered
            registered = ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_files")[0][0]
            target = registered + rnd.randint(1, max(1, (len(files) - registered) // 3))
            worker = start("discover")
            killed = kill_when(
                worker, lambda t=target: ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_files")[0][0] >= t
            )
            outcomes.append(("discovery", killed))
        elif trial >= 9:  # during a ledger commit of finished files (written, durable, not yet COMPLETED)
            worker = start()
            killed = kill_when(
                worker,
                lambda: (
                    ledger_rows(ledger_uri, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'")[0][0]
                    > 0
                ),
            )
            outcomes.append(("commit", killed))
        else:  # during transfers, after a random number of files
            done_before = completed(ledger_uri)
            target = done_before + rnd.randint(1, max(1, min(150, (len(files) - done_before) // 4)))
            worker = start()
            killed = kill_when(worker, lambda t=target: completed(ledger_uri) >= t)
            outcomes.append(("transfer", killed))
        time.sleep(LEASE + 0.2)  # what the dead worker held expires; the next worker takes it back
        RequeueExpiredLeasesOperator(task_id="requeue").execute({})

    ledger_rows(ledger_uri, "DROP TRIGGER slow_commit ON filepool_files")
    final = maintenance_then_rerun(sftp_root, bucket)

    in_place = ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_files WHERE attempts > 1 AND write_seconds = 0")
    print(
        f"trials: {outcomes}; the last run moved {final['files_transferred']} files; "
        f"{in_place[0][0]} files found already written by a killed worker were recorded without a second write"
    )
    assert sum(killed for _, killed in outcomes) >= 10, outcomes  # the kills really landed mid-run
    assert [killed for kind, killed in outcomes if kind == "commit"] == [True] * 3, outcomes
    assert ledger_rows(ledger_uri, "SELECT status, count(*) FROM filepool_files GROUP BY status") == [
        ("COMPLETED", len(files))
    ]
    assert bucket_contents(s3_client, bucket, "in/") == {rel: sha256(data) for rel, data in files.items()}
    assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    once = ledger_rows(
        ledger_uri,
        "SELECT count(*) FROM (SELECT file_id FROM filepool_file_events "
        "WHERE event = 'completed' GROUP BY file_id HAVING count(*) > 1) twice",
    )
    assert once == [(0,)]
    # Counted by the S3 server itself: no object was stored twice, not even one whose write landed just before
    # its worker was killed (the next worker finds it in place, compares it, and does not write it again).
    writes = {key: n for key, n in s3_server.object_writes(bucket).items() if key.startswith("in/")}
    assert writes == {f"in/{rel}": 1 for rel in files}, {k: n for k, n in writes.items() if n != 1}
