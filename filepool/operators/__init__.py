"""Thin Airflow operators: they check arguments and wire the task context to the engine.

Imported lazily: a task running the FTP operator does not pay for asyncssh and boto3 (~0.3 s), nor the
reverse.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from filepool.operators.ftp import FTPToLocalOperator, LocalToFTPOperator
    from filepool.operators.kafka_intake import KafkaTaskMessagesOperator
    from filepool.operators.sftp_to_minio import SFTPToMinIOOperator
    from filepool.operators.task_messages import FTPTaskMessagesOperator

_MODULES = {
    "FTPToLocalOperator": "filepool.operators.ftp",
    "LocalToFTPOperator": "filepool.operators.ftp",
    "SFTPToMinIOOperator": "filepool.operators.sftp_to_minio",
    "FTPTaskMessagesOperator": "filepool.operators.task_messages",
    "KafkaTaskMessagesOperator": "filepool.operators.kafka_intake",
}
__all__ = [
    "FTPTaskMessagesOperator",
    "FTPToLocalOperator",
    "KafkaTaskMessagesOperator",
    "LocalToFTPOperator",
    "SFTPToMinIOOperator",
]


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_MODULES[name]), name)
