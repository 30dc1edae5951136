"""pyftpdlib in its own process, counting concurrent logins on the server side.

Run as `python -m tests.servers.pyftpd PORT ROOT USER PASSWORD COUNTS_FILE DROP_ONCE [FLAG ...]`; the counts
file holds "current peak total" and is rewritten on every login and logout. Flags: `hostile`: no MLSD (clients
must read LIST lines), and the listing of its root folder carries lines no client should trust (HOSTILE_LINES):
garbage, an impossible date, a name with a slash, a NUL in a name; `list_only`: no MLSD; `old_dates`: LIST shows
every file's date as `ls` does once it is six months old (`Dec 07  2026`, no time of day); `no_feat`: FEAT is
refused (MLSD still answers).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.servers.process import free_port, spawn, stop, wait_for_port

REPO = Path(__file__).resolve().parent.parent.parent

HOSTILE_LINES = (
    "this is not a listing line",
    "-rw-r--r--   1 owner    group         5 Feb 30 12:00 impossible-date.bin",
    "-rw-r--r--   1 owner    group         5 Jan 02 12:00 sub/escape.bin",
    "-rw-r--r--   1 owner    group         5 Jan 02 12:00 nul\x00name.bin",
)


_RECENT = re.compile(rb"^(.{30,}? [A-Z][a-z]{2} [ 0-9]\d) \d\d:\d\d (.*)\r\n$")


def _old_date(line: bytes, basedir: str) -> bytes:
    """A LIST line as `ls` writes it for a file six months old: the year in place of the time of day."""
    match = _RECENT.match(line)
    if match is None:
        return line
    year = time.gmtime(os.lstat(os.path.join(basedir, match[2].decode("utf-8", "surrogateescape"))).st_mtime).tm_year
    return match[1] + f"  {year} ".encode() + match[2] + b"\r\n"


def serve(
    port: int,
    root: str,
    user: str,
    password: str,
    counts: str,
    drop_once: str = "",
    flags: frozenset[str] = frozenset(),
) -> None:
    hostile = "hostile" in flags
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.filesystems import AbstractedFS
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

    dropped: set[str] = set()

    rewrite = drop_once.startswith("rewrite:")  # and rewrite the file in place (same size) as the connection drops
    trickle = drop_once.startswith("trickle:")  # a byte every half second, for ever (the server does nothing else)
    drop_once = drop_once.removeprefix("rewrite:").removeprefix("trickle:")

    class Trickles:
        def __init__(self, f: Any) -> None:
            self._f, self.name, self.closed = f, f.name, False

        def read(self, n: int = -1) -> bytes:
            time.sleep(0.5)
            return self._f.read(1)

        def close(self) -> None:
            self.closed = True
            self._f.close()

    class BreaksOnce:
        """A file that fails after 64 KiB the first time it is read: the server aborts the data connection."""

        def __init__(self, f: Any) -> None:
            self._f, self._sent = f, 0
            self.name = f.name
            self.closed = False

        def read(self, n: int = -1) -> bytes:
            if self._sent >= 65536:
                if rewrite:
                    size = os.path.getsize(self.name)
                    with open(self.name, "r+b") as again:
                        again.write(os.urandom(size))
                    stat = os.stat(self.name)
                    os.utime(self.name, (stat.st_atime, stat.st_mtime + 120))
                raise OSError("simulated loss of the data connection")
            data = self._f.read(min(n, 65536 - self._sent) if n > 0 else 65536 - self._sent)
            self._sent += len(data)
            return data

        def close(self) -> None:
            self.closed = True
            self._f.close()

    class DroppingFS(AbstractedFS):
        def format_list(self, basedir: str, listing: Any, ignore_err: bool = True) -> Any:
            for line in super().format_list(basedir, listing, ignore_err):
                yield _old_date(line, basedir) if "old_dates" in flags else line
            if hostile and os.path.realpath(basedir) == os.path.realpath(root):
                for line in HOSTILE_LINES:
                    yield (line + "\r\n").encode()

        def open(self, filename: str, mode: str) -> Any:
            f = super().open(filename, mode)
            if drop_once and filename.endswith(drop_once) and "r" in mode and filename not in dropped:
                dropped.add(filename)
                return Trickles(f) if trickle else BreaksOnce(f)
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
    refused = {"MLSD", "MLST"} if hostile or "list_only" in flags else set()
    refused |= {"FEAT"} if "no_feat" in flags else set()
    CountingHandler.proto_cmds = {k: v for k, v in CountingHandler.proto_cmds.items() if k not in refused}
    save()
    FTPServer(("127.0.0.1", port), CountingHandler).serve_forever()


@dataclass
class CountingFTPServer:
    """pyftpdlib serving `root` (MLSD included), recording logins in `counts_path`."""

    root: Path
    user: str = "counted"
    password: str = "counted-secret"
    drop_once: str = ""  # a file name whose first download the server aborts after 64 KiB ("rewrite:NAME": and
    # rewrites the file in place, same size, a newer mtime, as it drops the connection; "trickle:NAME": sends it a
    # byte every half second instead)
    hostile: bool = False  # LIST only, with HOSTILE_LINES in the root folder's listing
    flags: tuple[str, ...] = ()  # list_only, old_dates, no_feat (see the module's docstring)
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
        proc = spawn(
            [
                sys.executable,
                "-m",
                "tests.servers.pyftpd",
                str(self.port),
                str(self.root),
                self.user,
                self.password,
                str(self.counts_path),
                self.drop_once,
                *(["hostile"] if self.hostile else []),
                *self.flags,
            ],
            self.work / "log",
        )
        self.pid = proc.pid
        wait_for_port(self.port, proc, self.work / "log")
        return self

    def stop(self) -> None:
        stop(self.pid)
        self.pid = None
        shutil.rmtree(self.work, ignore_errors=True)


if __name__ == "__main__":
    port_, root_, user_, password_, counts_, drop_once_ = sys.argv[1:7]
    serve(int(port_), root_, user_, password_, counts_, drop_once_, frozenset(sys.argv[7:]))


@contextlib.contextmanager
def serving_as_filepool_ftp(
    root: Path, monkeypatch: Any, extra: dict[str, Any] | None = None, **options: Any
) -> Iterator[CountingFTPServer]:
    """A CountingFTPServer on `root` (its `options`: drop_once, hostile), as the `filepool_ftp` connection (LIST
    times in UTC, and `extra`) while the block runs; stopped after it."""
    monkeypatch.chdir(REPO)  # the server runs as `python -m tests.servers.pyftpd`
    server = CountingFTPServer(root=root, **options).start()
    try:
        monkeypatch.setenv(
            "AIRFLOW_CONN_FILEPOOL_FTP",
            json.dumps(
                {
                    "conn_type": "ftp",
                    "host": "127.0.0.1",
                    "port": server.port,
                    "login": server.user,
                    "password": server.password,
                    "extra": {"timezone": "UTC", **(extra or {})},
                }
            ),
        )
        yield server
    finally:
        server.stop()
