"""The producer DAGs' tasks on `[filepool] producer_queue`: the queue of the only workers that hold the Docker
hosts' client certificates (docker-compose.yaml's airflow-producer-worker), the default queue when it is empty."""

from __future__ import annotations

import pytest

pytest.importorskip("airflow.providers.docker.operators.docker", reason="the docker extra is not installed")

from airflow.sdk import DAG

from filepool.producer_dags import producer_tasks


def test_the_producer_tasks_run_on_the_producer_queue_when_one_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__FILEPOOL__PRODUCER_HOSTS", "docker_a,docker_b")
    with DAG("queued"):
        default = producer_tasks("batch")
    assert [t.task_id for t in default] == ["produce_docker_a", "produce_docker_b"]
    assert {t.queue for t in default} == {"default"}
    monkeypatch.setenv("AIRFLOW__FILEPOOL__PRODUCER_QUEUE", "producer")
    with DAG("queued_too"):
        queued = producer_tasks("batch")
    assert {t.queue for t in queued} == {"producer"}
