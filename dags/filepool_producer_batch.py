"""
### filepool_producer_batch

Each day's TripClick logs into Kafka as fast as the brokers take them (the producer's batch mode): one container per
remote web server, started there through the Docker API (TLS), reading `date={{ ds }}/events.json` from the host's
data folder (mounted read-only) and keying each event by its xxh64 dedup key.

- Hosts: the `docker` connections in `[filepool] producer_hosts` (default `docker_server0,docker_server1`).
- Days: from `[filepool] producer_start_date` (2026-01-01) to `producer_end_date` (open-ended by default).
- Brokers: the Airflow Variable `KAFKA_BROKERS`, passed to the container as an environment variable.
- Backfill a range: `airflow backfill create --dag-id filepool_producer_batch --from-date 2026-01-01
  --to-date 2026-01-31`. The task's XCom is the producer's summary (sent, delivered, rejected, events/s).
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
