"""The file watcher with Airflow's scheduler and triggerer running: 40 files dropped one by one into an SFTP
folder over about ten seconds are each moved to S3 exactly once by filepool_sftp_to_minio_on_arrival, within seconds
of their arrival; the triggerer SIGKILLed and restarted halfway loses and repeats none. Latency figures (arrival
to the file's COMPLETED row, after its object was verified in S3) go to test-output/file_watcher.json."""

from __future__ import annotations

import json
import os
import random
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import completed_files, ledger_rows, sha256
from tests.servers.airflow import AirflowCluster

pytestmark = pytest.mark.system
DAG = "filepool_sftp_to_minio_on_arrival"
FILES = 40


def test_files_dropped_one_by_one_move_once_within_seconds_through_a_triggerer_restart(
    conns: None, s3_server: Any, s3_client: Any, bucket: str, sftp_root: Path, postgres_server: Any, ledger_uri: str
) -> None:
    drop = sftp_root / "drop"
    drop.mkdir(mode=0o755)
    env = {
        **os.environ,
        "AIRFLOW__FILEPOOL__WATCH_SOURCE_PATH": str(drop),
        "AIRFLOW__FILEPOOL__WATCH_BUCKET": bucket,
        "AIRFLOW__FILEPOOL__WATCH_KEY_PREFIX": "arrived/",
        "AIRFLOW__FILEPOOL__WATCH_POLL_SECONDS": "1",
        "AIRFLOW__FILEPOOL__WATCH_LINGER_SECONDS": "10",
        # Airflow registers an asset's watcher when it parses the DAG file while the DAG is unpaused: the parse
        # after the unpause below, within Airflow's default interval
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
    }
    components = ("api-server", "scheduler", "dag-processor", "triggerer")
    cluster = AirflowCluster(postgres_server, env, components=components, dags=(DAG,)).start()
    arrived: dict[str, float] = {}
    contents: dict[str, bytes] = {}
    rng = random.Random(11)
    try:
        cluster.wait_for_dag(DAG)
        cluster.api("PATCH", f"dags/{DAG}", {"is_paused": False})
        # the triggerer picks the watcher up: a first file moved says it watches
        (drop / "warm-up.bin").write_bytes(b"x")
        (drop / "warm-up.bin").chmod(0o644)
        started = time.monotonic()
        cluster.until("the watcher to start", lambda: completed_files(ledger_uri) == 1, 180, every=0.5)
        warm_up = time.monotonic() - started
        down: list[float] = []

        def dropper() -> None:
            for i in range(FILES):
                name = f"f{i:03d}.bin"
                contents[name] = rng.randbytes(rng.randint(500, 50_000))
                path = drop / name
                path.write_bytes(contents[name])
                path.chmod(0o644)
                arrived[name] = time.time()
                time.sleep(rng.uniform(0.05, 0.5))

        thread = threading.Thread(target=dropper)
        thread.start()
        while len(arrived) < FILES // 2:
            time.sleep(0.1)
        down.append(time.time())
        cluster.kill_component("triggerer")  # its watcher dies with it, mid-stream
        time.sleep(3)
        cluster.start_component("triggerer")
        thread.join()

        def all_moved() -> list[tuple[Any, ...]] | None:
            rows = ledger_rows(
                ledger_uri,
                "SELECT destination, extract(epoch FROM completed_at) FROM filepool_files WHERE status = 'COMPLETED'",
            )
            rows = [r for r in rows if r[0] != "arrived/warm-up.bin"]
            return rows if len(rows) >= FILES else None

        rows = cluster.until("every dropped file moved", all_moved, 300, every=1)
        writes = {k: n for k, n in s3_server.object_writes(bucket).items() if k != ".warm"}
        assert writes == {f"arrived/{name}": 1 for name in [*contents, "warm-up.bin"]}  # each written once
        for name, data in contents.items():
            body = s3_client.get_object(Bucket=bucket, Key=f"arrived/{name}")["Body"].read()
            assert sha256(body) == sha256(data)
        completions = ledger_rows(
            ledger_uri, "SELECT file_id, count(*) FROM filepool_file_events WHERE event = 'completed' GROUP BY 1"
        )
        assert len(completions) == FILES + 1 and {n for _, n in completions} == {1}
        latency = {
            dest.removeprefix("arrived/"): float(at) - arrived[dest.removeprefix("arrived/")] for dest, at in rows
        }

        def runs_done() -> list[dict[str, Any]] | None:
            runs = cluster.api("GET", f"dags/{DAG}/dagRuns?limit=200")["dag_runs"]
            return runs if all(r["state"] in {"success", "failed"} for r in runs) else None

        runs = cluster.until("the DAG's runs to end", runs_done, 120, every=1)
        assert {r["state"] for r in runs} == {"success"}
        # the watcher was back once the first file dropped after the kill had moved: files that arrived in between
        # waited for the restart; the others show the watcher at work
        back = min(arrived[n] + latency[n] for n in arrived if arrived[n] > down[0])
        # (a file dropped up to a poll and a settle before the kill was not registered yet either)
        steady = sorted(v for n, v in latency.items() if not down[0] - 4 <= arrived[n] <= back)
        every = sorted(latency.values())
        figure = {
            "files": FILES,
            "dag_runs": len(runs),
            "all": {
                "p50_s": round(statistics.median(every), 2),
                "p95_s": round(every[int(len(every) * 0.95)], 2),
                "max_s": round(every[-1], 2),
            },
            "outside_the_restart": {
                "files": len(steady),
                "p50_s": round(statistics.median(steady), 2) if steady else None,
                "p95_s": round(steady[max(int(len(steady) * 0.95) - 1, 0)], 2) if steady else None,
            },
            "triggerer_down_for_s": round(back - down[0], 1),
            "first_file_after_unpausing_s": round(warm_up, 1),
        }
        Path("test-output").mkdir(exist_ok=True)
        Path("test-output/file_watcher.json").write_text(json.dumps(figure, indent=1))
        print(figure)
    finally:
        cluster.stop()
