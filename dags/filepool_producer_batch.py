"""# filepool_producer_batch

**Each day's logs into Kafka from every web server, as fast as the brokers take them (the producer's batch
mode).** One container per server, started there through the Docker API (TLS); backfillable by day.

## Example

`airflow backfill create --dag-id filepool_producer_batch --from-date 2026-01-01 --to-date 2026-01-03`: three
runs, each sending its day's `date=YYYY-MM-DD/events.json` from each host; each task's XCom is the producer's
summary (sent, delivered, rejected, events/s).

## Good to know

- Hosts: the `docker` connections of `[filepool] producer_hosts`; days: `producer_start_date` to
  `producer_end_date`; brokers: the Airflow Variable `KAFKA_BROKERS`.
- Each event is keyed by its xxh64 dedup key.
"""

from __future__ import annotations

from airflow.sdk import DAG

from filepool.producer_dags import producer_params, producer_tasks, producer_window

START, END = producer_window()

with DAG(
    dag_id="filepool_producer_batch",
    description="Daily logs -> Kafka on each web server (batch mode, backfillable)",
    schedule="@daily",
    start_date=START,
    end_date=END,
    catchup=True,
    max_active_runs=4,
    tags=["filepool", "producer", "kafka"],
    doc_md=__doc__,
    params=producer_params(),
) as dag:
    producer_tasks("batch")
