"""Kill a transfer task with SIGKILL under a real Airflow scheduler, clear it as a user would in the UI, and the
job ends with every file at the destination once - counted by the S3 server itself."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import age, bucket_contents, completed_files, ledger_rows, sha256, write_tree
from tests.servers.airflow import AirflowCluster

pytestmark = pytest.mark.system
DAG = "filepool_sftp_to_minio"


def test_a_killed_task_cleared_in_airflow_finishes_the_job(
    conns: None, postgres_server: Any, s3_server: Any, sftp_root: Path, bucket: str, s3_client: Any, ledger_uri: str
) -> None:
    files = write_tree(sftp_root, 2500, size=20_000)
    age(sftp_root)
    cluster = AirflowCluster(postgres_server, dict(os.environ), dags=("filepool_sftp_to_minio",)).start()
    try:
        cluster.wait_for_dag(DAG)
        cluster.api("PATCH", f"dags/{DAG}", {"is_paused": False})
        conf = {
            "source_path": str(sftp_root),
            "bucket": bucket,
            "key_prefix": "in/",
            "workers": 1,
            "threads": 4,
            "settle_seconds": 0,
            "min_age_seconds": 0,
        }
        run = cluster.api(
            "POST", f"dags/{DAG}/dagRuns", {"dag_run_id": "killed_then_cleared", "conf": conf, "logical_date": None}
        )["dag_run_id"]

        cluster.until("200 files moved", lambda: completed_files(ledger_uri) >= 200)
        holder = cluster.until(
            "a file in flight",
            lambda: ledger_rows(
                ledger_uri, "SELECT claimed_by FROM filepool_files WHERE status = 'IN_PROGRESS' LIMIT 1"
            ),
        )[0][0]
        os.kill(int(holder.split(":")[1]), signal.SIGKILL)  # worker names are host:pid:task:...
        before = completed_files(ledger_uri)

        def transfer_states() -> list[str]:
            tis = cluster.api("GET", f"dags/{DAG}/dagRuns/{run}/taskInstances")["task_instances"]
            return [str(ti["state"]) for ti in tis if ti["task_id"] == "transfer"]

        cluster.until(
            "the killed task failed",
            lambda: transfer_states() and all(s == "failed" for s in transfer_states()),
        )
        # As a user sees it in the UI: the run has failed; then they clear the failed task and what follows it.
        cluster.until("the run failed", lambda: cluster.api("GET", f"dags/{DAG}/dagRuns/{run}")["state"] == "failed")
        assert completed_files(ledger_uri) < len(files), "the task ended before it was killed"
        cleared = cluster.api(
            "POST",
            f"dags/{DAG}/clearTaskInstances",
            {
                "dry_run": False,
                "dag_run_id": run,
                "task_ids": ["transfer"],
                "include_downstream": True,
                "only_failed": False,
                "reset_dag_runs": True,
            },
        )
        print("cleared:", [(ti["task_id"], ti.get("map_index"), ti["state"]) for ti in cleared["task_instances"]])
        cluster.until("the transfer task ran again", lambda: any(s == "success" for s in transfer_states()))
        state = cluster.until(
            "the run ended",
            lambda: (s := cluster.api("GET", f"dags/{DAG}/dagRuns/{run}")["state"]) in {"success", "failed"} and s,
        )
        print(f"killed after {before} of {len(files)} files; the cleared task finished the rest; run: {state}")
        tis = cluster.api("GET", f"dags/{DAG}/dagRuns/{run}/taskInstances")["task_instances"]
        if state != "success":
            print(cluster.logs())
        assert state == "success", [(ti["task_id"], ti["map_index"], ti["state"], ti["try_number"]) for ti in tis]
    finally:
        cluster.stop()

    assert ledger_rows(ledger_uri, "SELECT status, count(*) FROM filepool_files GROUP BY status") == [
        ("COMPLETED", len(files))
    ]
    assert bucket_contents(s3_client, bucket, "in/") == {rel: sha256(data) for rel, data in files.items()}
    twice = ledger_rows(
        ledger_uri,
        "SELECT count(*) FROM (SELECT file_id FROM filepool_file_events "
        "WHERE event = 'completed' GROUP BY file_id HAVING count(*) > 1) twice",
    )
    assert twice == [(0,)]
    gone = ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_file_events WHERE event = 'worker_gone'")[0][0]
    assert gone > 0  # the cleared task took the killed one's files back at once, not after their lease
    writes = {key: n for key, n in s3_server.object_writes(bucket).items() if key.startswith("in/")}
    assert writes == {f"in/{rel}": 1 for rel in files}, {k: n for k, n in writes.items() if n != 1}
