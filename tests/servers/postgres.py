"""A throwaway PostgreSQL cluster on a free loopback port (Debian's binaries, run as `postgres` when root)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers.process import ServerStartError, crash, free_port, spawn, stop, tail, wait_for_port

USER = "filepool"
PASSWORD = "ledger-secret-7f3a"  # a test secret: the log tests look for it


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise FileNotFoundError("PostgreSQL binaries not found: install Debian's `postgresql` package")


@dataclass
class PostgresServer:
    """One cluster: `start()` runs initdb and postgres, `stop()` ends it and removes its folder."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="filepool-pg-")))
    port: int = field(default_factory=free_port)
    pid: int | None = None
    keep: bool = False  # keep the data folder at stop (the demo's ledger survives between runs)

    @property
    def run_as(self) -> str | None:
        return "postgres" if os.geteuid() == 0 else None

    def uri(self, dbname: str = "postgres") -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{dbname}"

    def start(self) -> PostgresServer:
        bindir = _bindir()
        data, sock, log = self.root / "data", self.root / "sock", self.root / "postgres.log"
        sock.mkdir(parents=True, exist_ok=True)
        log.touch()
        self.root.chmod(0o755)
        if self.run_as:
            ids = pwd.getpwnam(self.run_as)
            for p in (self.root, sock, log):
                os.chown(p, ids.pw_uid, ids.pw_gid)
        if not (data / "PG_VERSION").exists():
            self._initdb(bindir, data)
        proc = spawn(
            [
                str(bindir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-k",
                str(sock),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=300",
            ],
            log,
            user=self.run_as,
        )
        self.pid = proc.pid
        wait_for_port(self.port, proc, log)
        self._wait_ready(log)
        return self

    def _wait_ready(self, log: Path, timeout: float = 60.0) -> None:
        """The port opens before PostgreSQL takes connections ("the database system is starting up", or "not yet
        accepting connections" while a crash is recovered)."""
        import psycopg2

        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg2.connect(self.uri(), connect_timeout=5).close()
                return
            except psycopg2.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise ServerStartError(f"postgres on {self.port} not ready: {exc}\n{tail(log)}") from exc
                time.sleep(0.05)

    def restart_after_crash(self, down_seconds: float) -> None:
        """An outage: postgres and its backends killed, `down_seconds` without it, then started again (crash
        recovery)."""
        crash(self.pid)
        time.sleep(down_seconds)
        self.start()

    def _initdb(self, bindir: Path, data: Path) -> None:
        pwfile = self.root / "pwfile"
        pwfile.write_text(PASSWORD)
        if self.run_as:
            os.chown(pwfile, pwd.getpwnam(self.run_as).pw_uid, -1)
        subprocess.run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                USER,
                "--pwfile",
                str(pwfile),
                "-A",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            user=self.run_as,
        )
        pwfile.unlink()

    def stop(self) -> None:
        stop(self.pid)
        self.pid = None
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)
