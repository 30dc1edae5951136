"""RabbitMQ: Debian's rabbitmq-server, its node, distribution and epmd ports on loopback, its data in a folder of
its own (kept across `stop()` and `start()`, so a restart keeps durable queues and persistent messages)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.servers.process import free_port, spawn, stop, wait_for_port

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"


@dataclass
class RabbitMQServer:
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="filepool-rabbitmq-")))
    port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)
    epmd_port: int = field(default_factory=free_port)
    user: str = "filepool"
    password: str = "amqp-secret-3c1d"
    pid: int | None = None

    def env(self) -> dict[str, str]:
        return {
            "HOME": str(self.root),  # the Erlang cookie
            "RABBITMQ_NODENAME": f"filepool{self.port}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.root / "pid"),
        }

    def start(self) -> RabbitMQServer:
        if not Path(SERVER).exists():
            raise FileNotFoundError("rabbitmq-server not found: apt-get install rabbitmq-server")
        (self.root / "enabled_plugins").write_text("[].\n")
        (self.root / "rabbitmq.conf").write_text(
            f"default_user = {self.user}\ndefault_pass = {self.password}\nloopback_users = none\n"
        )
        proc = spawn([SERVER], self.root / "server.log", env=self.env())
        self.pid = proc.pid
        wait_for_port(self.port, proc, self.root / "server.log", timeout=90)
        return self

    def conn(self, **extra: Any) -> str:
        """An Airflow connection to this server."""
        return json.dumps(
            {
                "conn_type": "amqp",
                "host": "127.0.0.1",
                "port": self.port,
                "login": self.user,
                "password": self.password,
                "schema": "/",
                "extra": extra,
            }
        )

    def channel(self) -> Any:
        import pika

        credentials = pika.PlainCredentials(self.user, self.password)
        return pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", self.port, credentials=credentials))

    def stop(self, keep_data: bool = False) -> None:
        stop(self.pid, timeout=30)
        self.pid = None
        # epmd daemonizes out of the server's process group
        subprocess.run(["epmd", "-port", str(self.epmd_port), "-kill"], env=self.env(), capture_output=True)
        if not keep_data:
            shutil.rmtree(self.root, ignore_errors=True)
