"""Who may see and do what on the File transfers page, through Airflow's own auth: every route but /health and
/metrics needs an authenticated user (the UI's JWT cookie or a bearer token); reads show the files of the DAGs the
user may read, actions need edit rights on the DAG of the file."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status

from filepool.plugin.overview import Scope

try:  # the api-server's own dependencies: the JWT cookie or bearer token, checked as Airflow's routes check it
    from airflow.api_fastapi.core_api.security import GetUserDep
except ImportError:  # pragma: no cover - an Airflow without its API server cannot serve the page anyway
    GetUserDep = Any  # type: ignore[assignment,misc]


def _auth_manager() -> Any:
    # The shared instance (not request.app.state: this app is mounted inside the api-server's).
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager()


def user_name(user: Any) -> str:
    return str(user.get_name())


def readable(user: GetUserDep) -> Scope:
    """The DAGs whose files `user` may see."""
    manager = _auth_manager()
    if manager.is_authorized_dag(method="GET", user=user):
        return Scope(every=True)
    return Scope(every=False, dag_ids=frozenset(manager.get_authorized_dag_ids(user=user, method="GET")))


def may_edit(user: Any, dag_id: str | None) -> None:
    """Refuse (403) an action on a file of `dag_id` unless `user` may edit that DAG (every DAG, for a file moved
    outside Airflow)."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

    details = DagDetails(id=dag_id) if dag_id else None
    if not _auth_manager().is_authorized_dag(method="PUT", user=user, details=details):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"editing DAG {dag_id or '(any)'} is not allowed for this user")


ReadableScope = Annotated[Scope, Depends(readable)]


def not_cross_site(request: Request) -> None:
    """Refuse (403) an action another site could make a logged-in user's browser send. Airflow takes the UI's
    `_token` cookie when no bearer token is sent, and a form on any site can POST with that cookie; it cannot send
    an `Authorization` header or a custom one (that needs a CORS preflight this app never grants), and a browser
    says where a request comes from (`Sec-Fetch-Site`). So an action needs a bearer token or the page's
    `X-Filepool-Request` header, and never comes from another site. (`Origin` is not compared with `Host`: behind
    a reverse proxy they differ for the page itself.)"""
    if request.headers.get("sec-fetch-site") in {"cross-site", "same-site"}:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a request from another site is refused")
    if not (request.headers.get("authorization") or request.headers.get("x-filepool-request")):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "an action needs a bearer token or the X-Filepool-Request header (the File transfers page sends it)",
        )


Action = Annotated[None, Depends(not_cross_site)]
