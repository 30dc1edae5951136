"""
### filepool_producer_realtime

Replays a day's TripClick logs into Kafka with their original spacing (the producer's realtime mode), sorted by
`event_ts`, `speed` times faster, one container per remote web server. Runs daily at 15:00 UTC, when the
TripClick sample data starts; trigger it by hand with another `speed` to rehearse faster.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import DAG, Param

from filepool.producer_dags import producer_params, producer_tasks

with DAG(
    dag_id="filepool_producer_realtime",
    description="A day's logs -> Kafka with their original spacing, on each web server",
    schedule="0 15 * * *",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["filepool", "producer", "kafka"],
    doc_md=__doc__,
    params=producer_params(
        speed=Param(1.0, type="number", exclusiveMinimum=0, description="Replay this many times faster than real time")
    ),
) as dag:
    producer_tasks("realtime", speed="{{ params.speed }}")
