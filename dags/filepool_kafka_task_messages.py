"""# filepool_kafka_task_messages

**FTP task messages from a Kafka topic, moved and answered on Kafka, each file version once.**
Every 5 minutes a task joins the consumer group, takes what came, moves the files and sends one result record
per message.

## Example

Send `{"task_id": "t-1", "src_id": "filepool_ftp", "src_path": "/outgoing/a.csv", "dst_id": "filepool_local",
"dst_path": "in/a.csv"}` to `ftp-tasks`; within minutes `ftp-results` holds the record of `t-1` (keep, per key,
the record with the highest `record_version`).

## Good to know

- Each message is handled alone: a malformed one goes to `ftp-tasks-dead-letter`, one that fails again and again
  is parked (MESSAGE_PARKED on the File transfers page), the rest moves.
- The consumer group is `[filepool] kafka_consumer_group`; topics a form names must be in `allowed_topics`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import DAG, Param

from filepool.operators import KafkaTaskMessagesOperator
from filepool.params import CONNECTIONS, TUNING, WHAT, ledger_param
from filepool.settings import KAFKA_CONN_ID

with DAG(
    dag_id="filepool_kafka_task_messages",
    description="FTP task messages from Kafka, results back to Kafka, each file version exactly once",
    schedule="*/5 * * * *",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,
    tags=["filepool", "ftp", "kafka"],
    doc_md=__doc__,
    params={
        "topic": Param("ftp-tasks", type="string", minLength=1, title="Topic of task messages", section=WHAT),
        "results_topic": Param("ftp-results", type="string", minLength=1, title="Results topic", section=WHAT),
        "failures_topic": Param("ftp-failures", type="string", minLength=1, title="Failures topic", section=WHAT),
        "dead_letter_topic": Param(
            "ftp-tasks-dead-letter", type="string", minLength=1, title="Dead-letter topic", section=WHAT
        ),
        "idle_seconds": Param(
            60,
            type="number",
            minimum=1,
            title="Quiet time (seconds)",
            description="The task ends once no message came for this long",
            section=TUNING,
        ),
        "max_seconds": Param(
            290,
            type="number",
            minimum=1,
            title="Longest run (seconds)",
            description="The task ends after this long in any case; the next run goes on",
            section=TUNING,
        ),
        "threads": Param(8, type="integer", minimum=1, maximum=128, title="Threads", section=TUNING),
        "kafka_conn_id": Param(
            KAFKA_CONN_ID, type="string", minLength=1, title="Kafka connection", section=CONNECTIONS
        ),
        **ledger_param(),
    },
) as dag:
    KafkaTaskMessagesOperator(
        task_id="intake",
        kafka_conn_id="{{ params.kafka_conn_id }}",
        topic="{{ params.topic }}",
        results_topic="{{ params.results_topic }}",
        failures_topic="{{ params.failures_topic }}",
        dead_letter_topic="{{ params.dead_letter_topic }}",
        idle_seconds="{{ params.idle_seconds }}",
        max_seconds="{{ params.max_seconds }}",
        threads="{{ params.threads }}",
        ledger_conn_id="{{ params.ledger_conn_id }}",
        allowed={"paths": ["/outgoing"]},
    )
