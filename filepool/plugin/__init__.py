"""The filepool Airflow plugin: the File transfers page (nav entry) and its API, served by the api-server.

Registered once, through the `airflow.plugins` entry point in setup.py (a second registration would be reported
as a plugin import error)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from filepool.plugin.app import create_app


class FilepoolPlugin(AirflowPlugin):
    name = "filepool"
    fastapi_apps = [{"app": create_app(), "url_prefix": "/filepool", "name": "File transfers"}]
    external_views = [
        {
            "name": "File transfers",
            "href": "filepool/",  # relative: the UI may sit under a base URL
            "destination": "nav",
            "url_route": "file-transfers",
        }
    ]
