"""NewFilesTrigger: watches a route's SFTP or FTP folder from Airflow's triggerer, for a DAG scheduled on new files
through an `AssetWatcher`.

Every `poll_seconds` it lists the folder over one session it keeps, applies the transfer operators' stability rule
(`settle_seconds`, `min_age_seconds`), registers the new stable files in the ledger and fires one event for them:
the DAG run that follows moves the route's queue. The ledger decides what is new, so a restarted triggerer
neither misses a file nor fires for one twice; at start it also fires once if files wait in the route's queue
(registered by a triggerer that died before its event). The wait is asyncio; the listing and the ledger's
statements run on a thread, with the operators' own code (the SFTP listing is asyncssh's).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from filepool.settings import LEDGER_CONN_ID

log = logging.getLogger(__name__)


class NewFilesTrigger(BaseEventTrigger):
    """
    :param route: the transfer's route, as its operator is given it: ``{"kind": "sftp", "sftp_conn_id",
        "source_path", "aws_conn_id", "bucket", "key_prefix"}`` or ``{"kind": "ftp", "ftp_conn_id",
        "source_path", "local_conn_id", "dest_path"}``; the ledger job is the operator's.
    :param pattern, recursive, settle_seconds, min_age_seconds: which files, and when they are stable.
    :param poll_seconds: how often the folder is listed.
    """

    def __init__(
        self,
        *,
        route: dict[str, Any],
        pattern: str = "*",
        recursive: bool = True,
        settle_seconds: float = 2.0,
        min_age_seconds: float = 60.0,
        poll_seconds: float = 5.0,
        ledger_conn_id: str = LEDGER_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.route, self.pattern, self.recursive = route, pattern, recursive
        self.settle_seconds, self.min_age_seconds, self.poll_seconds = settle_seconds, min_age_seconds, poll_seconds
        self.ledger_conn_id = ledger_conn_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__name__}",
            {
                "route": self.route,
                "pattern": self.pattern,
                "recursive": self.recursive,
                "settle_seconds": self.settle_seconds,
                "min_age_seconds": self.min_age_seconds,
                "poll_seconds": self.poll_seconds,
                "ledger_conn_id": self.ledger_conn_id,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        watch = await asyncio.to_thread(self._open)
        job = watch.route.job
        try:
            waiting = await asyncio.to_thread(watch.queued)
            if waiting:
                log.info("%d files wait in the queue of %s: one event for them", waiting, job)
                yield self._event(job, 0, waiting)
            while True:
                new = await asyncio.to_thread(watch.poll, time.time())
                if new:
                    log.info("%d new stable files on %s", new, job)
                    yield self._event(job, new, 0)
                await asyncio.sleep(self.poll_seconds)
        finally:
            await asyncio.to_thread(watch.close)

    def _event(self, job: str, new: int, waiting: int) -> TriggerEvent:
        at = datetime.now(UTC).isoformat()
        return TriggerEvent({"route": job, "new_files": new, "waiting": waiting, "at": at})

    def _open(self) -> Any:
        """The route, its source with one session (within its server's `max_logins`), and the ledger (on the
        triggerer's thread pool)."""
        from filepool.endpoints.factory import open_source
        from filepool.ledger import Ledger
        from filepool.settings import Settings
        from filepool.transfer import process
        from filepool.transfer.discovery import Selection
        from filepool.transfer.login_slots import login_gate
        from filepool.transfer.route import ftp_to_local, sftp_to_s3
        from filepool.transfer.watch import Watch

        r = self.route
        if r.get("kind") == "ftp":
            source = open_source("ftp", r["ftp_conn_id"])
            route = ftp_to_local(r["ftp_conn_id"], r["source_path"], r["local_conn_id"], r.get("dest_path", ""))
        else:
            source = open_source("sftp", r["sftp_conn_id"])
            route = sftp_to_s3(
                r["sftp_conn_id"], r["source_path"], r["aws_conn_id"], r["bucket"], r.get("key_prefix", "")
            )
        worker = process.worker_name(f"watch {route.source}")
        connect = Ledger.opener(self.ledger_conn_id, worker)
        ledger = connect()
        ledger.migrate()
        source.share_logins(login_gate(connect, Settings.load().lease_seconds))
        selection = Selection(self.pattern, self.recursive, self.settle_seconds, self.min_age_seconds)
        return Watch(ledger, route, source, selection)
