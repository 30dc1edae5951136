"""Who may do what through a trigger form: connection ids, buckets, folders and producer images outside what the
DAG file or [filepool] allows fail with INVALID_CONFIG before anything moves - from a trigger's conf, a task
message, or a mapped task's arguments. The deployment's defaults are put back here (tests/conftest.py widens
them for the rest of the suite)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from filepool.allow import Allowed
from filepool.endpoints.local import LocalConfig
from filepool.exceptions import InvalidConfig
from filepool.operators import FTPTaskMessagesOperator, SFTPToMinIOOperator
from filepool.operators.producer import ProducerOperator
from tests.helpers import StandInTaskInstance, age, ledger_rows, write_tree

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def deployment_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("ALLOWED_CONNECTIONS", "ALLOWED_BUCKETS", "ALLOWED_PATHS"):
        monkeypatch.delenv(f"AIRFLOW__FILEPOOL__{key}")


TI = StandInTaskInstance  # what execute() asks of Airflow's task instance


def rendered(op: Any, ti: TI, **values: Any) -> Any:
    """What Airflow does before execute(): note the arguments as written, then put the rendered values in."""
    op._as_written = {name: getattr(op, name, None) for names in op.ALLOWED_FIELDS.values() for name in names}
    for name, value in values.items():
        setattr(op, name, value)
    return op


def test_the_defaults_allow_filepool_connections_and_nothing_else() -> None:
    allowed = Allowed.of(None)
    assert allowed.connection("filepool_sftp", "x") == "filepool_sftp"
    for refused in (
        lambda: allowed.connection("aws_default", "x"),
        lambda: allowed.bucket("landing"),
        lambda: allowed.path("/data", "x"),
        lambda: allowed.image("evil:latest"),
    ):
        with pytest.raises(InvalidConfig, match="allowed here"):
            refused()
    assert allowed.image("tripclick-producer:latest")


def test_a_trigger_conf_cannot_point_the_transfer_elsewhere(
    conns: None, sftp_root: Path, bucket: str, ledger_uri: str
) -> None:
    write_tree(sftp_root, 3)
    age(sftp_root)
    written = {
        "sftp_conn_id": "{{ params.sftp_conn_id }}",
        "aws_conn_id": "filepool_minio",
        "bucket": "{{ params.bucket }}",
        "source_path": "{{ params.source_path }}",
    }
    allowed = {"buckets": [bucket], "paths": [str(sftp_root)]}

    def run(**conf: str) -> dict[str, Any]:
        op = SFTPToMinIOOperator(task_id="t", allowed=allowed, min_age_seconds=0, settle_seconds=0, **written)
        return rendered(
            op, TI(), **{"sftp_conn_id": "filepool_sftp", "bucket": bucket, "source_path": str(sftp_root), **conf}
        ).execute({"ti": TI()})

    for conf, word in [
        ({"bucket": "someone-elses"}, "bucket"),
        ({"source_path": "/etc"}, "source_path"),
        ({"sftp_conn_id": "sftp_default"}, "sftp_conn_id"),
        ({"source_path": f"{sftp_root}/../.."}, "source_path"),
    ]:
        with pytest.raises(InvalidConfig, match=word):
            run(**conf)
    # refused before the ledger was reached: no worker said it was alive, no file was registered
    assert ledger_rows(
        ledger_uri, "SELECT (SELECT count(*) FROM filepool_workers), (SELECT count(*) FROM filepool_files)"
    ) == [(0, 0)]
    assert run()["files_transferred"] == 3  # the same task inside what it is allowed moves


def test_a_mapped_tasks_arguments_are_never_taken_as_written_in_the_dag(conns: None, sftp_root: Path) -> None:
    op = SFTPToMinIOOperator(
        task_id="t",
        sftp_conn_id="filepool_sftp",
        aws_conn_id="filepool_minio",
        source_path="/srv/partner",
        bucket="partner-bucket",
    )
    with pytest.raises(InvalidConfig, match="bucket"):  # e.g. expand_kwargs() from a trigger's conf
        op.execute({"ti": TI(map_index=0)})


def test_task_messages_outside_the_allowed_connections_and_folders_fail_alone(
    ftp_conns: None, sftp_root: Path, local_base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (sftp_root / "ok.bin").write_bytes(b"fine")
    (sftp_root / "sub").mkdir()
    (sftp_root / "sub" / "other.bin").write_bytes(b"not for this DAG")
    monkeypatch.setenv("AIRFLOW_CONN_PARTNER_FTP", os.environ["AIRFLOW_CONN_FILEPOOL_FTP"])  # a real, other id
    messages = [
        {
            "task_id": "ok",
            "src_id": "filepool_ftp",
            "src_path": f"{sftp_root}/ok.bin",
            "dst_id": "filepool_local",
            "dst_path": "ok.bin",
        },
        {
            "task_id": "conn",
            "src_id": "partner_ftp",
            "src_path": f"{sftp_root}/ok.bin",
            "dst_id": "filepool_local",
            "dst_path": "conn.bin",
        },
        {
            "task_id": "path",
            "src_id": "filepool_ftp",
            "src_path": f"{sftp_root}/sub/other.bin",
            "dst_id": "filepool_local",
            "dst_path": "path.bin",
        },
    ]
    op = FTPTaskMessagesOperator(
        task_id="m", tasks=messages, allowed={"paths": [f"{sftp_root}/ok.bin"]}, fail_on_file_errors=False
    )
    summary = op.execute({})
    assert [r["task_id"] for r in summary["results"]] == ["ok"]
    assert {f["task_id"]: f["error_code"] for f in summary["failures"]} == {
        "conn": "INVALID_CONFIG",
        "path": "INVALID_CONFIG",
    }
    assert sorted(p.name for p in local_base.iterdir()) == ["ok.bin"]


def test_an_fs_connection_on_the_whole_disk_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_FS_DEFAULT", json.dumps({"conn_type": "fs", "extra": {"path": "/"}}))
    with pytest.raises(InvalidConfig, match="whole disk"):
        LocalConfig.from_airflow("fs_default")
    monkeypatch.setenv("AIRFLOW__FILEPOOL__ALLOW_ROOT_BASE_PATH", "True")
    assert LocalConfig.from_airflow("fs_default").base == "/"


def test_a_producer_image_chosen_in_a_trigger_form_must_be_allowed() -> None:
    op = ProducerOperator(
        task_id="p", docker_host_conn_id="docker_server0", file="/app/data/x.json", image="{{ params.image }}"
    )
    rendered(op, TI(), image="attacker/miner:latest")
    with pytest.raises(InvalidConfig, match="image 'attacker/miner:latest' is not allowed"):
        op.execute({"ti": TI()})
