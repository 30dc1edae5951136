"""A run tells the truth (dag.test()): a run with failed files or a failed task is not green, and its summary names
the task, the code and what to do; a source folder that does not exist is SOURCE_NOT_FOUND in the run's first
listing (an empty one is a green run with nothing to move); a connection the allow-lists refuse fails the run's
first task, before any server is listed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import age, write_tree
from tests.system.test_dags import load

pytestmark = pytest.mark.system


def logs(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> str:
    out = capfd.readouterr()
    return out.out + out.err + caplog.text


def run(conf: dict[str, Any], hour: int) -> tuple[str, dict[tuple[str, int], str]]:
    dag_run = load("filepool_sftp_to_minio").test(logical_date=datetime(2026, 11, 9, hour, tzinfo=UTC), run_conf=conf)
    states = {(ti.task_id, ti.map_index): str(ti.state).split(".")[-1].lower() for ti in dag_run.get_task_instances()}
    return str(dag_run.state).split(".")[-1].lower(), states


def test_a_run_with_a_file_that_failed_is_not_green_and_says_why(
    airflow_db: None,
    conns: None,
    sftp_root: Path,
    bucket: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    write_tree(sftp_root, 6, size=500)
    (sftp_root / "locked.bin").write_bytes(b"x" * 500)
    age(sftp_root)
    (sftp_root / "locked.bin").chmod(0o000)  # the SFTP user may not read it: IO_ERROR
    conf = {"source_path": str(sftp_root), "bucket": bucket, "workers": 2, "threads": 2, "settle_seconds": 0}
    state, states = run(conf, 1)
    assert state == "failed", states
    assert states[("asset_events", -1)] == "success"  # the run's events are sent whatever failed
    failed = sorted(k for k, v in states.items() if v == "failed")
    assert ("summary", -1) in failed and any(task == "transfer" for task, _ in failed), states
    text = logs(capfd, caplog)
    assert "failed: [TRANSFER_FAILED] 1 of 7 files failed (IO_ERROR: 1)" in text
    assert "what to do: the failed files are retried by later runs after their backoff" in text
    assert "the other routes moved" not in text  # advice for this failure, not another's


def test_a_source_folder_that_does_not_exist_fails_the_listing_and_an_empty_one_is_green(
    airflow_db: None,
    conns: None,
    sftp_root: Path,
    bucket: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    conf = {"source_path": f"{sftp_root}/mistyped", "bucket": bucket, "workers": 1, "settle_seconds": 0}
    state, states = run(conf, 2)
    assert state == "failed" and states[("discover", 0)] == "failed", states
    text = logs(capfd, caplog)
    assert f"[SOURCE_NOT_FOUND] the source folder {sftp_root}/mistyped does not exist" in text
    assert "what to do: create the folder or correct source_path" in text
    (sftp_root / "empty").mkdir()
    (sftp_root / "empty").chmod(0o755)
    state, states = run({**conf, "source_path": f"{sftp_root}/empty"}, 3)
    assert state == "success" and set(states.values()) == {"success"}, states


def test_a_connection_the_allow_lists_refuse_fails_the_first_task(
    airflow_db: None,
    conns: None,
    sftp_root: Path,
    bucket: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW__FILEPOOL__ALLOWED_CONNECTIONS", "filepool_*")
    conf = {"source_path": str(sftp_root), "bucket": bucket, "sftp_conn_id": "someone_elses_sftp"}
    state, states = run(conf, 4)
    assert state == "failed" and states[("routes", -1)] == "failed", states
    assert {v for (task, _), v in states.items() if task in ("discover", "transfer")} == {"upstream_failed"}, states
    text = logs(capfd, caplog)
    assert "sftp_conn_id connection 'someone_elses_sftp' is not allowed here" in text
    assert "routes failed: [INVALID_CONFIG]" in text and "nothing was listed or moved" in text
