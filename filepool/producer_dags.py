"""What the two producer DAGs share: one ProducerOperator per remote Docker host, for one day's file."""

from __future__ import annotations

import os
from typing import Any

from airflow.sdk import Param

from filepool.operators.producer import ProducerOperator


def producer_hosts() -> list[str]:
    """The `docker` connections to run on: [filepool] producer_hosts (AIRFLOW__FILEPOOL__PRODUCER_HOSTS)."""
    listed = os.environ.get("AIRFLOW__FILEPOOL__PRODUCER_HOSTS")
    if listed is None:
        from airflow.configuration import conf

        listed = conf.get("filepool", "producer_hosts", fallback="docker_server0,docker_server1")
    return [h.strip() for h in listed.split(",") if h.strip()]


def producer_params(**extra: Param) -> dict[str, Param]:
    return {
        "topic": Param("tripclick_raw_logs", type="string", description="Kafka topic"),
        "image": Param("tripclick-producer:latest", type="string", description="Producer image on each host"),
        **extra,
    }


def producer_tasks(mode: str, **kwargs: Any) -> list[ProducerOperator]:
    """One task per host; each sends that host's file of the run's date ({{ ds }})."""
    return [
        ProducerOperator(
            task_id=f"produce_{conn_id}", docker_host_conn_id=conn_id, mode=mode,
            file="/app/data/date={{ ds }}/events.json", topic="{{ params.topic }}", image="{{ params.image }}",
            **kwargs,
        )
        for conn_id in producer_hosts()
    ]
