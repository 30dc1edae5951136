"""# filepool_producer_realtime

**A day's logs into Kafka with their original spacing (the producer's realtime mode), on every web server.**
Runs daily at 15:00 UTC, when the sample data starts.

## Example

**Trigger** it with *speed* `60`: a day is replayed in 24 minutes, events in `event_ts` order.

## Good to know

- Far gaps are cut to `--max-gap` (counted in the summary's `gaps_cut`).
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
