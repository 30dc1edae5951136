"""What the two producer DAGs share: one ProducerOperator per remote Docker host, for one day's file."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Param

from filepool.operators.producer import ProducerOperator


def _setting(key: str, default: str) -> str:
    """[filepool] KEY from airflow.cfg or AIRFLOW__FILEPOOL__KEY, read when the DAG file is parsed."""
    from airflow.configuration import conf

    return str(conf.get("filepool", key, fallback=default))


def producer_hosts() -> list[str]:
    """The `docker` connections to run on: [filepool] producer_hosts."""
    return [h.strip() for h in _setting("producer_hosts", "docker_server0,docker_server1").split(",") if h.strip()]


def producer_window() -> tuple[datetime, datetime | None]:
    """The days the daily DAG covers: [filepool] producer_start_date (2026-01-01, where the TripClick sample data
    starts) and producer_end_date (none: open-ended)."""
    start = datetime.fromisoformat(_setting("producer_start_date", "2026-01-01")).replace(tzinfo=UTC)
    end = _setting("producer_end_date", "")
    return start, datetime.fromisoformat(end).replace(tzinfo=UTC) if end else None


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
            task_id=f"produce_{conn_id}",
            docker_host_conn_id=conn_id,
            mode=mode,
            file="/app/data/date={{ ds }}/events.json",
            topic="{{ params.topic }}",
            image="{{ params.image }}",
            **kwargs,
        )
        for conn_id in producer_hosts()
    ]
