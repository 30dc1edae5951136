"""`make airflow` (scripts/local_airflow.py): a local Airflow on the demo's servers comes up, its DAGs move the demo's
files, the File transfers page reads their ledger, and Ctrl-C stops everything it started."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from tests.helpers import REPO
from tests.servers.airflow import rest, until
from tests.servers.process import free_port

pytestmark = pytest.mark.system


def call(port: int, method: str, path: str, token: str | None = None, body: Any = None) -> Any:
    return rest(f"http://127.0.0.1:{port}", method, path, token, body)


def logs_of(folder: Path) -> Callable[[], str]:
    return lambda: "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in folder.glob("*.log"))


def test_make_airflow_brings_up_a_ui_whose_dags_move_the_demo_files_and_stops_on_ctrl_c() -> None:
    demo = Path(tempfile.mkdtemp(prefix="filepool-make-airflow-"))
    demo.chmod(0o755)
    port = free_port()
    env = {**os.environ, "FILEPOOL_DEMO_DIR": str(demo), "FILEPOOL_AIRFLOW_PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "scripts" / "local_airflow.py")],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    home = demo / "airflow-local"
    try:
        assert proc.stdout is not None
        printed = []
        for line in proc.stdout:
            printed.append(line)
            if "Ctrl-C stops" in line:
                break
        text = "".join(printed)
        password = re.search(r"login: admin / (\S+)\)", text).group(1)  # type: ignore[union-attr]
        assert f"http://127.0.0.1:{port}/plugin/file-transfers" in text
        token = call(port, "POST", "/auth/token", body={"username": "admin", "password": password})["access_token"]
        dags = until(
            "the DAGs to be parsed",
            lambda: (
                {d["dag_id"] for d in call(port, "GET", "/api/v2/dags", token)["dags"]}
                >= {
                    "filepool_sftp_to_minio",
                    "filepool_ftp_to_local",
                    "filepool_maintenance",
                    "filepool_producer_batch",
                    "filepool_producer_realtime",
                }
            ),
            240,
            logs=logs_of(home),
        )
        assert dags

        # the connections are Airflow's own, in its database: the Connections page lists them, with filepool's
        # form for SFTP and FTP, and Test logs in
        listed = {
            c["connection_id"]: c["conn_type"] for c in call(port, "GET", "/api/v2/connections", token)["connections"]
        }
        assert {k: v for k, v in listed.items() if k.startswith("filepool_")} == {
            "filepool_ledger": "postgres",
            "filepool_sftp": "filepool_sftp",
            "filepool_minio": "aws",
            "filepool_ftp": "filepool_ftp",
            "filepool_local": "fs",
            **({"filepool_kafka": "kafka"} if "filepool_kafka" in listed else {}),
        }
        for conn_id in ("filepool_ftp", "filepool_sftp"):
            stored = call(port, "GET", f"/api/v2/connections/{conn_id}", token)
            tried = call(port, "POST", "/api/v2/connections/test", token, {**stored, "connection_id": conn_id})
            assert tried["status"] is True and "logged in" in tried["message"], tried
        ledger = json.loads((home / "connections.json").read_text())["filepool_ledger"]  # the same PostgreSQL
        metadata = psycopg2.connect(
            host=ledger["host"],
            port=ledger["port"],
            user=ledger["login"],
            password=ledger["password"],
            dbname="airflow",
        )
        with metadata, metadata.cursor() as cur:  # stored encrypted, with make airflow's own Fernet key
            cur.execute("SELECT conn_id FROM connection WHERE password IS NOT NULL AND NOT is_encrypted")
            assert cur.fetchall() == []
            cur.execute("SELECT count(*) FROM connection WHERE is_encrypted AND conn_id LIKE 'filepool%'")
            assert cur.fetchone()[0] >= 4
        metadata.close()

        runs = {
            "filepool_ftp_to_local": {},  # the hourly sweep of the FTP server's /outgoing, as scheduled
            "filepool_sftp_to_minio": {"workers": 2},  # its Source folder: the demo's, as make airflow sets it
        }
        for dag_id, conf in runs.items():
            call(port, "PATCH", f"/api/v2/dags/{dag_id}", token, {"is_paused": False})
            run = call(port, "POST", f"/api/v2/dags/{dag_id}/dagRuns", token, {"logical_date": None, "conf": conf})
            state = until(
                f"{dag_id} to finish",
                lambda d=dag_id, r=run["dag_run_id"]: (
                    (s := call(port, "GET", f"/api/v2/dags/{d}/dagRuns/{r}", token)["state"]) in {"success", "failed"}
                    and s
                ),
                240,
                logs=logs_of(home),
            )
            assert state == "success", dag_id
        assert len(list((demo / "local" / "incoming").rglob("*.json"))) == 60  # the FTP samples, moved

        # the producer DAG sends the three days of logs of the Docker host it started, one run a day
        assert "Producer:        unpause filepool_producer_batch: 3 days from 2026-01-01" in text
        dag = "filepool_producer_batch"
        call(port, "PATCH", f"/api/v2/dags/{dag}", token, {"is_paused": False})
        runs_done = until(
            f"{dag}'s three daily runs",
            lambda: (
                len(r := call(port, "GET", f"/api/v2/dags/{dag}/dagRuns?state=success&state=failed", token)["dag_runs"])
                == 3
                and r
            ),
            240,
            logs=logs_of(home),
        )
        assert {r["state"] for r in runs_done} == {"success"}
        for r in runs_done:
            entry = f"/api/v2/dags/{dag}/dagRuns/{r['dag_run_id']}/taskInstances/produce_docker_server0"
            summary = call(port, "GET", f"{entry}/xcomEntries/return_value?deserialize=true", token)["value"]
            assert summary["delivered"] == 2000 and summary["rejected"] == 0, summary

        # the maintenance DAG, triggered by hand, cleans up after all of them
        run = call(port, "POST", "/api/v2/dags/filepool_maintenance/dagRuns", token, {"logical_date": None})
        call(port, "PATCH", "/api/v2/dags/filepool_maintenance", token, {"is_paused": False})
        state = until(
            "filepool_maintenance to finish",
            lambda: (
                (
                    s := call(port, "GET", f"/api/v2/dags/filepool_maintenance/dagRuns/{run['dag_run_id']}", token)[
                        "state"
                    ]
                )
                in {"success", "failed"}
                and s
            ),
            240,
            logs=logs_of(home),
        )
        assert state == "success"

        routes = call(port, "GET", "/filepool/api/routes", token)["routes"]
        completed = sorted(r["status"].get("COMPLETED", 0) for r in routes)
        assert completed == [60, 302]
        assert call(port, "GET", "/filepool/health")["ledger"] == "ok"
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        code = proc.wait(timeout=120)
        shutil.rmtree(demo, ignore_errors=True)
    assert code == 0
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # the api-server is gone
