"""filepool_kafka_task_messages: task messages from Kafka, moved and answered on Kafka, without anyone triggering
a DAG.

Every 5 minutes a consuming task joins the consumer group `[filepool] kafka_consumer_group` on `ftp-tasks` and
stays while messages come (until the topic has been quiet for `idle_seconds`, at most `max_seconds`): it first
moves what earlier runs took and left waiting, takes each batch into the ledger, commits the batch's offsets only
then, moves the files (FTP <-> local, each version once) and sends one result record per message to `ftp-results`
or `ftp-failures`, keyed by `task_id`. Each message is handled alone: a malformed one goes to
`ftp-tasks-dead-letter` with its reason, a `task_id` seen again with the same content is a duplicate (nothing
moves again), with other content a TASK_ID_CONFLICT (dead-lettered), and one that fails again and again is parked
(MESSAGE_PARKED on the File transfers page). Results leave through the ledger's outbox, so a crash loses none;
consumers keep, per key, the record with the highest `record_version`.

Connections: `filepool_kafka` (type kafka; extra `{"bootstrap.servers": "host:9092", ...}`, librdkafka's
settings), `filepool_ftp`, `filepool_local`, `filepool_ledger`. Messages may name the connections and FTP folders
that `[filepool] allowed_connections` and `allowed_paths` allow, and the form the topics `allowed_topics` allows.
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
