"""`max_logins` holds over every worker (real pyftpdlib counting logins on the server side, real ledger): three
worker processes of 8 threads each against a server whose connection allows 4 logins - the server never sees more
than 4 at once, sessions are still reused (a handful of logins for 1,500 files), every file moves once; a worker
SIGKILLed while it holds the slots frees them (at once on its own host, else when its lease lapses), and the
others finish; task messages, the temporary-file sweep and a file watcher take their slots like transfers do."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest

from filepool.operators import FTPTaskMessagesOperator, FTPToLocalOperator
from filepool.operators.maintenance import RemoveTempFilesOperator
from filepool.triggers.new_files import NewFilesTrigger
from tests.helpers import age, ledger_rows, sha256, write_tree
from tests.run_worker import REPO, run_workers
from tests.servers.pyftpd import serving_as_filepool_ftp

pytestmark = pytest.mark.integration


def tree_hashes(root: Path) -> dict[str, str]:
    """The moved files (a killed worker's temporary files are left to the maintenance DAG)."""
    return {
        str(p.relative_to(root)): sha256(p.read_bytes())
        for p in root.rglob("*")
        if p.is_file() and not p.name.endswith(".filepool.tmp")
    }


def register(root: Path) -> None:
    op = FTPToLocalOperator(task_id="discover", source_path="/", dest_path="in", transfer=False, settle_seconds=0)
    assert op.execute({})["discovery"]["registered"] == len([p for p in root.rglob("*") if p.is_file()])


def test_three_workers_of_eight_threads_never_log_in_more_than_four_times(
    sftp_root: Path, local_base: Path, ledger_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = write_tree(sftp_root, 1500, size=20_000)
    age(sftp_root)
    with serving_as_filepool_ftp(sftp_root, monkeypatch, extra={"max_logins": 4}) as server:
        register(sftp_root)  # pyftpdlib serves `sftp_root` as "/"
        summaries = run_workers(Path("/"), "in", count=3, threads=8, protocol="ftp")
        current, peak, total = server.counts()
    assert sum(s["files_transferred"] for s in summaries) == 1500 and not any(s["files_failed"] for s in summaries)
    assert all(s["files_transferred"] > 0 for s in summaries), summaries  # each worker moved what it claimed
    assert tree_hashes(local_base / "in") == {rel: sha256(data) for rel, data in files.items()}
    assert peak <= 4, (current, peak, total)
    assert peak == 4  # the cap was reached: it is the cap that held, not a lack of demand
    assert total <= 24, (current, peak, total)  # sessions reused across files, not one login per file
    claims = ledger_rows(
        ledger_uri, "SELECT count(*), count(DISTINCT file_id) FROM filepool_file_events WHERE event = 'claimed'"
    )
    assert claims == [(1500, 1500)]
    # every slot given back when its session closed
    assert ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_login_slots WHERE worker IS NOT NULL") == [(0,)]


def test_without_a_cap_a_task_never_holds_more_than_max_sessions_per_connection(
    sftp_root: Path, local_base: Path, ledger_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's bound without `max_logins`: three tasks of 8 threads that each list (4 listing threads) and
    move 1,500 files hold at most 3 x `max_sessions_per_connection` (8) logins at once, counted by the server: the
    listing borrows its sessions from the same pool as the copies, never on top of it."""
    files = write_tree(sftp_root, 1500, size=20_000)
    age(sftp_root)
    with serving_as_filepool_ftp(sftp_root, monkeypatch) as server:
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "tests.run_worker", "/", "in", "8", "both", "ftp"],
                cwd=REPO,
                env=dict(os.environ),
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        summaries = [json.loads(w.communicate(timeout=600)[0].splitlines()[-1]) for w in workers]
        current, peak, total = server.counts()
    assert sum(s["files_transferred"] for s in summaries) == 1500
    assert tree_hashes(local_base / "in") == {rel: sha256(data) for rel, data in files.items()}
    assert peak <= 3 * 8, (current, peak, total)


def test_a_worker_killed_while_it_holds_the_slots_frees_them_and_the_others_finish(
    sftp_root: Path, local_base: Path, ledger_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = write_tree(sftp_root, 600, size=50_000)
    age(sftp_root)
    monkeypatch.setenv("AIRFLOW__FILEPOOL__LEASE_SECONDS", "6")
    with serving_as_filepool_ftp(sftp_root, monkeypatch, extra={"max_logins": 2}) as server:
        register(sftp_root)
        first = subprocess.Popen(
            [sys.executable, "-m", "tests.run_worker", "/", "in", "4", "transfer", "ftp"],
            cwd=REPO,
            env=dict(os.environ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        held: list[tuple[str]] = []
        while time.monotonic() < deadline:  # until the first worker holds both slots and has moved files
            held = ledger_rows(ledger_uri, "SELECT DISTINCT worker FROM filepool_login_slots WHERE lease_until > now()")
            moved = ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_files WHERE status = 'COMPLETED'")[0][0]
            if len(held) == 1 and moved >= 20:
                break
            time.sleep(0.1)
        assert held and f":{first.pid}:" in held[0][0], held
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        killed_at = time.monotonic()
        summaries = run_workers(Path("/"), "in", count=2, threads=4, protocol="ftp")
        took = time.monotonic() - killed_at
        current, peak, total = server.counts()
    assert peak <= 2, (current, peak, total)
    assert not any(s["files_failed"] for s in summaries), summaries
    assert ledger_rows(ledger_uri, "SELECT status, count(*) FROM filepool_files GROUP BY status") == [
        ("COMPLETED", 600)
    ]
    assert tree_hashes(local_base / "in") == {rel: sha256(data) for rel, data in files.items()}
    Path("test-output").mkdir(exist_ok=True)
    Path("test-output/login_slots.json").write_text(json.dumps({"after_kill_seconds": took, "logins": total}))


def test_task_messages_the_temporary_file_sweep_and_a_watcher_take_slots_like_transfers(
    sftp_root: Path, local_base: Path, ledger_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One login allowed, four users of the server at once, each finishing in turn; the watcher logs out between
    polls, so its slot never idles while a transfer waits."""
    tree = write_tree(sftp_root / "tree", 200, size=20_000)
    messages = {f"m{i}.bin": os.urandom(5000 + i) for i in range(20)}
    for name, data in messages.items():
        (sftp_root / "messages").mkdir(exist_ok=True)
        (sftp_root / "messages" / name).write_bytes(data)
    watched = write_tree(sftp_root / "watched", 5)
    orphan = sftp_root / "tmp" / ".o.bin.1.filepool.tmp"  # a temporary file a dead worker left a day ago
    orphan.parent.mkdir()
    orphan.write_bytes(b"1")
    age(sftp_root)
    age(orphan.parent, 86400)
    route = {"kind": "ftp", "ftp_conn_id": "filepool_ftp", "source_path": "/watched", "local_conn_id": "filepool_local"}

    def watch_once() -> tuple[int, list[tuple[int]]]:
        watch = NewFilesTrigger(route=route, settle_seconds=0, min_age_seconds=0)._open()
        try:
            registered = watch.poll(time.time())
            held = ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_login_slots WHERE worker = %s",
                               (watch.ledger.worker,))  # fmt: skip
            return registered, held
        finally:
            watch.close()

    ti = SimpleNamespace(dag_id="d", task_id="m", map_index=-1, try_number=1, xcom_push=lambda **_: None)
    tasks = [
        {"task_id": name, "src_id": "filepool_ftp", "src_path": f"/messages/{name}", "dst_id": "filepool_local",
         "dst_path": f"messages/{name}"}
        for name in messages
    ]  # fmt: skip
    users = {
        "transfer": lambda: FTPToLocalOperator(
            task_id="t", source_path="/tree", dest_path="tree", settle_seconds=0
        ).execute({}),
        "messages": lambda: FTPTaskMessagesOperator(task_id="m", tasks=tasks, threads=4).execute({"ti": ti}),
        "sweep": lambda: RemoveTempFilesOperator(
            task_id="s", ftp_folders=[{"ftp_conn_id": "filepool_ftp", "path": "/tmp"}], older_than_hours=6
        ).execute({}),
        "watch": watch_once,
    }
    with serving_as_filepool_ftp(sftp_root, monkeypatch, extra={"max_logins": 1}) as server:
        with ThreadPoolExecutor(len(users)) as pool:
            running = {name: pool.submit(use) for name, use in users.items()}
            done = {name: future.result(timeout=180) for name, future in running.items()}
        current, peak, total = server.counts()
    assert peak == 1, (current, peak, total)
    assert done["transfer"]["files_transferred"] == 200 and done["transfer"]["files_failed"] == 0
    assert tree_hashes(local_base / "tree") == {rel: sha256(data) for rel, data in tree.items()}
    assert done["messages"]["succeeded"] == 20 and done["messages"]["failed"] == 0
    assert {p.name: p.read_bytes() for p in (local_base / "messages").iterdir()} == messages
    assert done["sweep"] == {"removed": [f"/tmp/{orphan.name}"]}
    assert not orphan.exists()
    assert done["watch"] == (len(watched), [(0,)])  # registered the new files; its slot was given back after the poll
    assert ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_login_slots WHERE worker IS NOT NULL") == [(0,)]
