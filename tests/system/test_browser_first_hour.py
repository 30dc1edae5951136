"""A new user's first hour in the Airflow UI, in a real browser (Debian's chromium, through Playwright) against a
real api-server, scheduler and dag-processor, with filepool_sftp_to_minio as a deployment edits its file (its
folder, daily intervals, date folders for backfills):

- the Connections page lists the connections, SFTP and FTP with filepool's form fields, and Test logs in;
- the trigger form, sent with its defaults and only the source folder changed, moves the folder: every transfer
  task green, each that moved files with its asset event;
- a run with a file it cannot read is not green, and its summary names the task, the code and what to do;
  Retry and run now on the File transfers page moves the file once it is readable;
- a folder that does not exist fails the run with SOURCE_NOT_FOUND;
- a task message without `src_path` fails alone, the other moves;
- a three-day backfill from the UI's dialog (which sends no conf) moves each day's files in its own run, once.

Screenshots of every step go to test-output/first-hour/ at the repository's top.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.helpers import REPO, age, ledger_rows, sha256, write_tree
from tests.servers.airflow import AirflowCluster
from tests.system.test_backfill import summary_of
from tests.system.test_browser import browser, file_history, logged_in_page  # noqa: F401 - browser: the fixture

pytestmark = pytest.mark.system
DAG, FTP_DAG, BUCKET = "filepool_sftp_to_minio", "filepool_ftp_to_local", "landing"
SHOTS = REPO / "test-output" / "first-hour"
DAYS = ["2026-01-01", "2026-01-02", "2026-01-03"]


def deployed_dags(folder: Path) -> Path:
    """The DAG files as a deployment edits them: filepool_sftp_to_minio with daily intervals and a folder per date
    for backfills."""
    folder.mkdir()
    for name in ("filepool_sftp_to_minio.py", "filepool_ftp_to_local.py"):
        shutil.copy(REPO / "dags" / name, folder / name)
    path = folder / "filepool_sftp_to_minio.py"
    text = path.read_text()
    for old, new in (
        ("SCHEDULE: str | None = None", 'SCHEDULE: str | None = "0 0 * * *"'),
        ('BACKFILL_SELECT_BY = "mtime"', 'BACKFILL_SELECT_BY = "partition"'),
    ):
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text)
    return folder


def runs_of(cluster: AirflowCluster, dag_id: str, run_type: str = "manual") -> list[dict[str, Any]]:
    return cluster.api("GET", f"dags/{dag_id}/dagRuns?run_type={run_type}&order_by=run_after&limit=100")["dag_runs"]


def trigger_from_the_form(page: Any, base: str, dag_id: str, fill: Any, shot: str) -> None:
    page.goto(f"{base}/dags/{dag_id}")
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("What to move").click()
    fill(page, dialog)
    page.screenshot(path=SHOTS / shot)
    dialog.get_by_role("button", name="Trigger").click()
    dialog.wait_for(state="hidden")


def the_new_run(cluster: AirflowCluster, dag_id: str, seen: set[str]) -> dict[str, Any]:
    run = cluster.until(
        f"a new run of {dag_id}",
        lambda: next((r for r in runs_of(cluster, dag_id) if r["dag_run_id"] not in seen), None),
    )
    seen.add(run["dag_run_id"])

    def finished() -> dict[str, Any] | None:
        now = cluster.api("GET", f"dags/{dag_id}/dagRuns/{run['dag_run_id']}")
        return now if now["state"] in {"success", "failed"} else None

    return cluster.until(f"{run['dag_run_id']} to finish", finished, 300)


def task_states(cluster: AirflowCluster, dag_id: str, run_id: str) -> dict[tuple[str, int], str]:
    tis = cluster.api("GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=200")["task_instances"]
    return {(t["task_id"], t["map_index"]): t["state"] for t in tis}


def log_of(cluster: AirflowCluster, dag_id: str, run_id: str, task: str, map_index: int = -1) -> str:
    path = f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task}/logs/1?map_index={map_index}&full_content=true"
    content = cluster.api("GET", path)["content"]
    return "\n".join(json.dumps(line) if isinstance(line, dict) else str(line) for line in content)  # with tracebacks


def test_a_new_users_first_hour(
    browser: Any,  # noqa: F811
    postgres_server: Any,
    sshd_server: Any,
    conns: None,
    ftp_conns: None,
    s3_client: Any,
    s3_server: Any,
    sftp_root: Path,
    local_base: Path,
    ledger_uri: str,
    tmp_path: Path,
) -> None:
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    if BUCKET not in {b["Name"] for b in s3_client.list_buckets()["Buckets"]}:
        s3_client.create_bucket(Bucket=BUCKET)
    days_tree, today, locked = sftp_root / "by-day", sftp_root / "today", sftp_root / "locked"
    day_files = {day: write_tree(days_tree / day, 4, size=700, random_seed=n) for n, day in enumerate(DAYS)}
    for day, files in day_files.items():  # modified on their day, as files of a date folder are
        noon = datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC).timestamp()
        for rel in files:
            os.utime(days_tree / day / rel, (noon, noon))
    today_files = write_tree(today, 400, size=300, random_seed=7)
    write_tree(locked, 5, size=300, random_seed=8)
    (locked / "secret.bin").write_bytes(b"s" * 300)
    age(today)
    age(locked)
    (locked / "secret.bin").chmod(0o000)  # the SFTP user may not read it: IO_ERROR
    env = {
        **os.environ,
        "AIRFLOW__FILEPOOL__ALLOWED_PATHS": str(sftp_root),
        "AIRFLOW__FILEPOOL__SFTP_SOURCE_PATH": str(days_tree),  # the form's default folder, the scheduled sweep's
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
    }
    cluster = AirflowCluster(
        postgres_server,
        env,
        users={"admin": "admin"},
        dags_folder=deployed_dags(tmp_path / "dags"),
    ).start()
    seen: set[str] = set()
    try:
        cluster.wait_for_dag(DAG)
        cluster.wait_for_dag(FTP_DAG)
        # the connections, in Airflow's database as `make airflow` writes them (filepool's types for SFTP and FTP)
        for conn_id, conn_type in (("filepool_sftp", "filepool_sftp"), ("filepool_ftp", "filepool_ftp")):
            given = json.loads(os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"])
            body = {"connection_id": conn_id, "conn_type": conn_type, "host": given["host"], "port": given["port"],
                    "login": given["login"], "password": given["password"],
                    "extra": json.dumps(given.get("extra", {}))}  # fmt: skip
            cluster.api("POST", "connections", body)
        page, base = logged_in_page(browser, cluster)

        # 13: the Connections page lists them; the FTP one's form shows filepool's fields, and Test logs in
        page.goto(f"{base}/connections")
        ftp_row = page.get_by_role("row").filter(
            has=page.get_by_test_id("table-cell-connection_id").get_by_text("filepool_ftp", exact=True)
        )
        ftp_row.wait_for(timeout=30_000)
        page.screenshot(path=SHOTS / "01-connections-listed.png")
        ftp_row.get_by_role("button", name="Edit Connection").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_text("Extra Fields", exact=True).click()
        dialog.get_by_text("Server's time zone").wait_for()
        dialog.get_by_text("Most logins at once").wait_for()
        page.screenshot(path=SHOTS / "02-ftp-connection-form-fields.png", full_page=True)
        page.keyboard.press("Escape")
        ftp_row.get_by_role("button", name="Test Connection").click()
        page.get_by_text("logged in").first.wait_for(timeout=30_000)
        page.screenshot(path=SHOTS / "03-ftp-connection-tested.png")

        # 5, 1: the form with its defaults, only the source folder changed: every task green, each event recorded
        def folder(path: Path) -> Any:
            return lambda page, dialog: dialog.locator("#element_source_path").fill(str(path))

        trigger_from_the_form(page, base, DAG, folder(today), "04-trigger-form-defaults-and-a-folder.png")
        run = the_new_run(cluster, DAG, seen)
        states = task_states(cluster, DAG, run["dag_run_id"])
        assert run["state"] == "success" and set(states.values()) == {"success"}, states
        assert summary_of(cluster, DAG, run["dag_run_id"], "summary")["files_transferred"] == len(today_files)
        events = cluster.api("GET", f"assets/events?source_run_id={quote(run['dag_run_id'])}&limit=100")["asset_events"]
        entry = f"dags/{DAG}/dagRuns/{run['dag_run_id']}/taskInstances/transfer/xcomEntries/summary"
        parts = [cluster.api("GET", f"{entry}?map_index={i}")["value"] for i in range(4)]
        assert sorted(e["extra"]["task"] for e in events) == sorted(p["task"] for p in parts if p["files_transferred"])
        page.goto(f"{base}/dags/{DAG}/runs/{run['dag_run_id']}")
        page.wait_for_timeout(2500)
        page.screenshot(path=SHOTS / "05-run-green-every-task.png")

        # 2: a file it cannot read: the run is not green; the summary says which task, which code, what to do
        trigger_from_the_form(page, base, DAG, folder(locked), "06-trigger-a-folder-with-a-locked-file.png")
        failed = the_new_run(cluster, DAG, seen)
        assert failed["state"] == "failed"
        text = log_of(cluster, DAG, failed["dag_run_id"], "summary")
        assert (
            "failed: [TRANSFER_FAILED]" in text
            and "IO_ERROR" in text
            and "Retry now on the File transfers page" in text
        )
        page.goto(f"{base}/dags/{DAG}/runs/{failed['dag_run_id']}/tasks/summary")
        page.get_by_text("what to do").first.wait_for(timeout=60_000)
        page.screenshot(path=SHOTS / "07-failed-run-summary-says-why.png")

        # 10: made readable, the file is retried and run now from the File transfers page, and moves
        (locked / "secret.bin").chmod(0o644)
        frame = file_history(page, base, "secret.bin")
        frame.get_by_role("button", name="Retry and run now").click()
        frame.locator("#next").get_by_text("started").wait_for(timeout=30_000)
        page.screenshot(path=SHOTS / "08-retry-and-run-now.png", full_page=True)
        frame.locator("#next").get_by_text("The file is COMPLETED now").wait_for(timeout=240_000)
        page.screenshot(path=SHOTS / "09-the-file-moved.png", full_page=True)
        rerun = the_new_run(cluster, DAG, seen)
        assert rerun["state"] == "success" and rerun["conf"]["source_path"] == str(locked)  # the file's own route
        key = "secret.bin"
        assert sha256(s3_client.get_object(Bucket=BUCKET, Key=key)["Body"].read()) == sha256(b"s" * 300)

        # 3: a folder that does not exist
        trigger_from_the_form(page, base, DAG, folder(sftp_root / "mistyped"), "10-trigger-a-mistyped-folder.png")
        missing = the_new_run(cluster, DAG, seen)
        assert missing["state"] == "failed"
        assert "[SOURCE_NOT_FOUND]" in log_of(cluster, DAG, missing["dag_run_id"], "discover", 0)
        page.goto(f"{base}/dags/{DAG}/runs/{missing['dag_run_id']}/tasks/discover/mapped/0")
        page.get_by_text("SOURCE_NOT_FOUND").first.wait_for(timeout=60_000)
        page.screenshot(path=SHOTS / "11-source-not-found.png")

        # 6: one task message lacking src_path fails alone; the other moves
        (sftp_root / "messages").mkdir()
        (sftp_root / "messages" / "a.csv").write_bytes(b"a" * 100)
        age(sftp_root / "messages")  # only these: the day files keep their times (a new time is a new version)
        good = {"task_id": "good", "src_id": "filepool_ftp", "src_path": f"{sftp_root}/messages/a.csv",
                "dst_id": "filepool_local", "dst_path": "inbox/a.csv"}  # fmt: skip
        lacking = {
            "task_id": "lacking",
            "src_id": "filepool_ftp",
            "dst_id": "filepool_local",
            "dst_path": "inbox/b.csv",
        }

        def messages(page: Any, dialog: Any) -> None:
            editor = dialog.locator("#element_tasks .view-lines")
            editor.click()
            page.keyboard.press("Control+End")
            for _ in "[]":
                page.keyboard.press("Backspace")
            page.keyboard.insert_text(json.dumps([good, lacking]))

        trigger_from_the_form(page, base, FTP_DAG, messages, "12-task-messages-one-lacking-src-path.png")
        ftp_seen: set[str] = set()
        the_new_run(cluster, FTP_DAG, ftp_seen)
        assert (local_base / "inbox" / "a.csv").read_bytes() == b"a" * 100
        [(code,)] = ledger_rows(
            ledger_uri, "SELECT error_code FROM filepool_files WHERE metadata->>'task_id' = 'lacking'"
        )
        assert code == "INVALID_CONFIG"

        # 7: a backfill of three days from the UI's dialog: each run moves its own day's files, once
        page.goto(f"{base}/dags/{DAG}")
        page.get_by_role("button", name="Trigger").first.click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_text("Backfill", exact=True).click()
        for label, day in (("From", DAYS[0]), ("To", DAYS[-1])):
            dialog.get_by_text("Select date and time").first.click()
            page.get_by_role("textbox", name=label).filter(visible=True).fill(day.replace("-", "/"))
            page.get_by_placeholder("HH:mm").filter(visible=True).fill("00:00")
            page.keyboard.press("Escape")
        dialog.get_by_text("3 runs will be triggered").wait_for()
        page.screenshot(path=SHOTS / "13-backfill-dialog-three-days.png")
        dialog.get_by_role("button", name="Run Backfill").click()

        def backfill_done() -> list[dict[str, Any]] | None:
            runs = runs_of(cluster, DAG, "backfill")
            return runs if len(runs) == 3 and all(r["state"] in {"success", "failed"} for r in runs) else None

        runs = cluster.until("the backfill's three runs", backfill_done, 600)
        assert [b["dag_run_conf"] for b in cluster.api("GET", f"backfills?dag_id={DAG}")["backfills"]] in ([None], [{}])
        for run in runs:
            day = run["logical_date"][:10]
            report = summary_of(cluster, DAG, run["dag_run_id"], "summary")["interval"]
            # its own day's four files, and no other's (moved by it, or already by the hourly sweep the first
            # trigger unpaused: each is written once either way, below)
            assert run["state"] == "success" and report["selected"] == 4, (day, report)
            assert report["moved"] + report["moved_already"] == 4, (day, report)
            line = f"select_by=partition {day}/: 4 selected, {report['moved']} moved, {report['moved_already']} moved"
            assert line in log_of(cluster, DAG, run["dag_run_id"], "summary")
        for day, files in day_files.items():
            for rel, data in files.items():
                assert sha256(s3_client.get_object(Bucket=BUCKET, Key=f"{day}/{rel}")["Body"].read()) == sha256(data)
        writes = {k: n for k, n in s3_server.object_writes(BUCKET).items() if k[:10] in DAYS}
        assert writes == {f"{day}/{rel}": 1 for day, files in day_files.items() for rel in files}
        page.goto(f"{base}/dags/{DAG}/runs")
        page.wait_for_timeout(2500)
        page.screenshot(path=SHOTS / "14-backfill-runs-each-its-day.png")
    finally:
        cluster.stop()
