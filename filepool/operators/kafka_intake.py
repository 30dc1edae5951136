"""KafkaTaskMessagesOperator: take FTP task messages from a Kafka topic, move their files, answer on Kafka."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from filepool.airflow_connections import reads_once
from filepool.allow import Guarded
from filepool.events.intake import Intake, IntakeConfig
from filepool.ledger import Ledger
from filepool.operators.arguments import positive_int
from filepool.operators.task_instance import finish, task_ref, worker_name
from filepool.settings import KAFKA_CONN_ID, LEDGER_CONN_ID, Settings
from filepool.transfer.completion import AfterTransfer
from filepool.transfer.startup import open_ledger


class KafkaTaskMessagesOperator(Guarded, BaseOperator):
    """
    Consume task messages (``task_id``, ``src_id``, ``src_path``, ``dst_id``, ``dst_path``, ``metadata``) from a
    Kafka topic until it has been quiet for ``idle_seconds``, move each message's file exactly once, and send
    one result record per message to ``results_topic`` (success) or ``failures_topic``, keyed by ``task_id``.

    Offsets are committed only once a batch is in the ledger, so no message is lost; a message delivered again
    moves nothing again (its ``task_id`` was taken; a message without one is identified by its source version
    and destination). The same ``task_id`` with other content is refused (TASK_ID_CONFLICT, first one wins);
    a message that is not one (not JSON, a field missing: MALFORMED_MESSAGE) goes to ``dead_letter_topic``
    with its reason, and the partition goes on. Results leave through the ledger's outbox: a crash never loses
    one; a publisher killed between sending and marking may send one again with the same key (keep the last
    record per ``task_id``).

    :param kafka_conn_id: Airflow ``kafka`` connection (its extra is librdkafka's configuration).
    :param topic: the topic of task messages; ``group``: the consumer group (default ``[filepool]
        kafka_consumer_group``, ``filepool-intake``: one per deployment and topic).
    :param idle_seconds: stop when no message came for this long; ``max_seconds``: stop after this long anyway.
    :param threads: parallel transfers per source/destination pair.
    :param park_after: a message that fails on its own this many times (whatever it raised, in this run or in
        runs that died on it) is parked: a FAILED row with MESSAGE_PARKED on the File transfers page and an
        ``ALERT`` line in the log; the partition goes on behind it.
    :param allowed: connections and FTP folders messages may name, beyond ``[filepool]`` (not a template field).
    """

    template_fields: Sequence[str] = (
        "kafka_conn_id",
        "topic",
        "group",
        "dead_letter_topic",
        "results_topic",
        "failures_topic",
        "ledger_conn_id",
        "idle_seconds",
        "max_seconds",
        "threads",
    )
    ALLOWED_FIELDS = {
        "connections": ("ledger_conn_id", "kafka_conn_id"),
        "topics": ("topic", "dead_letter_topic", "results_topic", "failures_topic"),
    }

    def __init__(
        self,
        *,
        kafka_conn_id: str = KAFKA_CONN_ID,
        topic: str = "ftp-tasks",
        group: str | None = None,
        dead_letter_topic: str = "ftp-tasks-dead-letter",
        results_topic: str = "ftp-results",
        failures_topic: str = "ftp-failures",
        ledger_conn_id: str = LEDGER_CONN_ID,
        idle_seconds: float | str = 30,
        max_seconds: float | str | None = None,
        threads: int | str = 8,
        park_after: int = 3,
        after_transfer: str = "keep",
        archive_path: str | None = None,
        allowed: dict[str, list[str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kafka_conn_id, self.topic, self.group = kafka_conn_id, topic, group
        self.dead_letter_topic, self.results_topic, self.failures_topic = (
            dead_letter_topic,
            results_topic,
            failures_topic,
        )
        self.ledger_conn_id = ledger_conn_id
        self.idle_seconds, self.max_seconds, self.threads = idle_seconds, max_seconds, threads
        self.park_after = positive_int("park_after", park_after)
        self.after = AfterTransfer.parse(after_transfer, archive_path, None)
        self.allowed = allowed

    @reads_once
    def execute(self, context: Any) -> dict[str, Any]:
        allowed = self.check_allowed(context)
        settings = Settings.load()
        config = self.intake_config(settings)
        worker = worker_name(context)
        connect = Ledger.opener(self.ledger_conn_id, worker)
        ledger = open_ledger(connect, settings, task_ref(context))
        try:
            summary = Intake(config, connect, settings, allowed, self.after).run()
            ledger.retire_worker()
        finally:
            ledger.close()
        return finish(context, summary, None)

    def intake_config(self, settings: Settings) -> IntakeConfig:
        """The intake's configuration from the (rendered) arguments; the consumer group is the deployment's
        `[filepool] kafka_consumer_group` unless the DAG file names one."""
        return IntakeConfig(
            kafka_conn_id=self.kafka_conn_id,
            topic=self.topic,
            group=self.group or settings.kafka_consumer_group,
            dead_letter_topic=self.dead_letter_topic,
            results_topic=self.results_topic,
            failures_topic=self.failures_topic,
            idle_seconds=float(self.idle_seconds),
            max_seconds=float(self.max_seconds) if self.max_seconds not in (None, "", "None") else None,
            threads=positive_int("threads", self.threads),
            park_after=self.park_after,
        )
