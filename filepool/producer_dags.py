"""What the two producer DAGs share: one ProducerOperator per remote Docker host, for one day's file."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import Param

from filepool.operators.producer import ProducerOperator
from filepool.settings import PRODUCER_IMAGE, PRODUCER_TOPIC, Settings


def producer_window() -> tuple[datetime, datetime | None]:
    """The days the daily DAG covers: [filepool] producer_start_date (2026-01-01, where the TripClick sample data
    starts) and producer_end_date (none: open-ended), read when the DAG file is parsed."""
    settings = Settings.load()
    return settings.producer_start_date, settings.producer_end_date


def producer_params(**extra: Param) -> dict[str, Param]:
    return {
        "topic": Param(PRODUCER_TOPIC, type="string", description="Kafka topic"),
        "image": Param(PRODUCER_IMAGE, type="string", description="Producer image on each host"),
        **extra,
    }


def producer_tasks(mode: str, **kwargs: Any) -> list[ProducerOperator]:
    """One task per host; each sends that host's file of the run's date ({{ ds }}), on `[filepool] producer_queue`
    when it is set (the workers that hold the hosts' client certificates)."""
    settings = Settings.load()
    if settings.producer_queue:
        kwargs = {"queue": settings.producer_queue, **kwargs}
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
        for conn_id in settings.producer_hosts
    ]
