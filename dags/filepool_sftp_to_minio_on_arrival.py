"""# filepool_sftp_to_minio_on_arrival

**New files of one SFTP folder into S3/MinIO within seconds of their arrival, each version once.**
A file watcher in Airflow's triggerer lists the folder every few seconds; each batch of new stable files starts
a run.

## Example

Unpause it, then drop a file into the folder `[filepool] watch_source_path` names: a run starts within seconds
and moves it into `watch_bucket`.

## Good to know

- The route comes from `[filepool]`: `watch_source_path`, `watch_bucket`, `watch_key_prefix`,
  `watch_poll_seconds`, `watch_linger_seconds` (connections `filepool_sftp`, `filepool_minio`).
- It shares the ledger's queue with `filepool_sftp_to_minio` on the same folder and bucket: both may run.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import DAG, Asset, AssetWatcher

from filepool.assets import SFTP_TO_MINIO_ALIAS, SFTP_TO_MINIO_FILES
from filepool.operators import SFTPToMinIOOperator
from filepool.settings import S3_CONN_ID, SFTP_CONN_ID, WatchSettings
from filepool.triggers.new_files import NewFilesTrigger

WATCH = WatchSettings.load()
ROUTE = {
    "sftp_conn_id": SFTP_CONN_ID,
    "source_path": WATCH.source_path,
    "aws_conn_id": S3_CONN_ID,
    "bucket": WATCH.bucket,
    "key_prefix": WATCH.key_prefix,
}
SETTLE_SECONDS, MIN_AGE_SECONDS = 2.0, 60.0

arrivals = Asset(
    name="filepool_sftp_arrivals",
    watchers=[
        AssetWatcher(
            name="filepool_sftp_watcher",
            trigger=NewFilesTrigger(
                route={"kind": "sftp", **ROUTE},
                settle_seconds=SETTLE_SECONDS,
                min_age_seconds=MIN_AGE_SECONDS,
                poll_seconds=WATCH.poll_seconds,
            ),
        )
    ],
)

with DAG(
    dag_id="filepool_sftp_to_minio_on_arrival",
    description="SFTP -> MinIO on arrival: a file watcher in the triggerer starts a run for new files",
    schedule=[arrivals],
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["filepool", "sftp", "s3", "on-arrival"],
    doc_md=__doc__,
) as dag:
    SFTPToMinIOOperator(
        task_id="transfer",
        discover=False,  # the watcher registered the files; the task moves the route's queue
        threads=8,
        linger_seconds=WATCH.linger_seconds,  # files the watcher registers during a run move in it, at once
        outlets=[SFTP_TO_MINIO_ALIAS],  # new files for filepool_sftp_to_minio's downstream DAGs too
        asset=SFTP_TO_MINIO_FILES,
        **ROUTE,
    )
