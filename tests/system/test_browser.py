"""What a user does in the Airflow UI, in a real browser (Debian's chromium, driven by Playwright) against a real
api-server, scheduler and dag-processor: log in, trigger filepool_ftp_to_local by typing two task messages into
the form, see both files arrive, read the summary in the task's log, find a file's history on the File transfers
page, and retry a failed file from there until it completes.

Screenshots of every step go to test-output/browser/ at the repository's top.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from filepool.metrics import route_slug
from tests.helpers import REPO, age, ledger_rows, sha256
from tests.servers.airflow import AirflowCluster
from tests.servers.statsd import StatsdListener

pytestmark = pytest.mark.system
DAG = "filepool_ftp_to_local"
SHOTS = REPO / "test-output" / "browser"
CHROMIUM = "/usr/bin/chromium"


def finished_run(cluster: AirflowCluster, run_id: str) -> str | None:
    state = cluster.api("GET", f"dags/{DAG}/dagRuns/{run_id}")["state"]
    return state if state in {"success", "failed"} else None


def manual_runs(cluster: AirflowCluster) -> list[str]:
    runs = cluster.api("GET", f"dags/{DAG}/dagRuns?run_type=manual&order_by=-run_after")["dag_runs"]
    return [r["dag_run_id"] for r in runs]


@pytest.fixture
def browser() -> Any:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            raise FileNotFoundError(f"{CHROMIUM} not found: install Debian's chromium (scripts/system-deps.sh)")
        pytest.skip("chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def logged_in_page(browser: Any, cluster: AirflowCluster) -> tuple[Any, str]:
    """A page of `browser` logged in to `cluster`'s UI as admin, and the UI's base URL."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    base = f"http://127.0.0.1:{cluster.port}"
    page.goto(f"{base}/")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "pw-admin")
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/auth/login" not in url)
    return page, base


def file_history(page: Any, base: str, name: str) -> Any:
    """Open the File transfers page, search for `name` and open its first file's history; returns the page's
    frame."""
    page.goto(f"{base}/plugin/file-transfers")
    frame = page.frame_locator("iframe")
    frame.locator("input[name=path]").fill(name)
    frame.get_by_role("button", name="Search").click()
    frame.get_by_role("button", name="history").first.click()
    return frame


def test_a_user_triggers_task_messages_reads_the_log_and_retries_a_failed_file(
    browser: Any, postgres_server: Any, ftp_conns: None, sftp_root: Path, local_base: Path, ledger_uri: str
) -> None:
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    sources = {name: f"{name} - {'x' * 500}\n".encode() for name in ("a.csv", "b.csv", "c.csv")}
    for name, data in sources.items():
        (sftp_root / name).write_bytes(data)
    age(sftp_root)
    (sftp_root / "c.csv").chmod(0o000)  # the FTP user cannot read it: its transfer fails

    def message(name: str) -> dict[str, str]:
        return {
            "task_id": f"t-{name}",
            "src_id": "filepool_ftp",
            "src_path": f"{sftp_root}/{name}",
            "dst_id": "filepool_local",
            "dst_path": f"inbox/{name}",
        }

    statsd = StatsdListener().start()  # the task metrics of a real scheduler's task runs
    cluster = AirflowCluster(
        postgres_server, {**os.environ, **statsd.airflow_env()}, users={"admin": "admin"}, dags=(DAG,)
    ).start()
    try:
        cluster.wait_for_dag(DAG)
        page, base = logged_in_page(browser, cluster)
        page.screenshot(path=SHOTS / "01-logged-in.png")

        # trigger the DAG from its form, typing two task messages into the form's own field
        page.goto(f"{base}/dags/{DAG}")
        page.get_by_role("button", name="Trigger").first.click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_text("What to move").click()
        editor = dialog.locator("#element_tasks .view-lines")
        editor.click()
        page.keyboard.press("Control+End")
        for _ in "[]":  # the field's default, an empty list
            page.keyboard.press("Backspace")
        page.keyboard.insert_text(json.dumps([message("a.csv"), message("b.csv")]))
        page.screenshot(path=SHOTS / "02-trigger-form-with-two-task-messages.png")
        dialog.get_by_role("button", name="Trigger").click()
        run_id = cluster.until("a manual run", lambda: (manual_runs(cluster) or [None])[0])
        assert cluster.until("the run to finish", lambda: finished_run(cluster, run_id)) == "success"
        assert cluster.api("GET", f"dags/{DAG}/dagRuns/{run_id}")["conf"]["tasks"] == [
            message("a.csv"),
            message("b.csv"),
        ]
        for name in ("a.csv", "b.csv"):
            assert sha256((local_base / "inbox" / name).read_bytes()) == sha256(sources[name])
        page.goto(f"{base}/dags/{DAG}/runs/{run_id}")
        page.wait_for_timeout(2000)
        page.screenshot(path=SHOTS / "03-run-succeeded.png")

        # the messages task's log shows its summary
        page.goto(f"{base}/dags/{DAG}/runs/{run_id}/tasks/messages")
        page.get_by_text("Task messages: 2 succeeded, 0 failed").first.wait_for(timeout=60_000)
        page.get_by_text("Ledger start-up").first.wait_for(timeout=10_000)  # the phases, as folded groups
        page.get_by_text("Transfer (progress every").first.wait_for(timeout=10_000)
        page.screenshot(path=SHOTS / "04-task-log-summary.png")

        # File transfers: search a path, open its history
        frame = file_history(page, base, "b.csv")
        frame.get_by_text("(filepool_ftp)").first.wait_for(timeout=30_000)  # its route, named
        frame.locator("#events").get_by_text("completed", exact=True).wait_for(timeout=30_000)
        page.screenshot(path=SHOTS / "05-file-history.png", full_page=True)

        # a file that fails: its run fails, the page shows why; the user fixes it and retries it from the page
        cluster.api("POST", f"dags/{DAG}/dagRuns", {"logical_date": None, "conf": {"tasks": [message("c.csv")]}})
        failed_run = cluster.until(
            "a second manual run", lambda: next((r for r in manual_runs(cluster) if r != run_id), None)
        )
        assert cluster.until("it to finish", lambda: finished_run(cluster, failed_run)) == "failed"
        [(file_id, code)] = ledger_rows(
            ledger_uri,
            "SELECT id, error_code FROM filepool_files WHERE source_path = %s AND status = 'FAILED'",
            (f"{sftp_root}/c.csv",),
        )
        (sftp_root / "c.csv").chmod(0o644)
        page.goto(f"{base}/plugin/file-transfers")
        page.frame_locator("iframe").get_by_text(code).first.wait_for(timeout=30_000)  # among failures by code
        frame = file_history(page, base, "c.csv")
        frame.get_by_role("button", name="Retry now").click()
        frame.locator("#events").get_by_text("retry_requested").wait_for(timeout=30_000)
        page.screenshot(path=SHOTS / "06-failed-file-retried-from-the-page.png", full_page=True)
        assert ledger_rows(
            ledger_uri,
            f"SELECT details->>'user' FROM filepool_file_events WHERE file_id = {file_id} "
            "AND event = 'retry_requested'",
        ) == [("admin",)]

        # the next run takes it (the run a user or the hourly schedule starts), and the page shows it completed
        cluster.api("POST", f"dags/{DAG}/dagRuns", {"logical_date": None, "conf": {"tasks": [message("c.csv")]}})
        third = cluster.until(
            "a third manual run",
            lambda: next((r for r in manual_runs(cluster) if r not in {run_id, failed_run}), None),
        )
        assert cluster.until("it to finish", lambda: finished_run(cluster, third)) == "success"
        assert sha256((local_base / "inbox" / "c.csv").read_bytes()) == sha256(sources["c.csv"])
        page.reload()
        frame = page.frame_locator("iframe")
        frame.locator("input[name=path]").fill("c.csv")
        frame.get_by_role("button", name="Search").click()
        frame.locator("#files").get_by_text("COMPLETED").wait_for(timeout=30_000)
        frame.get_by_role("button", name="history").first.click()
        frame.locator("#events").get_by_text("completed", exact=True).wait_for(timeout=30_000)
        page.screenshot(path=SHOTS / "07-retried-file-completed.png", full_page=True)

        # the task runs sent their metrics to statsd, tagged by route (a, b, then c once retried)
        [(job,)] = ledger_rows(ledger_uri, "SELECT DISTINCT job FROM filepool_files")
        route = f"route={route_slug(job)}"
        cluster.until("the task metrics", lambda: statsd.total("airflow.filepool.files_transferred", route) == 3)
        assert statsd.total("airflow.filepool.bytes_transferred", route) == sum(len(d) for d in sources.values())
        assert statsd.total("airflow.filepool.files_failed", route) >= 1, statsd.lines
        assert not any(str(sftp_root) in line for line in statsd.lines)  # no path in any metric
    finally:
        cluster.stop()
        statsd.stop()
