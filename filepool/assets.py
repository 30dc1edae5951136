"""The Assets the transfer DAGs emit on: one per DAG, declared here so that the DAG that emits and the DAGs
scheduled on it name the same one, and so that Airflow knows it before its first event (an Asset first met in an
event is created on the fly, and tasks of concurrent runs that meet it at once race to create it: Airflow 3.3
fails all but one). Each event's extra says which route and destination it is about."""

from __future__ import annotations

from airflow.sdk import Asset, AssetAlias

SFTP_TO_MINIO_ALIAS = AssetAlias("filepool_sftp_to_minio")
SFTP_TO_MINIO_FILES = Asset(name="filepool_sftp_to_minio_files", uri="filepool://filepool_sftp_to_minio/files")
FTP_TO_LOCAL_ALIAS = AssetAlias("filepool_ftp_to_local")
FTP_TO_LOCAL_FILES = Asset(name="filepool_ftp_to_local_files", uri="filepool://filepool_ftp_to_local/files")
