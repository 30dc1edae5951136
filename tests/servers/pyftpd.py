"""pyftpdlib in its own process, counting concurrent logins on the server side.

Run as `python -m tests.servers.pyftpd PORT ROOT USER PASSWORD COUNTS_FILE`; the counts file holds
"current peak total" and is rewritten on every login and logout.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers.process import free_port, spawn, stop, wait_for_port


def serve(port: int, root: str, user: str, password: str, counts: str) -> None:
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

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
    CountingHandler.passive_ports = range(port + 1, port + 200)
    save()
    FTPServer(("127.0.0.1", port), CountingHandler).serve_forever()


@dataclass
class CountingFTPServer:
    """pyftpdlib serving `root` (MLSD included), recording logins in `counts_path`."""

    root: Path
    user: str = "counted"
    password: str = "counted-secret"
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
                      self.password, str(self.counts_path)], self.work / "log")
        self.pid = proc.pid
        wait_for_port(self.port, proc, self.work / "log")
        return self

    def stop(self) -> None:
        stop(self.pid)
        self.pid = None


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
