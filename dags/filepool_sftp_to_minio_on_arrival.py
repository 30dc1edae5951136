"""filepool_sftp_to_minio_on_arrival: moves new files from an SFTP folder to MinIO/S3 within seconds of their
arrival, without an hourly schedule and without holding a worker slot while it waits.

A file watcher (filepool's NewFilesTrigger, in Airflow's triggerer, through an AssetWatcher) lists the folder
every few seconds over one SFTP session, applies the stability rule (a file is taken once unchanged for
`settle_seconds`, or older than `min_age_seconds`), registers the new stable files in the ledger and updates the
Asset `filepool_sftp_arrivals`; each update starts a run of this DAG, whose task moves the route's queue, exactly
once as always; it stays `watch_linger_seconds` (30 s) after the queue ran dry, so that files arriving meanwhile
move in it at once. The ledger decides what is new: a restarted triggerer misses and repeats nothing.

The route comes from `[filepool]`: `watch_source_path`, `watch_bucket`, `watch_key_prefix`, `watch_poll_seconds`,
`watch_linger_seconds`
(the connections are `filepool_sftp` and `filepool_minio`). It is the same route as `filepool_sftp_to_minio`'s with
the same folder and bucket, so both DAGs may run: they share the ledger's queue.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import DAG, Asset, AssetWatcher

from filepool.assets import SFTP_TO_MINIO_ALIAS, SFTP_TO_MINIO_FILES
from filepool.operators import SFTPToMinIOOperator
from filepool.settings import S3_CONN_ID, SFTP_CONN_ID, setting
from filepool.triggers.new_files import NewFilesTrigger

ROUTE = {
    "sftp_conn_id": SFTP_CONN_ID,
    "source_path": setting("watch_source_path"),
    "aws_conn_id": S3_CONN_ID,
    "bucket": setting("watch_bucket"),
    "key_prefix": setting("watch_key_prefix"),
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
                poll_seconds=float(setting("watch_poll_seconds")),
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
        linger_seconds=float(
            setting("watch_linger_seconds")
        ),  # files the watcher registers during a run move in it, at once
        outlets=[SFTP_TO_MINIO_ALIAS],  # new files for filepool_sftp_to_minio's downstream DAGs too
        asset=SFTP_TO_MINIO_FILES,
        **ROUTE,
    )
