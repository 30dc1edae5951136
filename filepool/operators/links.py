"""The transfer operators' extra link: each task's route on the File transfers page (the page links back to the
task tries that moved each file)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink


def page_url(job: str | None = None) -> str:
    """The File transfers page of this deployment (Airflow's `[api] base_url`), on one route when given."""
    try:
        from airflow.configuration import conf

        base = str(conf.get("api", "base_url", fallback="") or "").rstrip("/")
    except Exception:  # outside Airflow
        base = ""
    return f"{base}/filepool/" + (f"?route={quote(job, safe='')}" if job else "")


class FileTransfersLink(BaseOperatorLink):
    """ "File transfers" on a transfer task: the route it worked on, its files and their history."""

    name = "File transfers"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        return page_url(getattr(operator, "route_job", None))
