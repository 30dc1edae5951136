"""Every DAG file imports cleanly under Airflow 3, and filepool_sftp_to_minio runs end to end with dag.test()."""

from __future__ import annotations

import copy
import json
import os
import re
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import REPO, SECRETS, age, bucket_contents, dag_bag, ledger_rows, sha256, write_tree

pytestmark = pytest.mark.system
DAG_FILES = sorted((REPO / "dags").glob("*.py"))


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_imports_without_errors_or_deprecations(path: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bag = dag_bag(path)
    assert bag.import_errors == {}
    assert bag.dags, f"{path.name} defines no DAG"
    deprecations = [
        w
        for w in caught
        if issubclass(w.category, DeprecationWarning | PendingDeprecationWarning)
        and "filepool" in str(w.filename) + str(w.message)
    ]
    assert deprecations == []


def load(dag_id: str) -> Any:
    return dag_bag(REPO / "dags", to_run=True).get_dag(dag_id)


def test_sftp_to_minio_dag_end_to_end(
    airflow_db: None,
    conns: None,
    sftp_root: Path,
    bucket: str,
    s3_client: Any,
    ledger_uri: str,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    files = write_tree(sftp_root, 150, size=5000)
    age(sftp_root)
    dag = load("filepool_sftp_to_minio")
    conf = {
        "source_path": str(sftp_root),
        "bucket": bucket,
        "key_prefix": "dag/",
        "workers": 3,
        "threads": 4,
        "settle_seconds": 1,
    }

    run = dag.test(logical_date=datetime(2026, 11, 1, tzinfo=UTC), run_conf=conf)
    assert str(run.state) in {"success", "DagRunState.SUCCESS"}
    assert bucket_contents(s3_client, bucket, "dag/") == {rel: sha256(d) for rel, d in files.items()}
    assert ledger_rows(ledger_uri, "SELECT status, count(*) FROM filepool_files GROUP BY status") == [
        ("COMPLETED", 150)
    ]
    # dag.test() runs the mapped slots one after another, so the first may drain the queue: what it must show is
    # every slot's summary, adding up to the files moved, each slot its own worker in the ledger.
    first = capfd.readouterr()
    slots = re.findall(
        r"transfer\[\d\] \(worker (\S+)\): (\d+) files transferred, 0 failed", first.out + first.err + caplog.text
    )
    assert len(slots) == 3 and len({w for w, _ in slots}) == 3, slots
    assert sum(int(n) for _, n in slots) == 150
    claimers = ledger_rows(ledger_uri, "SELECT DISTINCT worker FROM filepool_file_events WHERE event = 'claimed'")
    assert {w for (w,) in claimers} <= {w for w, _ in slots}
    # each worker is the task try it ran in (the File transfers page links to its log), each file its DAG's
    tries = ledger_rows(
        ledger_uri,
        "SELECT dag_id, run_id, task_id, map_index, try_number FROM filepool_workers ORDER BY task_id, map_index",
    )
    assert [(t[0], t[2], t[3], t[4]) for t in tries] == [
        ("filepool_sftp_to_minio", "discover", 0, 1),  # mapped over the run's routes: here the form's one
        *[("filepool_sftp_to_minio", "transfer", slot, 1) for slot in range(3)],
    ]
    assert {t[1] for t in tries} == {run.run_id}
    assert ledger_rows(ledger_uri, "SELECT DISTINCT dag_id FROM filepool_files") == [("filepool_sftp_to_minio",)]
    # workers that ended cleanly say so: none is listed as alive once the run is over
    assert ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_workers WHERE alive_until > now()") == [(0,)]

    again = dag.test(logical_date=datetime(2026, 11, 1, 1, tzinfo=UTC), run_conf=conf)
    assert str(again.state) in {"success", "DagRunState.SUCCESS"}
    assert ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_file_events WHERE event='completed'") == [(150,)]
    out = capfd.readouterr()
    logs = first.out + first.err + out.out + out.err + caplog.text
    assert "This run: 150 files moved (0.8 MB), 0 failed, on 1 of 1 routes" in logs  # the first run's summary task
    for secret in SECRETS:
        assert secret not in logs


def test_several_routes_in_one_run_and_a_server_that_is_down_fails_only_its_own(
    airflow_db: None,
    conns: None,
    sftp_root: Path,
    bucket: str,
    s3_client: Any,
    ledger_uri: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tests.servers.process import free_port

    a = write_tree(sftp_root / "a", 40, size=3000)
    b = write_tree(sftp_root / "b", 25, size=3000, random_seed=9)
    age(sftp_root)
    down = json.loads(os.environ["AIRFLOW_CONN_FILEPOOL_SFTP"]) | {"port": free_port()}  # nothing listens there
    monkeypatch.setenv("AIRFLOW_CONN_FILEPOOL_SFTP_DOWN", json.dumps(down))
    conf = {
        "routes": [
            {"name": "a", "source_path": str(sftp_root / "a"), "key_prefix": "a/"},
            {"name": "b", "source_path": str(sftp_root / "b"), "key_prefix": "b/", "workers": 1},
            {"name": "down", "sftp_conn_id": "filepool_sftp_down", "source_path": str(sftp_root / "a"),
             "key_prefix": "down/"},
            {"name": "off", "source_path": "/nowhere", "enabled": False},
        ],
        "bucket": bucket,
        "workers": 2,
        "threads": 4,
        "settle_seconds": 0,
    }  # fmt: skip
    run = load("filepool_sftp_to_minio").test(logical_date=datetime(2026, 11, 3, tzinfo=UTC), run_conf=conf)

    assert str(run.state) in {"failed", "DagRunState.FAILED"}  # the summary says a route's tasks did not finish
    expected = {f"a/{rel}": sha256(d) for rel, d in a.items()} | {f"b/{rel}": sha256(d) for rel, d in b.items()}
    assert bucket_contents(s3_client, bucket) == expected
    assert ledger_rows(
        ledger_uri, "SELECT split_part(job, ' -> ', 2), status, count(*) FROM filepool_files GROUP BY 1, 2 ORDER BY 1"
    ) == [(f"s3://filepool_minio/{bucket}/a/", "COMPLETED", 40), (f"s3://filepool_minio/{bucket}/b/", "COMPLETED", 25)]
    states = {(ti.task_id, ti.map_index): str(ti.state) for ti in run.get_task_instances()}
    # the down route's discovery failed with its code; its transfer slots found its queue empty; nothing else failed
    assert sorted(k for k, v in states.items() if "failed" in v) == [("discover", 2), ("summary", -1)], states
    assert len([k for k in states if k[0] == "transfer"]) == 5  # a: 2 slots, b: 1, down: 2, off: none
    out = capfd.readouterr()
    logs = out.out + out.err + caplog.text
    assert "[CONNECTION_ERROR] connection to 127.0.0.1" in logs and "(connection 'filepool_sftp_down')" in logs
    # the summary names the failed task, its code, and what to do about it
    assert "discover[2] failed: [CONNECTION_ERROR]" in logs
    assert "what to do: once the server answers, clear the failed tasks: their files wait in the queue" in logs


def test_ftp_to_local_dag_sweeps_then_runs_task_messages(
    airflow_db: None, ftp_conns: None, sftp_root: Path, local_base: Path, ftp_upload_root: Path, ledger_uri: str
) -> None:
    import hashlib

    files = write_tree(sftp_root, 499, size=3000)
    (sftp_root / "d0" / "empty file").write_bytes(b"")
    files["d0/empty file"] = b""
    age(sftp_root)
    dag = load("filepool_ftp_to_local")
    sweep = {
        "folders": [
            {
                "ftp_conn_id": "filepool_ftp",
                "source_path": str(sftp_root),
                "pattern": "*",
                "local_conn_id": "filepool_local",
                "dest_path": "incoming",
            }
        ],
        "threads": 8,
    }

    run = dag.test(logical_date=datetime(2026, 11, 2, tzinfo=UTC), run_conf=sweep)
    assert str(run.state) in {"success", "DagRunState.SUCCESS"}
    landed = {
        str(p.relative_to(local_base / "incoming")): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (local_base / "incoming").rglob("*")
        if p.is_file()
    }
    assert landed == {rel: sha256(data) for rel, data in files.items()}

    uploads = sorted(files)[:200]
    tasks = [
        {
            "task_id": f"up-{i}",
            "src_id": "filepool_local",
            "src_path": f"incoming/{rel}",
            "dst_id": "filepool_ftp",
            "dst_path": f"{ftp_upload_root}/{rel}",
        }
        for i, rel in enumerate(uploads)
    ]
    run = dag.test(logical_date=datetime(2026, 11, 2, 1, tzinfo=UTC), run_conf={"tasks": tasks})
    assert str(run.state) in {"success", "DagRunState.SUCCESS"}
    results = run.get_task_instance("messages").xcom_pull(task_ids="messages")
    assert len(results["results"]) == 200 and results["failures"] == []
    assert {r["task_id"] for r in results["results"]} == {f"up-{i}" for i in range(200)}
    for rel in uploads:
        assert sha256((ftp_upload_root / rel).read_bytes()) == sha256(files[rel])

    completed = ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_file_events WHERE event = 'completed'")
    dag.test(logical_date=datetime(2026, 11, 2, 2, tzinfo=UTC), run_conf=sweep)
    dag.test(logical_date=datetime(2026, 11, 2, 3, tzinfo=UTC), run_conf={"tasks": tasks})
    assert (
        ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_file_events WHERE event = 'completed'")
        == completed
        == [(700,)]
    )


def test_kafka_task_messages_dag_moves_and_answers(
    airflow_db: None,
    kafka_conn: Any,
    ftp_conns: None,
    sftp_root: Path,
    local_base: Path,
    ledger_uri: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.integration.test_kafka_intake import messages, produce, results, source_files, topics

    monkeypatch.setenv("AIRFLOW__FILEPOOL__ALLOWED_PATHS", str(sftp_root))
    files = source_files(sftp_root, 30)
    topic = topics(kafka_conn, "dag-tasks")
    outside = {"task_id": "outside", "src_id": "filepool_ftp", "src_path": "/etc/passwd", "dst_id": "filepool_local",
               "dst_path": "x"}  # fmt: skip
    produce(kafka_conn, topic, [*messages(sftp_root, files, duplicates=2, malformed=1), json.dumps(outside).encode()])
    conf = {
        "topic": topic,
        "results_topic": f"{topic}-results",
        "failures_topic": f"{topic}-failures",
        "dead_letter_topic": f"{topic}-dead-letter",
        "idle_seconds": 3,
    }
    run = load("filepool_kafka_task_messages").test(logical_date=datetime(2026, 11, 2, tzinfo=UTC), run_conf=conf)
    assert str(run.state) in {"success", "DagRunState.SUCCESS"}
    summary = run.get_task_instance("intake").xcom_pull(task_ids="intake")
    assert (summary["consumed"], summary["new"], summary["duplicate"], summary["malformed"]) == (34, 31, 2, 1)
    assert summary["refused"] == 1  # allowed_paths applies to task messages from Kafka as to any trigger
    for rel, data in files.items():
        assert sha256((local_base / "out" / rel).read_bytes()) == sha256(data)
    last, _, _ = results(kafka_conn, topic, 30)  # successes; the refusal comes from the failures topic
    refused = last.pop("outside")
    assert (refused["status"], refused["error_code"]) == ("failure", "INVALID_CONFIG")
    assert not (local_base / "x").exists()
    assert len(last) == 30 and {r["status"] for r in last.values()} == {"success"}


def test_maintenance_dag_reports_what_it_did(
    airflow_db: None, conns: None, local_base: Path, bucket: str, s3_client: Any, ledger_uri: str
) -> None:
    orphan = local_base / ".lost.bin.0.filepool.tmp"
    orphan.write_bytes(b"x")
    import os

    os.utime(orphan, (1, 1))
    theirs = s3_client.create_multipart_upload(Bucket=bucket, Key="theirs.bin")["UploadId"]
    dag = load("filepool_maintenance")
    run = dag.test(
        logical_date=datetime(2026, 11, 3, tzinfo=UTC), run_conf={"buckets": [bucket], "upload_older_than_hours": 1}
    )
    assert str(run.state) in {"success", "DagRunState.SUCCESS"}
    report = run.get_task_instance("report").xcom_pull(task_ids="report")
    assert report["remove_temp_files"]["removed"] == [str(orphan)]
    # another application's upload (and a young one): never aborted (test_maintenance.py aborts filepool's own)
    assert report["abort_stale_uploads"]["aborted"] == []
    assert [u["UploadId"] for u in s3_client.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [theirs]
    assert report["requeue_expired_leases"] == {"requeued": 0, "worker_lost": 0}
    assert report["prune_ledger"] == {"pruned": 0}
    assert report["publish_outbox"] == {"sent": {"kafka": 0, "amqp": 0}, "left": {}}
    assert not orphan.exists()


def test_retention_at_zero_then_the_hourly_dag_moves_and_writes_nothing_again(
    airflow_db: None, conns: None, s3_server: Any, sftp_root: Path, bucket: str, ledger_uri: str
) -> None:
    files = write_tree(sftp_root, 40, size=1500)
    age(sftp_root)
    hourly, maintenance = load("filepool_sftp_to_minio"), load("filepool_maintenance")
    conf = {"source_path": str(sftp_root), "bucket": bucket, "key_prefix": "r/", "workers": 2, "threads": 4}
    assert str(hourly.test(logical_date=datetime(2026, 11, 4, tzinfo=UTC), run_conf=conf).state) in {
        "success",
        "DagRunState.SUCCESS",
    }
    run = maintenance.test(
        logical_date=datetime(2026, 11, 4, 0, 15, tzinfo=UTC), run_conf={"retention_days": 0, "local_conn_ids": []}
    )
    assert run.get_task_instance("report").xcom_pull(task_ids="report")["prune_ledger"] == {"pruned": 40}
    again = hourly.test(logical_date=datetime(2026, 11, 4, 1, tzinfo=UTC), run_conf=conf)
    assert str(again.state) in {"success", "DagRunState.SUCCESS"}
    summary = again.get_task_instance("summary").xcom_pull(task_ids="summary")
    assert summary["files_transferred"] == 0
    writes = {k: n for k, n in s3_server.object_writes(bucket).items() if k.startswith("r/")}
    assert writes == {f"r/{rel}": 1 for rel in files}  # each object written once, the sources kept
    assert len([p for p in sftp_root.rglob("*") if p.is_file()]) == 40


@pytest.mark.parametrize(
    ("tasks", "refused"),
    [(["a JSON string, not an object"], "is not of type 'object'"), ({"src_id": "f"}, "is not of type 'array'")],
)
def test_the_task_message_form_takes_json_objects_and_refuses_what_makes_no_sense(
    airflow_db: None, tasks: list[Any], refused: str
) -> None:
    """The trigger form renders `tasks` and `folders` as JSON arrays of objects (items of type object). It takes
    any object as a message: one the task cannot run (a field missing, a typo, a connection id that is none) fails
    alone with its code in the task's results; only what is no list of objects is refused."""
    from airflow.sdk.definitions.param import ParamValidationError

    dag = load("filepool_ftp_to_local")
    good = copy.deepcopy(dag.params)
    message = {
        "task_id": "t1",
        "src_id": "filepool_ftp",
        "src_path": "/outgoing/a.csv",
        "dst_id": "filepool_local",
        "dst_path": "incoming/a.csv",
        "metadata": {"k": 1},
    }
    lacking = [{"src_id": "filepool_ftp"}, {**message, "dts_path": "typo"}, {**message, "src_id": "not a conn id"}]
    good.update({"tasks": [message, *lacking]})
    assert good.validate()["tasks"] == [message, *lacking]
    bad = copy.deepcopy(dag.params)
    with pytest.raises(ParamValidationError, match=refused):  # checked as the value is set, and again at the run
        bad.update({"tasks": tasks})
        bad.validate()
    params = dag.params.dump()
    assert list(params)[:2] == ["tasks", "folders"]  # what to move comes first in the form
    schema = dag.params.get_param("tasks").schema
    assert schema["items"]["type"] == "object" and schema["title"] == "FTP task messages"
    assert "seed" not in json.dumps(schema).lower()


@pytest.mark.parametrize("dag_id", ["filepool_sftp_to_minio", "filepool_ftp_to_local", "filepool_kafka_task_messages"])
def test_every_trigger_forms_defaults_are_valid_as_the_form_sends_them(airflow_db: None, dag_id: str) -> None:
    """The form sends an empty text field as null: a Param whose default is "" must take null too, or the form's
    Trigger button stays grey with its defaults (the browser test triggers each form with them)."""
    params = copy.deepcopy(load(dag_id).params)
    params.validate()
    empty = [name for name, value in params.dump().items() if value == ""]
    for name in empty:
        params[name] = None
    params.validate()


@pytest.mark.parametrize("dag_id", ["filepool_sftp_to_minio", "filepool_ftp_to_local"])
def test_a_transfer_dags_asset_events_come_from_one_task_one_run_at_a_time(airflow_db: None, dag_id: str) -> None:
    """Tasks that send events through one AssetAlias at once race in a fresh Airflow database (filepool.runs): in
    a run only the asset_events task has the alias, and only one of the DAG's runs at a time runs it."""
    from airflow.sdk import AssetAlias

    dag = load(dag_id)
    senders = [t for t in dag.tasks if any(isinstance(o, AssetAlias) for o in t.outlets)]
    assert [t.task_id for t in senders] == ["asset_events"]
    assert senders[0].max_active_tis_per_dag == 1 and senders[0].retries >= 1


@pytest.mark.parametrize("path", sorted((REPO / "dags").glob("filepool_*.py")), ids=lambda p: p.stem)
def test_each_dag_says_what_it_does_in_two_lines_and_shows_one_example(path: Path, airflow_db: None) -> None:
    """The DAG page: a heading, what the DAG does in bold and one more line, then one worked example; the DAG list
    shows a one-line description."""
    dag = load(path.stem)
    doc = dag.doc_md
    assert doc.startswith(f"# {path.stem}\n\n**"), doc[:80]
    first = doc.split("\n\n")[1]
    assert len(first.splitlines()) <= 3 and first.count("**") == 2, first
    assert "\n## Example\n" in doc and len(doc.splitlines()) <= 30, doc
    assert dag.description and "\n" not in dag.description and len(dag.description) <= 100


def test_the_readme_dag_moves_a_folder_once(
    airflow_db: None, conns: None, sftp_root: Path, bucket: str, s3_client: Any, ledger_uri: str, tmp_path: Path
) -> None:
    """The 12-line DAG of the README's "Use it in your own Airflow", as written there but for its folder and bucket:
    a run moves the folder, the next moves nothing."""
    readme = (REPO / "README.md").read_text()
    code = readme.split("**Use it in your own Airflow", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert 'source_path="/data/outgoing", bucket="landing"' in code
    code = code.replace('"/data/outgoing"', repr(str(sftp_root))).replace('"landing"', repr(bucket))
    (tmp_path / "readme_dag.py").write_text(code)
    files = write_tree(sftp_root, 20, size=700)
    age(sftp_root)
    dag = dag_bag(tmp_path, to_run=True).get_dag("sftp_to_landing")
    run = dag.test(logical_date=datetime(2026, 11, 2, tzinfo=UTC))
    assert str(run.state) in {"success", "DagRunState.SUCCESS"}
    assert bucket_contents(s3_client, bucket, "in/") == {rel: sha256(d) for rel, d in files.items()}
    again = dag.test(logical_date=datetime(2026, 11, 2, 1, tzinfo=UTC))
    assert str(again.state) in {"success", "DagRunState.SUCCESS"}
    assert ledger_rows(ledger_uri, "SELECT status, count(*) FROM filepool_files GROUP BY status") == [("COMPLETED", 20)]
    assert ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_file_events WHERE event = 'completed'") == [(20,)]
