"""The File transfers page and its JSON API, mounted by the api-server under /filepool.

/health answers without a token and tells only whether the ledger answers and how much waits (no file name,
path or connection, as Airflow's own /api/v2/monitor/health). Everything else needs an Airflow user
(see access.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

from fastapi import FastAPI, HTTPException, Query, status
from fastapi.responses import HTMLResponse, JSONResponse, Response

from filepool.exceptions import FilepoolError
from filepool.ledger import Ledger
from filepool.ledger.overview import Overview, Scope
from filepool.plugin.access import GetUserDep, ReadableScope, may_edit, user_name
from filepool.settings import Settings


@contextmanager
def _overview() -> Iterator[Overview]:
    """The ledger, or 503 with its error code and message (an undefined connection, a database down)."""
    ledger = None
    try:
        ledger = Ledger.from_airflow(Settings.load().ledger_conn_id, "filepool-ui")
        ledger.retry_seconds = 5  # a page waits seconds, not a minute, for a ledger that does not answer
        yield Overview(ledger)
    except FilepoolError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"[{exc.code}] {exc.message}") from exc
    finally:
        if ledger is not None:
            ledger.close()


def create_app() -> FastAPI:
    app = FastAPI(title="filepool: File transfers", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/health")
    def health() -> JSONResponse:
        try:
            with _overview() as overview:
                routes = overview.routes(Scope(every=True))
        except HTTPException:
            return JSONResponse({"ledger": "unreachable"}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
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
        ledger). Routes are labelled by slug (see filepool.metrics): no path or connection, so no token."""
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
        channels: dict[str, dict[str, int]] = {}
        try:
            with _overview() as overview:
                routes = overview.routes(Scope(every=True))
                channels = overview.outbox(Scope(every=False))["channels"]
            up.set(1)
        except HTTPException:
            routes = []
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
        before: int | None = None,
        limit: int = Query(50, ge=1, le=500),
    ) -> dict[str, Any]:
        with _overview() as overview:
            files = overview.search(scope, path, server, before, limit)
        return {"files": files, "next_before": files[-1]["id"] if len(files) == limit else None}

    @app.get("/api/files/{file_id}")
    def file(file_id: int, scope: ReadableScope) -> dict[str, Any]:
        with _overview() as overview:
            found = overview.file(file_id)
        if found is None or not scope.allows(found["dag_id"]):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no file {file_id} that this user may see")
        return found

    def _act(file_id: int, user: Any, action: Callable[[Overview, int, str], bool], refusal: str) -> dict[str, Any]:
        with _overview() as overview:
            found = overview.file(file_id)
            if found is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no file {file_id}")
            may_edit(user, found["dag_id"])
            if not action(overview, file_id, user_name(user)):
                raise HTTPException(status.HTTP_409_CONFLICT, f"file {file_id} is {found['status']}: {refusal}")
        return {"id": file_id, "done": action.__name__}

    @app.get("/api/outbox")
    def outbox(scope: ReadableScope) -> dict[str, Any]:
        with _overview() as overview:
            return overview.outbox(scope)

    @app.post("/api/outbox/{message_id}/send")
    def send_again(message_id: int, user: GetUserDep) -> dict[str, Any]:
        with _overview() as overview:
            found = overview.outbox_message(message_id)
            if found is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no outbox message {message_id}")
            may_edit(user, found[1])
            if not overview.send_again(message_id):
                raise HTTPException(status.HTTP_409_CONFLICT, f"outbox message {message_id} is not parked")
        return {"id": message_id, "done": "send_again"}

    @app.post("/api/files/{file_id}/retry")
    def retry(file_id: int, user: GetUserDep) -> dict[str, Any]:
        return _act(file_id, user, Overview.retry_now, "only a FAILED file can be retried")

    @app.post("/api/files/{file_id}/requeue")
    def requeue(file_id: int, user: GetUserDep) -> dict[str, Any]:
        refusal = (
            "only an IN_PROGRESS file whose worker stopped renewing its lease can be requeued; its holder is alive"
        )
        return _act(file_id, user, Overview.requeue_stuck, refusal)

    return app
