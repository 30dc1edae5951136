"""The optional features and the extras that install them: `pip install 'airflow-provider-filepool[kafka]'`.

Moving files (SFTP -> S3, FTP <-> local disk), the ledger, the maintenance DAG and the File transfers page need
none of them. A feature whose extra is missing fails where it starts, with MISSING_EXTRA and the pip command,
never at import of filepool (its DAGs parse without the extras; the producer DAGs say which extra they need).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from filepool.exceptions import FilepoolError

# extra -> (the module it brings, what needs it)
EXTRAS: dict[str, tuple[str, str]] = {
    "kafka": ("confluent_kafka", "Kafka (the task-message intake, result records, Kafka notifications)"),
    "amqp": ("pika", "AMQP notifications"),
    "docker": ("airflow.providers.docker.operators.docker", "the producer DAGs (Airflow's DockerOperator)"),
    "lineage": ("airflow.providers.openlineage.extractors", "OpenLineage events"),
    "metrics": ("prometheus_client", "the File transfers page's /metrics"),
}


class MissingExtra(FilepoolError, ImportError):
    """A feature whose optional dependencies are not installed. An ImportError too, so that code which treats a
    missing module as "feature off" (Airflow's OpenLineage listener) keeps doing so."""

    code = "MISSING_EXTRA"
    retryable = False


def missing(extra: str) -> MissingExtra:
    """The error of a feature whose extra is not installed: what needs it, and the pip command."""
    module, feature = EXTRAS[extra]
    return MissingExtra(
        f"filepool's {extra!r} extra is not installed (no module {module}), and {feature} use it: "
        f"pip install 'airflow-provider-filepool[{extra}]'"
    )


def require(extra: str) -> ModuleType:
    """The module `extra` brings, imported; MissingExtra naming the extra and its pip command when absent."""
    try:
        return importlib.import_module(EXTRAS[extra][0])
    except ImportError as exc:
        raise missing(extra) from exc
