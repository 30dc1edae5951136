"""pyftpdlib in its own process, counting concurrent logins on the server side.

Run as `python -m tests.servers.pyftpd PORT ROOT USER PASSWORD COUNTS_FILE DROP_ONCE`; the counts file holds
"current peak total" and is rewritten on every login and logout.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.servers.process import free_port, spawn, stop, wait_for_port


def serve(port: int, root: str, user: str, password: str, counts: str, drop_once: str = "") -> None:
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.filesystems import AbstractedFS
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

    dropped: set[str] = set()

    class BreaksOnce:
        """A file that fails after 64 KiB the first time it is read: the server aborts the data connection."""

        def __init__(self, f: Any) -> None:
            self._f, self._sent = f, 0
            self.name = f.name
            self.closed = False

        def read(self, n: int = -1) -> bytes:
            if self._sent >= 65536:
                raise OSError("simulated loss of the data connection")
            data = self._f.read(min(n, 65536 - self._sent) if n > 0 else 65536 - self._sent)
            self._sent += len(data)
            return data

        def close(self) -> None:
            self.closed = True
            self._f.close()

    class DroppingFS(AbstractedFS):
        def open(self, filename: str, mode: str) -> Any:
            f = super().open(filename, mode)
            if drop_once and filename.endswith(drop_once) and "r" in mode and filename not in dropped:
                dropped.add(filename)
                return BreaksOnce(f)
            return f

    lock = threading.Lock()
    state = {"current": 0, "peak": 0, "total": 0}

    def save() -> None:  # atomically: the test reads it while sessions come and go
        Path(counts + ".new").write_text(f"{state['current']} {state['peak']} {state['total']}\n")
        os.replace(counts + ".new", counts)

    class CountingHandler(FTPHandler):
        def on_login(self, username: str) -> None:
            with lock:
                state["current"] += 1
                state["total"] += 1
                state["peak"] = max(state["peak"], state["current"])
                save()
            self._counted = True

        def on_disconnect(self) -> None:
            if getattr(self, "_counted", False):
                with lock:
                    state["current"] -= 1
                    save()

    authorizer = DummyAuthorizer()
    authorizer.add_user(user, password, root, perm="elradfmwMT")
    CountingHandler.authorizer = authorizer
    CountingHandler.abstracted_fs = DroppingFS
    CountingHandler.use_sendfile = False
    CountingHandler.passive_ports = range(port + 1, port + 200)
    save()
    FTPServer(("127.0.0.1", port), CountingHandler).serve_forever()


@dataclass
class CountingFTPServer:
    """pyftpdlib serving `root` (MLSD included), recording logins in `counts_path`."""

    root: Path
    user: str = "counted"
    password: str = "counted-secret"
    drop_once: str = ""  # a file name whose first download the server aborts after 64 KiB
    port: int = field(default_factory=free_port)
    work: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="filepool-pyftpd-")))
    pid: int | None = None

    @property
    def counts_path(self) -> Path:
        return self.work / "counts"

    def counts(self) -> tuple[int, int, int]:
        current, peak, total = (int(x) for x in self.counts_path.read_text().split())
        return current, peak, total

    def start(self) -> CountingFTPServer:
        proc = spawn([sys.executable, "-m", "tests.servers.pyftpd", str(self.port), str(self.root), self.user,
                      self.password, str(self.counts_path), self.drop_once], self.work / "log")
        self.pid = proc.pid
        wait_for_port(self.port, proc, self.work / "log")
        return self

    def stop(self) -> None:
        stop(self.pid)
        self.pid = None
        shutil.rmtree(self.work, ignore_errors=True)


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6])
