"""Everything filepool can be told: the `[filepool]` section of Airflow's config (also `AIRFLOW__FILEPOOL__KEY`),
read into one `Settings`, and the defaults the operators, DAGs and trigger forms share.

Connection ids: every operator, DAG Param and the README default to the `filepool_*` ids below, which
`[filepool] allowed_connections` (default `filepool_*`) also allows; a deployment creates these connections once
(see the README) or names its own in the DAG file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from filepool.exceptions import InvalidConfig
from filepool.get_provider_info import get_provider_info

LEDGER_CONN_ID = "filepool_ledger"  # postgres: the ledger database
SFTP_CONN_ID = "filepool_sftp"  # sftp: the SFTP source server
S3_CONN_ID = "filepool_minio"  # aws: the S3-compatible store (MinIO), endpoint_url in its extra
FTP_CONN_ID = "filepool_ftp"  # ftp: the FTP server
LOCAL_CONN_ID = "filepool_local"  # fs: the local base path, in its extra
KAFKA_CONN_ID = "filepool_kafka"  # kafka: the brokers task messages come from and results go to
AMQP_CONN_ID = "filepool_amqp"  # amqp: the RabbitMQ server arrival notifications go to
PRODUCER_TOPIC = "tripclick_raw_logs"  # the Kafka topic the producer DAGs send to
PRODUCER_IMAGE = "tripclick-producer:latest"  # the producer image on each Docker host

_OPTIONS = get_provider_info()["config"]["filepool"]["options"]
_MIB = 1024 * 1024


def setting(key: str) -> str:
    """A text option of [filepool]."""
    default = str(_OPTIONS[key]["default"])
    try:
        from airflow.configuration import conf
    except ImportError:  # outside Airflow (bare unit tests)
        return default
    return str(conf.get("filepool", key, fallback=default))


def _int(key: str) -> int:
    text = setting(key)
    try:
        return int(text)
    except ValueError:
        raise InvalidConfig(f"[filepool] {key} must be a whole number, got {text!r}") from None


def _seconds(key: str) -> float:
    text = setting(key)
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise InvalidConfig(f"[filepool] {key} must be a number of seconds, 0 or more, got {text!r}")
    return value


def _list(key: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in setting(key).split(",") if v.strip())


def _day(key: str) -> datetime | None:
    text = setting(key).strip()
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC) if text else None
    except ValueError:
        raise InvalidConfig(f"[filepool] {key} must be a day, YYYY-MM-DD, got {text!r}") from None


@dataclass(frozen=True)
class Settings:
    # transfers
    max_sessions_per_connection: int
    max_sessions_total: int
    lease_seconds: int
    claim_batch: int
    max_attempts: int
    retry_backoff_seconds: int
    multipart_threshold: int
    part_size: int
    progress_interval: float
    stall_seconds: float
    max_folder_entries: int
    ledger_conn_id: str  # the ledger the File transfers page reads
    # what a trigger form, --conf or a task message may name (see filepool.allow)
    allowed_connections: tuple[str, ...]
    allowed_buckets: tuple[str, ...]
    allowed_paths: tuple[str, ...]
    producer_images: tuple[str, ...]
    allowed_topics: tuple[str, ...]
    allow_root_base_path: bool
    # the Kafka intake of task messages
    kafka_consumer_group: str
    # the transfer DAGs' data intervals (cron)
    transfer_schedule: str
    # the producer DAGs
    producer_hosts: tuple[str, ...]
    producer_queue: str  # "" for the executor's default queue
    producer_start_date: datetime
    producer_end_date: datetime | None

    @classmethod
    def load(cls) -> Settings:
        start = _day("producer_start_date")
        assert start is not None, "producer_start_date has a default"
        return cls(
            max_sessions_per_connection=_int("max_sessions_per_connection"),
            max_sessions_total=_int("max_sessions_total"),
            lease_seconds=_int("lease_seconds"),
            claim_batch=_int("claim_batch"),
            max_attempts=_int("max_attempts"),
            retry_backoff_seconds=_int("retry_backoff_seconds"),
            multipart_threshold=_int("multipart_threshold_mb") * _MIB,
            part_size=_int("part_size_mb") * _MIB,
            progress_interval=float(_int("progress_interval_seconds")),
            stall_seconds=float(_int("stall_seconds")),
            max_folder_entries=_int("max_folder_entries"),
            ledger_conn_id=setting("ledger_conn_id"),
            allowed_connections=_list("allowed_connections"),
            allowed_buckets=_list("allowed_buckets"),
            allowed_paths=_list("allowed_paths"),
            producer_images=_list("producer_images"),
            allowed_topics=_list("allowed_topics"),
            allow_root_base_path=setting("allow_root_base_path").strip().lower() in {"true", "1", "yes"},
            kafka_consumer_group=setting("kafka_consumer_group").strip(),
            transfer_schedule=setting("transfer_schedule").strip(),
            producer_hosts=_list("producer_hosts"),
            producer_queue=setting("producer_queue").strip(),
            producer_start_date=start,
            producer_end_date=_day("producer_end_date"),
        )


@dataclass(frozen=True)
class WatchSettings:
    """The route of filepool_sftp_to_minio_on_arrival and how its file watcher polls (`watch_*` of [filepool])."""

    source_path: str
    bucket: str
    key_prefix: str
    poll_seconds: float
    linger_seconds: float

    @classmethod
    def load(cls) -> WatchSettings:
        return cls(
            source_path=setting("watch_source_path"),
            bucket=setting("watch_bucket"),
            key_prefix=setting("watch_key_prefix"),
            poll_seconds=_seconds("watch_poll_seconds"),
            linger_seconds=_seconds("watch_linger_seconds"),
        )
