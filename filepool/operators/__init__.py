"""Thin Airflow operators: they check arguments and wire the task context to the engine."""

from __future__ import annotations

from filepool.operators.ftp import FTPToLocalOperator, LocalToFTPOperator
from filepool.operators.sftp_to_minio import SFTPToMinIOOperator
from filepool.operators.task_messages import FTPTaskMessagesOperator

__all__ = ["FTPTaskMessagesOperator", "FTPToLocalOperator", "LocalToFTPOperator", "SFTPToMinIOOperator"]
