"""Params the filepool DAGs share, so every trigger form says the same thing about the same setting."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param

from filepool.settings import LEDGER_CONN_ID


def ledger_param() -> dict[str, Any]:
    return {"ledger_conn_id": Param(LEDGER_CONN_ID, type="string", description="Airflow postgres connection")}


def transfer_params() -> dict[str, Any]:
    """Transfers per task, the stability check of discovery, and the ledger connection."""
    return {
        "threads": Param(8, type="integer", minimum=1, maximum=128, description="Transfers per task"),
        "settle_seconds": Param(
            5, type="number", minimum=0, description="A young file must stay unchanged this long to be taken"
        ),
        "min_age_seconds": Param(
            60, type="number", minimum=0, description="Files older than this are taken without waiting"
        ),
        **ledger_param(),
    }
