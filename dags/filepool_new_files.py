"""# filepool_new_files

**An example of a DAG that runs on files filepool moved.**
It runs when `filepool_sftp_to_minio` (or its on-arrival twin) moved files, and lists what arrived and where.

## Example

Trigger `filepool_sftp_to_minio` and let it move files: a run of this DAG follows; its `arrived` task logs the
routes, locations and counts of the events it got.

## Good to know

- Copy it: schedule on `filepool.assets.SFTP_TO_MINIO_FILES` (or `FTP_TO_LOCAL_FILES`) and keep the events whose
  `location` or `route` is yours. By default one event per transfer task (its counts); with `asset_events: file`,
  one per file.
- Of many events of one task, Airflow 3.3 gives the first to the run it starts and the others to the next run
  (Airflow issue #54659): a DAG that must see a task's files together uses the run events.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import DAG, task

from filepool.assets import SFTP_TO_MINIO_FILES

log = logging.getLogger(__name__)
FILES = SFTP_TO_MINIO_FILES

with DAG(
    dag_id="filepool_new_files",
    description="Example: runs on new files filepool_sftp_to_minio moved",
    schedule=[FILES],
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    tags=["filepool", "example", "assets"],
    doc_md=__doc__,
) as dag:

    @task(inlets=[FILES])
    def arrived(triggering_asset_events: Any = None) -> dict[str, Any]:
        """What the events that triggered this run say: the files (per-file events) or the counts (run events)."""
        events = list((triggering_asset_events or {}).get(FILES, []))  # keyed by the asset (and by the alias)
        files = [e.extra for e in events if "size" in e.extra]
        runs = [e.extra for e in events if "files" in e.extra]
        for f in files[:20]:
            log.info(
                "New file: %s (%d bytes, sha256 %s) from %s", f["destination"], f["size"], f["sha256"], f["source"]
            )
        for r in runs:
            log.info("Run %s moved %d files (%d bytes) on %s", r.get("run_id"), r["files"], r["bytes"], r["route"])
        total = len(files) + sum(int(r["files"]) for r in runs)
        log.info("%d asset events, %d new files", len(events), total)
        return {"events": len(events), "files": total, "destinations": sorted(f["destination"] for f in files)[:1000]}

    arrived()
