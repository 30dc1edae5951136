"""Redis: Debian's redis-server on a free loopback port, in memory only (the Celery broker of the Celery tests)."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers.process import free_port, spawn, stop, wait_for_port

SERVER = "/usr/bin/redis-server"


@dataclass
class RedisServer:
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="filepool-redis-")))
    port: int = field(default_factory=free_port)
    pid: int | None = None

    def start(self) -> RedisServer:
        if not Path(SERVER).exists():
            raise FileNotFoundError("redis-server not found: apt-get install redis-server")
        args = [SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        proc = spawn([*args, "--dir", str(self.root)], self.root / "server.log")
        self.pid = proc.pid
        wait_for_port(self.port, proc, self.root / "server.log")
        return self

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        stop(self.pid)
        self.pid = None
        shutil.rmtree(self.root, ignore_errors=True)
