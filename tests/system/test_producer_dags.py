"""The producer DAGs against two real Docker engines (TLS with client certificates) and a Kafka-protocol broker:
what lands in the topic, what is rejected, what a connection without TLS material gets."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import xxhash

from filepool.exceptions import InvalidConfig
from tests.helpers import REPO, dag_bag, make_readable
from tests.servers.dockerd import DockerEngine
from tests.servers.kafka import KafkaBroker

pytestmark = pytest.mark.system
sys_path = str(REPO / "include" / "producer")


def sample_days(folder: Path, start: date, days: int, events: int, random_seed: int, malformed: int = 0) -> list[Path]:
    import sys

    if sys_path not in sys.path:
        sys.path.insert(0, sys_path)
    from producer import sample

    return sample.write(folder, start, days, events, random_seed=random_seed, malformed=malformed)


def docker_connection(engine: DockerEngine, data_path: Path, tls: bool = True) -> str:
    logs = data_path.parent / f"{data_path.name}-logs"  # the host's folder for the producer's logs and rejects
    logs.mkdir(parents=True, exist_ok=True)
    os.chmod(logs, 0o777)  # the image runs as uid 10001
    extra: dict[str, str] = {"data_path": str(data_path), "logs_path": str(logs)}
    if tls:
        extra |= engine.tls_extra()
    return json.dumps({"conn_type": "docker", "host": engine.url, "extra": extra})


def keys_of(paths: list[Path]) -> set[str]:
    found = set()
    for path in paths:
        for line in path.read_text().splitlines():
            if line.startswith('{"DateCreated"'):
                e = json.loads(line)
                found.add(xxhash.xxh64(f"{e['SessionId']}|{e['DocumentId']}|{e['event_ts']}".encode()).hexdigest())
    return found


@pytest.fixture
def two_hosts(
    docker_engines: list[DockerEngine], kafka_broker: KafkaBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """Each engine gets its own data folder (3 days of events, one malformed line per day on server1) and its
    docker connection; KAFKA_BROKERS is an Airflow Variable."""
    days: dict[str, list[Path]] = {}
    for n, engine in enumerate(docker_engines):
        folder = tmp_path / f"server{n}"
        days[f"server{n}"] = sample_days(folder, date(2026, 1, 1), 3, 400 + 100 * n, random_seed=n, malformed=n)
        monkeypatch.setenv(f"AIRFLOW_CONN_DOCKER_SERVER{n}", docker_connection(engine, folder))
    make_readable(tmp_path)
    os.chmod(tmp_path, 0o755)
    for logs in tmp_path.glob("*-logs"):
        os.chmod(logs, 0o777)  # the image runs as uid 10001
    monkeypatch.setenv("AIRFLOW_VAR_KAFKA_BROKERS", kafka_broker.bootstrap)
    monkeypatch.setenv("AIRFLOW__FILEPOOL__PRODUCER_HOSTS", "docker_server0,docker_server1")
    return days


def test_batch_dag_sends_one_date_from_both_hosts(
    airflow_db: None,
    two_hosts: dict[str, list[Path]],
    kafka_broker: KafkaBroker,
    docker_engines: list[DockerEngine],
    capfd: pytest.CaptureFixture[str],
) -> None:
    kafka_broker.create_topic("dag_batch")
    dag = dag_bag(REPO / "dags" / "filepool_producer_batch.py", to_run=True).get_dag("filepool_producer_batch")
    run = dag.test(logical_date=datetime(2026, 1, 2, tzinfo=UTC), run_conf={"topic": "dag_batch"})

    assert str(run.state) in {"success", "DagRunState.SUCCESS"}
    first_days = [paths[1] for paths in two_hosts.values()]  # date=2026-01-02 on each host
    got = kafka_broker.consume("dag_batch", 400 + 500)
    assert len(got) == 900 and {m.key().decode() for m in got} == keys_of(first_days)
    assert {json.loads(m.value())["event_date"] for m in got} == {"2026-01-02"}
    out = capfd.readouterr()
    logs = out.out + out.err
    assert '"rejected": 1' in logs and '"rejected": 0' in logs  # server1's malformed line, reported, not fatal
    # the log and the reject file outlive the container, on each host, and the XCom says where
    summary = run.get_task_instance("produce_docker_server1").xcom_pull(task_ids="produce_docker_server1")
    host_logs = two_hosts["server1"][0].parents[2] / "server1-logs"  # tmp_path/server1-logs
    assert summary["files_on_host"] == "docker_server1"
    assert Path(summary["reject_file"]).parent == host_logs and "not JSON" in Path(summary["reject_file"]).read_text()
    assert Path(summary["log_file"]).parent == host_logs and "Summary" in Path(summary["log_file"]).read_text()
    for engine in docker_engines:  # auto_remove="success": no container left behind
        assert engine.docker("ps", "-aq").strip() == ""


def test_a_connection_without_tls_material_gets_a_clear_error(
    docker_engines: list[DockerEngine], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from filepool.operators.producer import ProducerOperator

    monkeypatch.setenv("AIRFLOW_CONN_PLAIN_DOCKER", docker_connection(docker_engines[0], tmp_path, tls=False))
    op = ProducerOperator(
        task_id="p", docker_host_conn_id="plain_docker", file="/app/data/x.json", brokers="127.0.0.1:1"
    )
    with pytest.raises(InvalidConfig) as caught:
        op.execute({})
    assert caught.value.code == "INVALID_CONFIG"
    assert f"the Docker engine at {docker_engines[0].url} (connection 'plain_docker') accepts TLS only" in str(
        caught.value
    )


def test_backfill_of_three_days_with_a_scheduler(
    two_hosts: dict[str, list[Path]], kafka_broker: KafkaBroker, postgres_server: Any
) -> None:
    """`airflow backfill create` as a user types it, with a scheduler running: three runs, three days sent."""
    import time

    from tests.servers.airflow import AirflowCluster

    kafka_broker.create_topic("tripclick_raw_logs")
    # The DAG must be active for a scheduler to run backfills; its window ends with the backfill's, so catch-up
    # adds no run of its own.
    env = {**os.environ, "AIRFLOW__FILEPOOL__PRODUCER_END_DATE": "2026-01-03"}
    cluster = AirflowCluster(postgres_server, env, dags=("filepool_producer_batch",)).start()
    dag_id = "filepool_producer_batch"
    try:
        cluster.wait_for_dag(dag_id)
        cluster.cli("backfill", "create", "--dag-id", dag_id, "--from-date", "2026-01-01", "--to-date", "2026-01-03")
        cluster.api("PATCH", f"dags/{dag_id}", {"is_paused": False})
        deadline = time.monotonic() + 300
        runs: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            runs = cluster.api("GET", f"dags/{dag_id}/dagRuns")["dag_runs"]
            if len(runs) >= 3 and all(r["state"] in {"success", "failed"} for r in runs):
                break
            print("runs:", [(r.get("dag_run_id"), r["state"]) for r in runs], flush=True)
            time.sleep(5)
        states = sorted((r["logical_date"][:10], r["run_type"], r["state"]) for r in runs)
        if [s for _, _, s in states] != ["success"] * 3:
            print(cluster.logs())
        assert states == [(f"2026-01-0{d}", "backfill", "success") for d in (1, 2, 3)]
    finally:
        cluster.stop()
    got = kafka_broker.consume("tripclick_raw_logs", 3 * 900)
    assert len(got) == 2700 and {m.key().decode() for m in got} == keys_of(
        [path for paths in two_hosts.values() for path in paths]
    )
