"""The File transfers page and its JSON API, mounted by the api-server under /filepool.

/health and /metrics answer without a token and tell only counts (no file name, path or connection, as Airflow's
own /api/v2/monitor/health), from a snapshot of the ledger taken at most every SNAPSHOT_SECONDS on one kept
connection, so a flood of requests costs the ledger nothing more. Everything else needs an Airflow user (see
access.py); actions also refuse requests another site could send (`not_cross_site`). A ledger that fails answers
503 with its code and no detail of the database (that goes to the api-server's log).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

from fastapi import FastAPI, HTTPException, Path, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response

from filepool.exceptions import FilepoolError
from filepool.extras import MissingExtra, require
from filepool.ledger import Ledger
from filepool.plugin.access import Action, GetUserDep, ReadableScope, may_edit, readable, user_name
from filepool.plugin.overview import Overview, Scope
from filepool.settings import Settings

log = logging.getLogger(__name__)
BIGINT = 2**63 - 1  # the ledger's ids: a larger number is no id (400, not a database error)
FileId = Path(ge=1, le=BIGINT)
SNAPSHOT_SECONDS = 5.0


def _ledger() -> Ledger:
    ledger = Ledger.from_airflow(Settings.load().ledger_conn_id, "filepool-ui")
    ledger.retry_seconds = 5  # a page waits seconds, not a minute, for a ledger that does not answer
    return ledger


def _unavailable(exc: FilepoolError) -> HTTPException:
    log.warning("File transfers page: the ledger failed: %s", exc)
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        f"[{exc.code}] the ledger did not answer; the api-server's log says why",
    )


@contextmanager
def _overview() -> Iterator[Overview]:
    """The ledger, or 503 with its error code (an undefined connection, a database down)."""
    ledger = None
    try:
        ledger = _ledger()
        yield Overview(ledger)
    except FilepoolError as exc:
        raise _unavailable(exc) from exc
    finally:
        if ledger is not None:
            ledger.close()


class Snapshot:
    """What /health and /metrics tell, read from the ledger at most every SNAPSHOT_SECONDS on one connection kept
    for the process (read-only: the page's counters are folded by the page, not here)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ledger: Ledger | None = None
        self._taken = 0.0
        self._value: dict[str, Any] | None = None

    def get(self) -> dict[str, Any] | None:
        """{"routes": [...], "outbox": {...}}, or None while the ledger does not answer."""
        with self._lock:
            if time.monotonic() - self._taken >= SNAPSHOT_SECONDS:
                self._value = self._read()
                self._taken = time.monotonic()
            return self._value

    def _read(self) -> dict[str, Any] | None:
        try:
            if self._ledger is None:
                self._ledger = _ledger()
            overview = Overview(self._ledger)
            return {
                "routes": overview.routes(Scope(every=True), fold=False),
                "outbox": overview.outbox(Scope(every=False))["channels"],
            }
        except FilepoolError as exc:
            log.warning("filepool /health: the ledger failed: %s", exc)
            if self._ledger is not None:
                self._ledger.close()
                self._ledger = None
            return None


def create_app() -> FastAPI:
    app = FastAPI(title="filepool: File transfers", docs_url=None, redoc_url=None, openapi_url=None)
    snapshot = Snapshot()

    @app.exception_handler(RequestValidationError)
    def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        """A parameter no request may have (an id past the ledger's, a number that is none): 400 with a code."""
        where = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"detail": f"[INVALID_REQUEST] {where}"}, status_code=status.HTTP_400_BAD_REQUEST)

    @app.get("/health")
    def health() -> JSONResponse:
        taken = snapshot.get()
        if taken is None:
            return JSONResponse({"ledger": "unreachable"}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
        routes = taken["routes"]
        ages = [r["oldest_waiting_seconds"] for r in routes if r["oldest_waiting_seconds"] is not None]
        return JSONResponse(
            {
                "ledger": "ok",
                "routes": len(routes),
                "backlog": sum(r["backlog"] for r in routes),
                "failed": sum(r["status"].get("FAILED", 0) for r in routes),
                "oldest_waiting_seconds": max(ages, default=None),
            }
        )

    @app.get("/metrics")
    def prometheus() -> Response:
        """The ledger's gauges for Prometheus, right however many workers there are (they are read from the
        ledger). Routes are labelled by slug (see filepool.metrics): no path or connection, so no token. Without
        the metrics extra: 501 naming it."""
        try:
            require("metrics")
        except MissingExtra as exc:
            raise HTTPException(status.HTTP_501_NOT_IMPLEMENTED, str(exc)) from exc
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

        registry = CollectorRegistry()
        up = Gauge("filepool_ledger_up", "1 when the ledger answered this scrape", registry=registry)
        files = Gauge("filepool_files", "Files in the ledger", ["route", "status"], registry=registry)
        backlog = Gauge("filepool_backlog_files", "Files waiting or in progress", ["route"], registry=registry)
        oldest = Gauge(
            "filepool_oldest_waiting_seconds", "Age of the oldest file waiting", ["route"], registry=registry
        )
        outbox = Gauge(
            "filepool_outbox_messages",
            "Results and notifications not sent yet (state pending, or parked after repeated refusals)",
            ["channel", "state"],
            registry=registry,
        )
        taken = snapshot.get()
        up.set(0 if taken is None else 1)
        routes, channels = (taken["routes"], taken["outbox"]) if taken is not None else ([], {})
        for channel, states in channels.items():
            for state, count in states.items():
                outbox.labels(channel, state).set(count)
        for route in routes:
            for state, count in route["status"].items():
                files.labels(route["slug"], state).set(count)
            backlog.labels(route["slug"]).set(route["backlog"])
            if route["oldest_waiting_seconds"] is not None:
                oldest.labels(route["slug"]).set(route["oldest_waiting_seconds"])
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse)
    def page(scope: ReadableScope) -> HTMLResponse:
        return HTMLResponse(resources.files("filepool.plugin").joinpath("static/index.html").read_text())

    @app.get("/stats")
    @app.get("/api/routes")
    def routes(scope: ReadableScope) -> dict[str, Any]:
        with _overview() as overview:
            return {"routes": overview.routes(scope)}

    @app.get("/api/throughput")
    def throughput(scope: ReadableScope, hours: int = Query(6, ge=1, le=168)) -> dict[str, Any]:
        with _overview() as overview:
            return {"hours": hours, "points": overview.throughput(scope, hours)}

    @app.get("/api/failures")
    def failures(scope: ReadableScope) -> dict[str, Any]:
        with _overview() as overview:
            return {"failures": overview.failures(scope)}

    @app.get("/api/workers")
    def workers(scope: ReadableScope) -> dict[str, Any]:
        with _overview() as overview:
            return {"workers": overview.workers(scope)}

    @app.get("/api/files")
    def search(
        scope: ReadableScope,
        path: str = Query("", max_length=1000),
        server: str = Query("", max_length=200),
        before: int | None = Query(None, ge=1, le=BIGINT),
        limit: int = Query(50, ge=1, le=500),
    ) -> dict[str, Any]:
        with _overview() as overview:
            files = overview.search(scope, path, server, before, limit)
        return {"files": files, "next_before": files[-1]["id"] if len(files) == limit else None}

    @app.get("/api/files/{file_id}")
    def file(scope: ReadableScope, file_id: int = FileId) -> dict[str, Any]:
        with _overview() as overview:
            found = overview.file(file_id)
        if found is None or not scope.allows(found["dag_id"]):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no file {file_id} that this user may see")
        return found

    def _act(file_id: int, user: Any, action: Callable[[Overview, int, str], bool], refusal: str) -> dict[str, Any]:
        with _overview() as overview:
            found = overview.file(file_id)
            if found is None or not readable(user).allows(found["dag_id"]):  # a file one may not see is not there
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no file {file_id} that this user may see")
            may_edit(user, found["dag_id"])
            if not action(overview, file_id, user_name(user)):
                raise HTTPException(status.HTTP_409_CONFLICT, f"file {file_id} is {found['status']}: {refusal}")
        return {"id": file_id, "done": action.__name__}

    @app.get("/api/outbox")
    def outbox(scope: ReadableScope) -> dict[str, Any]:
        with _overview() as overview:
            return overview.outbox(scope)

    @app.post("/api/outbox/{message_id}/send")
    def send_again(user: GetUserDep, _: Action, message_id: int = FileId) -> dict[str, Any]:
        with _overview() as overview:
            found = overview.outbox_message(message_id)
            if found is None or not readable(user).allows(found[1]):
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no outbox message {message_id} this user may see")
            may_edit(user, found[1])
            if not overview.send_again(message_id):
                raise HTTPException(status.HTTP_409_CONFLICT, f"outbox message {message_id} is not parked")
        return {"id": message_id, "done": "send_again"}

    @app.post("/api/files/{file_id}/retry")
    def retry(user: GetUserDep, _: Action, file_id: int = FileId) -> dict[str, Any]:
        return _act(file_id, user, Overview.retry_now, "only a FAILED file can be retried")

    @app.post("/api/files/{file_id}/requeue")
    def requeue(user: GetUserDep, _: Action, file_id: int = FileId) -> dict[str, Any]:
        refusal = (
            "only an IN_PROGRESS file whose worker stopped renewing its lease can be requeued; its holder is alive"
        )
        return _act(file_id, user, Overview.requeue_stuck, refusal)

    return app
