"""Params the filepool DAGs share, so every trigger form says the same thing about the same setting: each with a
title, a description and a section, the ones that say what to move first, the tuning after."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param

from filepool.settings import FTP_CONN_ID, LEDGER_CONN_ID, LOCAL_CONN_ID

WHAT = "What to move"
INTERVAL = "Data interval (backfills)"
TUNING = "Tuning"
CONNECTIONS = "Connections"

_CONN_ID: dict[str, Any] = {"type": "string", "minLength": 1, "pattern": r"^[A-Za-z0-9_.-]+$"}
_ABSOLUTE: dict[str, Any] = {"type": "string", "minLength": 1, "pattern": "^/"}


def ledger_param() -> dict[str, Any]:
    return {
        "ledger_conn_id": Param(
            LEDGER_CONN_ID,
            type="string",
            minLength=1,
            pattern=_CONN_ID["pattern"],
            title="Ledger connection",
            description="Airflow postgres connection of the ledger database",
            section=CONNECTIONS,
        )
    }


def interval_params() -> dict[str, Any]:
    """How a run's data interval selects files (filepool.operators.interval), and the explicit re-send."""
    return {
        "select_by": Param(
            "auto",
            type="string",
            enum=["auto", "sweep", "partition", "mtime"],
            title="Select files by",
            description_md=(
                "`auto`: a backfill run moves exactly its interval's files, as the DAG file says each route's "
                "files are laid out (`mtime` unless a route says `partition`); any other run moves every new file. "
                "`sweep`: every new file of the folder, whatever the run's interval. `partition`: the interval's "
                "date folder under the source folder (the template below). `mtime`: files modified within the "
                "interval. Object keys stay relative to the source folder either way."
            ),
            section=INTERVAL,
        ),
        "partition": Param(
            None,
            type=["string", "null"],
            title="Partition folder (template)",
            description_md=(
                "For `partition`: the interval's folder under the source folder, a Jinja template with `ds`, "
                "`ds_nodash`, `data_interval_start`, `data_interval_end`, e.g. "
                "`{{ data_interval_start.strftime('%Y/%m/%d/%H') }}`. Empty: as the DAG file says (`{{ ds }}`)"
            ),
            section=INTERVAL,
        ),
        "resend": Param(
            False,
            type="boolean",
            title="Send this interval's files again",
            description=(
                "Re-send, on purpose, the files of this run's interval that were moved already (a backfill or "
                "manual run with partition or mtime): one new write each, recorded with this run as the reason"
            ),
            section=INTERVAL,
        ),
    }


def transfer_params() -> dict[str, Any]:
    """Transfers per task, the stability check of discovery, and the ledger connection."""
    return {
        "threads": Param(
            8, type="integer", minimum=1, maximum=128, title="Threads", description="Transfers per task",
            section=TUNING,
        ),
        "settle_seconds": Param(
            5, type="number", minimum=0, maximum=3600, title="Settle (seconds)",
            description="A young file must stay unchanged this long to be taken", section=TUNING,
        ),
        "min_age_seconds": Param(
            60, type="number", minimum=0, title="Minimum age (seconds)",
            description="Files older than this are taken without waiting", section=TUNING,
        ),
        "asset_events": Param(
            "run", type="string", enum=["run", "file", "none"], title="Asset events",
            description_md=(
                "What a transfer task that moved files tells the DAGs scheduled on its route's Asset: `run` one "
                "event with the counts, `file` one event per file (destination, size, sha256, source; up to 1,000 "
                "a task, else its run event), `none` nothing"
            ),
            section=TUNING,
        ),
        **ledger_param(),
    }  # fmt: skip


# One FTP task message: the fields of the format (see filepool.transfer.messages). The form takes any object: a
# message the task cannot run (a field missing, a typo, an unknown connection) fails alone, with its code, in the
# task's results, while the others move - as the same message from Kafka would. A schema that refused it would
# refuse the whole form, and Airflow's form shows only "Bad Request", not why.
TASK_MESSAGE = {
    "type": "object",
    "properties": {
        "task_id": {"type": "string", "description": "your id for this message; its result carries it"},
        "src_id": {"type": "string", "description": "ftp or fs connection to read from"},
        "src_path": {"type": "string"},
        "dst_id": {"type": "string", "description": "ftp or fs connection to write to"},
        "dst_path": {"type": "string"},
        "metadata": {"type": "object"},
    },
}

# One folder the hourly FTP sweep takes files from.
SWEPT_FOLDER = {
    "type": "object",
    "properties": {
        "ftp_conn_id": _CONN_ID,
        "source_path": _ABSOLUTE,
        "pattern": {"type": "string", "minLength": 1},
        "local_conn_id": _CONN_ID,
        "dest_path": {"type": "string"},
        "enabled": {"type": "boolean"},
        "backfill_select_by": {"type": "string", "enum": ["mtime", "partition"]},
        "partition": {"type": "string", "minLength": 1},
    },
    "required": ["ftp_conn_id", "source_path", "local_conn_id"],
    "additionalProperties": False,
}


def task_message_params() -> dict[str, Any]:
    """The FTP -> local DAG's form: the task messages to run (first: what a user types), the folders swept."""
    return {
        "tasks": Param(
            [],
            type="array",
            items=TASK_MESSAGE,
            title="FTP task messages",
            description_md=(
                "Move exactly these files, then stop (the folders below are not swept). One JSON object per "
                'message: `{"task_id": "t1", "src_id": "filepool_ftp", "src_path": "/outgoing/a.csv", '
                '"dst_id": "filepool_local", "dst_path": "incoming/a.csv"}`; `task_id` and `metadata` are optional. '
                "Each message gets a result record in the messages task's XCom."
            ),
            section=WHAT,
        ),
        "folders": Param(
            [
                {
                    "ftp_conn_id": FTP_CONN_ID,
                    "source_path": "/outgoing",
                    "pattern": "*",
                    "local_conn_id": LOCAL_CONN_ID,
                    "dest_path": "incoming",
                }
            ],
            type="array",
            items=SWEPT_FOLDER,
            title="Folders swept every hour",
            description_md=(
                "One JSON object per folder: `ftp_conn_id`, `source_path` (absolute), `pattern` (a glob, `*` by "
                "default), `local_conn_id`, `dest_path` (under that connection's base path), `enabled` (true by "
                "default; false leaves the folder out), and how a backfill selects its files: "
                "`backfill_select_by` (`mtime` by default, or `partition`) with `partition` (`{{ ds }}`)."
            ),
            section=WHAT,
        ),
    }
