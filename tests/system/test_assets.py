"""Asset events with Airflow's scheduler running: a transfer task of filepool_sftp_to_minio that moved files
emits events on the DAG's Asset (each naming s3://landing/), and filepool_new_files, scheduled on it, runs and sees
them:
one event per moved file with `asset_events: file`, one for the run by default, none when nothing moved."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import age, write_tree
from tests.servers.airflow import AirflowCluster
from tests.system.test_backfill import summary_of

pytestmark = pytest.mark.system
UPSTREAM, DOWNSTREAM, BUCKET = "filepool_sftp_to_minio", "filepool_new_files", "landing"


def downstream_runs(cluster: AirflowCluster) -> list[dict[str, Any]]:
    return cluster.api("GET", f"dags/{DOWNSTREAM}/dagRuns?order_by=start_date&limit=100")["dag_runs"]


def run_upstream(cluster: AirflowCluster, run_id: str, conf: dict[str, Any]) -> None:
    cluster.api("POST", f"dags/{UPSTREAM}/dagRuns", {"dag_run_id": run_id, "conf": conf, "logical_date": None})

    def finished() -> str | None:
        state = cluster.api("GET", f"dags/{UPSTREAM}/dagRuns/{run_id}")["state"]
        return state if state in {"success", "failed"} else None

    assert cluster.until(f"{run_id} to finish", finished, 240) == "success"


def next_downstream(cluster: AirflowCluster, seen: int) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        runs = downstream_runs(cluster)
        return runs[seen] if len(runs) > seen and runs[seen]["state"] in {"success", "failed"} else None

    run = cluster.until("the downstream DAG's run", done, 120)
    assert run["state"] == "success" and run["run_type"] == "asset_triggered", run
    return summary_of(cluster, DOWNSTREAM, run["dag_run_id"], "arrived")


def test_a_dag_scheduled_on_the_routes_asset_runs_on_new_files(
    conns: None, s3_client: Any, sshd_server: Any, sftp_root: Path, postgres_server: Any, tmp_path: Path
) -> None:
    if BUCKET not in {b["Name"] for b in s3_client.list_buckets()["Buckets"]}:
        s3_client.create_bucket(Bucket=BUCKET)
    first = write_tree(sftp_root / "a", 12, size=800, random_seed=3)
    age(sftp_root)
    lineage = tmp_path / "openlineage.jsonl"  # the OpenLineage provider's file transport: one event a line
    env = {
        **os.environ,
        "AIRFLOW__FILEPOOL__ALLOWED_PATHS": str(sftp_root),
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "file", "log_file_path": str(lineage), "append": True}),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "filepool-test",
    }
    conf = {"source_path": str(sftp_root), "bucket": BUCKET, "workers": 1, "threads": 4}
    cluster = AirflowCluster(postgres_server, env, dags=(UPSTREAM, DOWNSTREAM)).start()
    try:
        for dag_id in (UPSTREAM, DOWNSTREAM):
            cluster.wait_for_dag(dag_id)
            cluster.api("PATCH", f"dags/{dag_id}", {"is_paused": False})

        run_upstream(cluster, "per_file", {**conf, "asset_events": "file"})
        registered = cluster.api("GET", "assets/events?source_run_id=per_file&limit=100")["asset_events"]
        assert sorted(e["extra"]["destination"] for e in registered) == sorted(f"a/{rel}" for rel in first)
        assert {e["uri"] for e in registered} == {"filepool://filepool_sftp_to_minio/files"}  # never one per file
        assert {e["extra"]["location"] for e in registered} == {"s3://landing/"}
        seen = next_downstream(cluster, 0)
        assert 1 <= seen["events"] == seen["files"] <= 12, seen  # one event per file (see filepool_new_files)

        second = write_tree(sftp_root / "b", 5, size=500, random_seed=4)
        age(sftp_root / "b")  # only the new files: a new mtime makes a new version
        run_upstream(cluster, "per_run", conf)  # asset_events defaults to run
        later = next_downstream(cluster, 1)
        # the per-file events the first run did not get, then the new run's one event
        assert sorted(seen["destinations"] + later["destinations"]) == sorted(f"a/{rel}" for rel in first)
        assert later["files"] == 12 - seen["files"] + len(second)
        assert later["events"] == 12 - seen["events"] + 1

        # lineage: each transfer task's COMPLETE event names the SFTP folder in and the bucket out (the runs of
        # ours: unpausing the DAG also started a scheduled run, on its default folder)
        ours = [(f"sftp://127.0.0.1:{sshd_server.port}", str(sftp_root))]
        completes = [
            e for e in map(json.loads, lineage.read_text().splitlines())
            if e["eventType"] == "COMPLETE" and e["job"]["name"] == f"{UPSTREAM}.transfer"
            and [(d["namespace"], d["name"]) for d in e["inputs"]] == ours
        ]  # fmt: skip
        assert len(completes) == 2  # per_file and per_run
        assert all([(d["namespace"], d["name"]) for d in e["outputs"]] == [("s3://landing", "/")] for e in completes)

        run_upstream(cluster, "nothing_new", conf)
        time.sleep(10)  # the scheduler queued the runs above within seconds of their events: none comes now
        assert len(downstream_runs(cluster)) == 2
    finally:
        cluster.stop()


def test_transfer_tasks_that_moved_files_are_green_and_each_has_its_event(
    conns: None, s3_client: Any, sftp_root: Path, postgres_server: Any
) -> None:
    """Four mapped transfer tasks of a fresh deployment move files at the same moment: none may fail because of its
    asset event, and each that moved files has one. Their events used to go through the AssetAlias from each task,
    and parallel tasks meeting a new alias at once failed in Airflow's database (UniqueViolation on
    asset_alias_asset): two of three fresh deployments lost a task and its event when this was written. Now one
    task of the run sends them all, one such task of the DAG at a time (filepool.runs.EMITTER_TASK), so there is
    no race left to catch by chance: one fresh deployment proves the run green with its events."""
    if BUCKET not in {b["Name"] for b in s3_client.list_buckets()["Buckets"]}:
        s3_client.create_bucket(Bucket=BUCKET)
    write_tree(sftp_root, 400, size=300, random_seed=7)
    age(sftp_root)
    env = {**os.environ, "AIRFLOW__FILEPOOL__ALLOWED_PATHS": str(sftp_root)}
    cluster = AirflowCluster(postgres_server, env, dags=(UPSTREAM, DOWNSTREAM)).start()
    try:
        cluster.wait_for_dag(UPSTREAM)
        cluster.api("PATCH", f"dags/{UPSTREAM}", {"is_paused": False})
        conf = {"source_path": str(sftp_root), "bucket": BUCKET, "key_prefix": "race/", "workers": 4}
        run_upstream(cluster, "parallel", {**conf, "threads": 2})
        tis = cluster.api("GET", f"dags/{UPSTREAM}/dagRuns/parallel/taskInstances?limit=100")["task_instances"]
        assert {t["state"] for t in tis} == {"success"}, sorted((t["task_id"], t["map_index"], t["state"]) for t in tis)
        summary = summary_of(cluster, UPSTREAM, "parallel", "summary")
        assert summary["files_transferred"] == 400
        events = cluster.api("GET", "assets/events?source_run_id=parallel&limit=100")["asset_events"]
        moving = sorted(e["extra"]["task"] for e in events)
        assert moving and len(moving) == len(set(moving)) <= 4, moving  # one event per task that moved files
        assert sum(e["extra"]["files"] for e in events) == 400
    finally:
        cluster.stop()
