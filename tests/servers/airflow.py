"""A real Airflow 3 deployment for system tests: api-server, scheduler (LocalExecutor) and dag-processor on this
repository's dags/, with its metadata database on the test PostgreSQL. Its REST API is what the UI uses. With a
Celery broker, the scheduler runs the CeleryExecutor and `start_celery_worker` adds workers, each on a host of its
own (a UTS namespace with its own host name)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.servers.postgres import PostgresServer
from tests.servers.process import free_port, spawn, stop, wait_for_port

REPO = Path(__file__).resolve().parent.parent.parent
AIRFLOW = str(Path(sys.executable).parent / "airflow")


def rest(base: str, method: str, path: str, token: str | None = None, body: Any = None) -> Any:
    """The JSON answer of an Airflow api-server at `base` (http://host:port) to `method` `path`, as `token`'s user."""
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base}{path}", method=method, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=60) as reply:
        return json.loads(reply.read() or b"null")


def until(
    what: str, check: Callable[[], Any], timeout: float, every: float = 1.0, logs: Callable[[], str] = str
) -> Any:
    """The first true value of `check()`, asked every `every` seconds; after `timeout`, TimeoutError with `logs()`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise TimeoutError(f"{what} did not happen within {timeout:.0f}s\n{logs()}")


@dataclass
class AirflowCluster:
    postgres: PostgresServer
    env: dict[str, str]
    home: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="filepool-airflow-")))
    port: int = field(default_factory=free_port)
    pids: list[int] = field(default_factory=list)
    components: tuple[str, ...] = ("api-server", "scheduler", "dag-processor")
    # {name: role} of Airflow's simple auth manager, each with the password "pw-<name>"; empty: everyone is admin
    users: dict[str, str] = field(default_factory=dict)
    by_name: dict[str, int] = field(default_factory=dict)  # component -> pid of its process group
    celery_broker: str | None = None  # a broker URL: the CeleryExecutor instead of the LocalExecutor
    hosts: list[str] = field(default_factory=list)  # the Celery workers' host names
    dags_folder: Path = REPO / "dags"  # a test's own copies of the DAG files, as a deployment edits them
    # the DAG ids of this repository's dags/ that the deployment runs (None: every one): each DAG file is parsed
    # in each deployment, a second or two of CPU apiece on 2 cores, so a test names those it uses
    dags: tuple[str, ...] | None = None
    admin_token: str | None = None  # fetched once: a token lasts a day, and each fetch is a request more

    def start(self) -> AirflowCluster:
        import psycopg2

        if self.dags is not None:
            self.dags_folder = self.home / "dags"
            self.dags_folder.mkdir()
            for dag_id in self.dags:
                shutil.copy(REPO / "dags" / f"{dag_id}.py", self.dags_folder / f"{dag_id}.py")

        database = f"airflow_{uuid.uuid4().hex[:8]}"
        deadline = time.monotonic() + 30
        while True:
            try:
                admin = psycopg2.connect(self.postgres.uri())
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {database}")
        admin.close()
        self.env = {
            **self.env,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor" if self.celery_broker else "LocalExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.postgres.uri(database).replace(
                "postgresql://", "postgresql+psycopg2://"
            ),
            **(
                {
                    "AIRFLOW__CELERY__BROKER_URL": self.celery_broker,
                    "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.postgres.uri(database),
                }
                if self.celery_broker
                else {}
            ),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex,
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            # a file is parsed again once it changes (Airflow compares its mtime with the last parse), so the
            # periodic re-parse of unchanged files (every 30 s by default) only spends CPU - except where a test
            # needs it: an asset watcher starts at the first parse after its DAG is unpaused (test_file_watcher)
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": self.env.get(
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL", "3600"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": str(not self.users),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{n}:{r}" for n, r in self.users.items()),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        }
        (self.home / "passwords.json").write_text(json.dumps({n: f"pw-{n}" for n in self.users}))
        self.cli("db", "migrate")
        for name in ("api-server", "scheduler", "dag-processor", "triggerer"):
            if name in self.components:
                self.start_component(name)
        return self

    def start_component(self, name: str) -> None:
        args = ["api-server", "--port", str(self.port), "--host", "127.0.0.1"] if name == "api-server" else [name]
        proc = spawn([AIRFLOW, *args], self.home / f"{name}.log", env=self.env)
        self.pids.append(proc.pid)
        self.by_name[name] = proc.pid
        if name == "api-server":
            wait_for_port(self.port, proc, self.home / f"{name}.log", timeout=180)

    def start_celery_worker(self, host: str, concurrency: int) -> None:
        """`airflow celery worker` in a UTS namespace of its own whose host name is `host`: filepool names its
        workers and finds dead ones by host name, so it sees another machine. Its logs are not served (two
        workers on one machine would want one port): the api-server reads them from the shared logs folder."""
        script = f'hostname {host} && exec "$0" celery worker --concurrency {concurrency} --skip-serve-logs'
        log = self.home / f"celery-{host}.log"
        proc = spawn(["unshare", "--uts", "sh", "-c", script, AIRFLOW], log, env=self.env)
        self.pids.append(proc.pid)
        self.by_name[host] = proc.pid
        self.hosts.append(host)
        self.until(f"celery worker {host} ready", lambda: " ready." in log.read_text(errors="replace"), timeout=180)

    def kill_host(self, host: str) -> int:
        """SIGKILL every process of a Celery worker's host (its UTS namespace): the worker, its pool and the task
        processes it started, as when the machine dies. Returns how many."""
        pid = self.by_name.pop(host)
        self.pids.remove(pid)
        self.hosts.remove(host)
        try:
            namespace = os.readlink(f"/proc/{pid}/ns/uts")
        except FileNotFoundError:  # the worker is gone already
            return 0
        killed = 0
        for entry in os.listdir("/proc"):
            with contextlib.suppress(OSError):
                if entry.isdigit() and os.readlink(f"/proc/{entry}/ns/uts") == namespace:
                    os.kill(int(entry), signal.SIGKILL)
                    killed += 1
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        return killed

    def kill_component(self, name: str) -> None:
        """SIGKILL a component's whole process group (a triggerer and its trigger runner, say)."""
        pid = self.by_name.pop(name)
        os.killpg(pid, signal.SIGKILL)
        self.pids.remove(pid)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)

    def cli(self, *args: str) -> str:
        done = subprocess.run([AIRFLOW, *args], env=self.env, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed: {done.stderr[-3000:]}")
        return done.stdout

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """A call to the REST API the UI uses, as an admin."""
        return rest(f"http://127.0.0.1:{self.port}", method, f"/api/v2/{path}", self._token(), body)

    def _token(self) -> str:
        if self.admin_token is None:
            self.admin_token = self._fetch_admin_token()
        return self.admin_token

    def _fetch_admin_token(self) -> str:
        if self.users:  # a deployment with users: the first admin's
            return self.token(next(name for name, role in self.users.items() if role == "admin"))
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/auth/token", method="GET")
        with urllib.request.urlopen(request, timeout=60) as reply:
            return str(json.loads(reply.read())["access_token"])

    def token(self, user: str) -> str:
        """A JWT for one of `users`, as the UI's login gets it."""
        body = {"username": user, "password": f"pw-{user}"}
        return str(rest(f"http://127.0.0.1:{self.port}", "POST", "/auth/token", body=body)["access_token"])

    def call(
        self, method: str, path: str, token: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """(status, JSON or text) of a request to `path` on the api-server, with `token` as bearer if given (and
        `headers`)."""
        headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as reply:
                status, body = reply.status, reply.read()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read()
        try:
            return status, json.loads(body)
        except ValueError:
            return status, body.decode(errors="replace")

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.api("GET", f"dags/{dag_id}")
                return
            except Exception:
                time.sleep(1)
        raise TimeoutError(f"{dag_id} was not parsed within {timeout}s:\n{self.logs()}")

    def until(self, what: str, check: Callable[[], Any], timeout: float = 300, every: float = 1.0) -> Any:
        """`until` with this deployment's logs. A check is a request or two to the api-server: asked five times a
        second, the polls of a long wait cost the api-server about as much CPU as the tasks' own calls."""
        return until(what, check, timeout, every, self.logs)

    def logs(self) -> str:
        """The tail of each component's log and of every task log, for a failing test's message."""
        paths = [*self.home.glob("*.log"), *sorted((self.home / "logs").rglob("*.log"))]
        return "\n".join(f"--- {p.relative_to(self.home)}\n{p.read_text(errors='replace')[-3000:]}" for p in paths)

    def stop(self) -> None:
        for host in list(self.hosts):  # with the task processes they started, whatever their process group
            self.kill_host(host)
        for pid in reversed(self.pids):
            stop(pid)
        self.pids.clear()
        shutil.rmtree(self.home, ignore_errors=True)
