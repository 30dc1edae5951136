"""The File transfers page and its API on a real api-server with Airflow's simple auth manager: who may read, who
may act, and what answers without a token."""

from __future__ import annotations

import json
import os
from typing import Any

import psycopg2
import pytest

from filepool.ledger import Completion, Failure, Ledger, TaskRef, WorkerIdentity
from tests.helpers import REPO, SECRETS, ledger_rows
from tests.servers.airflow import AirflowCluster

pytestmark = pytest.mark.system
JOB = "sftp://filepool_sftp/data/outgoing -> s3://filepool_minio/landing/"
TASK = TaskRef("filepool_sftp_to_minio", "manual__2026-11-26", "transfer", 0, 1)
READS = [
    "/filepool/",
    "/filepool/stats",
    "/filepool/api/routes",
    "/filepool/api/workers",
    "/filepool/api/failures",
    "/filepool/api/throughput",
    "/filepool/api/files?path=report",
]


def a_ledger_with_one_file_in_each_state(uri: str) -> dict[str, int]:
    """Four files of one route claimed by a worker of a DAG's task: completed, failed for good, held by a live
    worker, held by one whose lease lapsed."""
    ledger = Ledger(lambda: psycopg2.connect(uri), "host:1:filepool_sftp_to_minio.transfer[0]:abcd")
    ledger.register_worker(WorkerIdentity("host", None, 1, None), 300, TASK)
    from filepool.ledger import DiscoveredFile

    ledger.register(
        JOB, [DiscoveredFile(f"/data/outgoing/report-{i}.csv", 10 + i, 1000.0 + i, f"report-{i}.csv") for i in range(4)]
    )
    done, failed, live, stuck = ledger.claim_batch(JOB, 4, 300).files
    ledger.complete([Completion(done.id, done.attempts, 10, "ab", "sha256", None, 0.1, 0.1, 0.2)])
    ledger.fail([Failure(failed.id, failed.attempts, "AUTH_FAILED", "login refused by the server", None)])
    ledger_rows(uri, f"UPDATE filepool_files SET lease_until = now() - interval '1 second' WHERE id = {stuck.id}")
    ledger.close()
    return {"done": done.id, "failed": failed.id, "live": live.id, "stuck": stuck.id}


def test_reads_need_a_user_and_actions_need_edit_rights(postgres_server: Any, ledger_uri: str) -> None:
    ids = a_ledger_with_one_file_in_each_state(ledger_uri)
    cluster = AirflowCluster(
        postgres_server, dict(os.environ), components=("api-server",), users={"admin": "admin", "viewer": "viewer"}
    ).start()
    try:
        # /health answers anyone, and says nothing of files, paths or connections
        code, health = cluster.call("GET", "/filepool/health")
        assert code == 200 and health == {
            "ledger": "ok",
            "routes": 1,
            "backlog": 2,
            "failed": 1,
            "oldest_waiting_seconds": None,
        }
        # so does /metrics, for Prometheus: the ledger's gauges, routes labelled by a slug, no path or connection
        from prometheus_client.parser import text_string_to_metric_families

        from filepool.metrics import route_slug

        code, scraped = cluster.call("GET", "/filepool/metrics")
        assert code == 200 and JOB not in scraped and "/data/outgoing" not in scraped
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(scraped)
            for s in family.samples
        }
        slug = route_slug(JOB)
        assert samples[("filepool_ledger_up", ())] == 1
        assert samples[("filepool_backlog_files", (("route", slug),))] == 2
        assert samples[("filepool_files", (("route", slug), ("status", "FAILED")))] == 1
        # everything else needs a user: no token, or a forged one, is refused
        for path in [*READS, f"/filepool/api/files/{ids['done']}"]:
            assert cluster.call("GET", path)[0] == 401, path
            assert cluster.call("GET", path, token="not.a.jwt")[0] in {401, 403}, path
        for action in ("retry", "requeue"):
            assert cluster.call("POST", f"/filepool/api/files/{ids['failed']}/{action}")[0] == 401

        viewer, admin = cluster.token("viewer"), cluster.token("admin")
        code, routes = cluster.call("GET", "/filepool/api/routes", viewer)
        assert code == 200
        [route] = routes["routes"]
        assert route["route"] == JOB and route["dag_ids"] == [TASK.dag_id]
        assert route["status"] == {"COMPLETED": 1, "FAILED": 1, "IN_PROGRESS": 2}
        for path in READS:
            assert cluster.call("GET", path, viewer)[0] == 200, path

        # another site's form can make a logged-in browser POST with the UI's cookie: refused, as is a request a
        # browser marks cross-site; the page's own request (its header, same origin) is taken
        admin_cookie = {"Cookie": f"_token={cluster.token('admin')}"}
        form = {**admin_cookie, "Content-Type": "application/x-www-form-urlencoded"}
        for headers in (
            form,
            {**form, "Sec-Fetch-Site": "cross-site"},
            {**admin_cookie, "Sec-Fetch-Site": "cross-site", "X-Filepool-Request": "page"},
        ):
            code, refused = cluster.call("POST", f"/filepool/api/files/{ids['failed']}/retry", headers=headers)
            assert code == 403, refused
            assert "another site" in refused["detail"] or "X-Filepool-Request" in refused["detail"], refused
        assert ledger_rows(ledger_uri, f"SELECT next_attempt_at FROM filepool_files WHERE id = {ids['failed']}") == [
            (None,)
        ]
        # numbers no id can be are refused before the ledger sees them, with a code, not a database error
        for path in (
            "/filepool/api/files?before=1e20",
            "/filepool/api/files?before=100000000000000000000",
            "/filepool/api/files/100000000000000000000",
            "/filepool/api/files/0",
        ):
            code, refused = cluster.call("GET", path, viewer)
            assert code == 400 and refused["detail"].startswith("[INVALID_REQUEST]"), (path, refused)
            assert "bigint" not in str(refused) and "psycopg" not in str(refused)

        # a viewer cannot act; nothing changes
        assert cluster.call("POST", f"/filepool/api/files/{ids['failed']}/retry", viewer)[0] == 403
        assert ledger_rows(ledger_uri, f"SELECT next_attempt_at FROM filepool_files WHERE id = {ids['failed']}") == [
            (None,)
        ]

        # an admin retries the failed file now, recorded with the user's name
        assert cluster.call(
            "POST", f"/filepool/api/files/{ids['failed']}/retry", headers={**admin_cookie, "X-Filepool-Request": "page"}
        ) == (200, {"id": ids["failed"], "done": "retry_now"})
        assert ledger_rows(
            ledger_uri,
            "SELECT details->>'user' FROM filepool_file_events "
            f"WHERE file_id = {ids['failed']} AND event = 'retry_requested'",
        ) == [("admin",)]
        assert ledger_rows(
            ledger_uri, f"SELECT next_attempt_at <= now() FROM filepool_files WHERE id = {ids['failed']}"
        ) == [(True,)]

        # a requeue never takes a file from a holder that is alive; a lapsed lease's file goes back to the queue
        code, refused = cluster.call("POST", f"/filepool/api/files/{ids['live']}/requeue", admin)
        assert code == 409 and "holder is alive" in refused["detail"]
        assert cluster.call("POST", f"/filepool/api/files/{ids['stuck']}/requeue", admin)[0] == 200
        assert ledger_rows(
            ledger_uri, f"SELECT id, status FROM filepool_files WHERE id IN ({ids['live']}, {ids['stuck']}) ORDER BY id"
        ) == sorted([(ids["live"], "IN_PROGRESS"), (ids["stuck"], "DISCOVERED")])

        # one file's history links each event to the task try of its worker
        code, history = cluster.call("GET", f"/filepool/api/files/{ids['done']}", viewer)
        assert code == 200 and [e["event"] for e in history["events"]] == ["discovered", "claimed", "completed"]
        assert history["events"][1]["task_instance"] == {
            "dag_id": TASK.dag_id,
            "run_id": TASK.run_id,
            "task_id": "transfer",
            "map_index": 0,
            "try_number": 1,
        }
        code, found = cluster.call("GET", "/filepool/api/files?path=report-1", viewer)
        assert [f["source_path"] for f in found["files"]] == ["/data/outgoing/report-1.csv"]

        # the plugin is loaded once, without import errors, and its page is in the navigation
        plugins = cluster.api("GET", "plugins")
        assert [p["name"] for p in plugins["plugins"]].count("filepool") == 1
        assert cluster.api("GET", "plugins/importErrors")["total_entries"] == 0
        page = cluster.call("GET", "/filepool/", viewer)[1]
        assert "<h1>File transfers</h1>" in page
        for secret in SECRETS:
            assert secret not in str(routes) + str(history) + str(health)
    finally:
        cluster.stop()


def test_rights_per_dag_decide_which_files_a_user_sees_and_acts_on(postgres_server: Any, ledger_uri: str) -> None:
    """With an auth manager that grants rights per DAG: a user who may read one DAG sees only its routes and
    files; one who may edit it acts on its files and on no other DAG's."""
    sftp = a_ledger_with_one_file_in_each_state(ledger_uri)
    other = Ledger(lambda: psycopg2.connect(ledger_uri), "host:2:filepool_ftp_to_local.sweep[0]:abcd")
    other.register_worker(WorkerIdentity("host", None, 2, None), 300, TaskRef("filepool_ftp_to_local", "r", "sweep"))
    from filepool.ledger import DiscoveredFile

    ftp_job = "ftp://filepool_ftp/outgoing -> local://filepool_local/incoming"
    other.register(ftp_job, [DiscoveredFile("/outgoing/ftp-report.csv", 5, 1.0, "ftp-report.csv")])
    [ftp_file] = other.claim_batch(ftp_job, 1, 300).files
    other.fail([Failure(ftp_file.id, ftp_file.attempts, "FILE_NOT_FOUND", "gone", None)])
    other.close()
    sftp_paths = [f"/data/outgoing/report-{i}.csv" for i in range(4)]
    rights = {
        "sftp_reader": {"filepool_sftp_to_minio": ["GET"]},
        "sftp_editor": {"filepool_sftp_to_minio": ["GET", "PUT"]},
    }
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "AIRFLOW__CORE__AUTH_MANAGER": "tests.servers.per_dag_auth.PerDagAuthManager",
        "FILEPOOL_TEST_DAG_RIGHTS": json.dumps(rights),
    }
    cluster = AirflowCluster(
        postgres_server,
        env,
        components=("api-server", "dag-processor"),
        users={"admin": "admin", "sftp_reader": "viewer", "sftp_editor": "viewer"},
        dags=("filepool_ftp_to_local", "filepool_sftp_to_minio"),
    ).start()
    try:
        cluster.wait_for_dag("filepool_ftp_to_local")
        cluster.wait_for_dag("filepool_sftp_to_minio")
        reader, editor = cluster.token("sftp_reader"), cluster.token("sftp_editor")
        for token in (reader, editor):
            code, routes = cluster.call("GET", "/filepool/api/routes", token)
            assert code == 200 and [r["route"] for r in routes["routes"]] == [JOB]
            code, found = cluster.call("GET", "/filepool/api/files?path=report", token)
            assert sorted(f["source_path"] for f in found["files"]) == sftp_paths
            assert cluster.call("GET", f"/filepool/api/files/{ftp_file.id}", token)[0] == 404
            code, failures = cluster.call("GET", "/filepool/api/failures", token)
            assert [f["error_code"] for f in failures["failures"]] == ["AUTH_FAILED"]
        # reading a DAG is not editing it; editing one DAG is not editing another
        assert cluster.call("POST", f"/filepool/api/files/{sftp['failed']}/retry", reader)[0] == 403
        # another DAG's file the user may not see: not there, as an unknown id (its DAG is not named)
        for file_id in (ftp_file.id, 10**9):
            code, refused = cluster.call("POST", f"/filepool/api/files/{file_id}/retry", editor)
            assert code == 404 and refused["detail"] == f"no file {file_id} that this user may see", refused
        assert cluster.call("POST", f"/filepool/api/files/{sftp['failed']}/retry", editor)[0] == 200
        assert ledger_rows(
            ledger_uri,
            "SELECT file_id, details->>'user' FROM filepool_file_events WHERE event = 'retry_requested'",
        ) == [(sftp["failed"], "sftp_editor")]
    finally:
        cluster.stop()
