"""FTP and explicit FTPS through an Airflow `ftp` connection, on ftplib (one session per thread, pooled).

Connection fields: host, port (21), login, password; extra: `tls` (explicit FTPS with a protected data channel),
`passive` (default true), `verify` (check the server certificate, default true), `ca_file`, `timeout`,
`timezone` (the IANA zone of the server's LIST times, e.g. "America/New_York"). Listing uses MLSD where the
server offers it (UTC, to the second) and LIST otherwise (vsftpd): LIST times are minutes on the server's clock,
so discovery counts a LIST file as old only a minute later than listed, or, when the connection does not say
the server's zone, 12 hours later (a server west of UTC would otherwise make young files look old). Downloads
stream RETR in chunks; uploads STOR to a temporary name, check its SIZE, then rename (RNFR/RNTO), so no partial
file is ever visible. Discovery never takes filepool's own temporary files (`*.filepool.tmp`) as sources.
"""

from __future__ import annotations

import contextlib
import fnmatch
import ftplib
import logging
import posixpath
import socket
import ssl
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from filepool.airflow_connections import read_connection
from filepool.endpoints.ftp.listing import Entry, Problems, list_entry, mlsd_entry, mlsd_facts
from filepool.endpoints.ftp.wire import WIRE, LeanFTP, from_wire, recv_full, to_wire
from filepool.endpoints.sockets import kernel_timeouts
from filepool.exceptions import (
    AuthenticationFailed,
    ConnectionFailed,
    FileNotFound,
    FilepoolError,
    InvalidConfig,
    ListingError,
    TransferIOError,
    TransferStalled,
)
from filepool.interfaces import RemoteFile
from filepool.settings import Settings

log = logging.getLogger(__name__)
CHUNK = 1024 * 1024
_IDLE_CHECK_SECONDS = 30.0  # a session idle longer than this is checked with NOOP before reuse
_WEST_MOST_UTC_OFFSET = 12 * 3600.0  # UTC-12


@dataclass(frozen=True)
class FTPConfig:
    conn_id: str
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    tls: bool
    passive: bool
    verify: bool
    ca_file: str | None
    timeout: float
    zone: tzinfo | None = None  # of the server's LIST times; None: not known
    max_logins: int | None = None  # sessions open at once over every worker and host (None: no such cap)
    stall_seconds: float = 120.0  # a part that does not come whole within this fails the file (TRANSFER_STALLED)
    max_entries: int = 500_000  # a folder listing more fails that folder (LISTING_ERROR)

    @classmethod
    def from_airflow(cls, conn_id: str) -> FTPConfig:
        conn = read_connection(conn_id)
        settings = Settings.load()
        return cls(
            conn_id=conn_id,
            host=conn.require_host(),
            port=conn.port or 21,
            username=conn.login or "anonymous",
            password=conn.password or "",
            tls=conn.flag("tls"),
            passive=conn.flag("passive", True),
            verify=conn.flag("verify", True),
            ca_file=conn.text("ca_file"),
            timeout=conn.number("timeout", 30),
            zone=_zone(conn_id, conn.text("timezone")),
            max_logins=conn.limit("max_logins"),
            stall_seconds=conn.number("stall_seconds", settings.stall_seconds),
            max_entries=settings.max_folder_entries,
        )

    def where(self) -> str:
        return f"{self.host}:{self.port} (connection {self.conn_id!r})"


def _zone(conn_id: str, name: str | None) -> tzinfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidConfig(f"connection {conn_id!r}: unknown timezone {name!r} (an IANA name, e.g. UTC)") from exc


def translate(exc: BaseException, config: FTPConfig, path: str | None = None) -> FilepoolError:
    if isinstance(exc, FilepoolError):
        return exc
    text = from_wire(str(exc))
    if isinstance(exc, ftplib.error_perm):
        if text.startswith("530"):
            return AuthenticationFailed(f"login as {config.username!r} refused by {config.where()}")
        if text.startswith("550"):
            return FileNotFound(f"{path} not found on {config.where()} ({text})")
        return TransferIOError(f"{path}: {text} at {config.where()}")
    if isinstance(exc, ftplib.error_temp | ftplib.error_reply | ftplib.error_proto | EOFError | OSError):
        return ConnectionFailed(
            f"connection to {config.where()} failed on {path or 'login'}: {type(exc).__name__}: {text}"
        )
    return TransferIOError(f"{type(exc).__name__} on {path} at {config.where()}: {text}")


class FTPSession:
    """One logged-in control connection, binary mode, reused across files."""

    def __init__(self, config: FTPConfig, ftp: ftplib.FTP, mlsd: bool | None) -> None:
        self.config = config
        self._ftp = ftp
        self._mlsd = mlsd  # None: FEAT did not say; the first listing tries MLSD
        self._broken = False
        self._last_used = time.monotonic()

    @classmethod
    def open(cls, config: FTPConfig) -> FTPSession:
        ftp: ftplib.FTP
        if config.tls:
            context = ssl.create_default_context(cafile=config.ca_file)
            if not config.verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            ftp = ftplib.FTP_TLS(context=context, timeout=config.timeout, encoding=WIRE)
        else:
            ftp = LeanFTP(timeout=config.timeout, encoding=WIRE)
        try:
            ftp.connect(config.host, config.port)
            ftp.login(to_wire(config.username), to_wire(config.password))
            if isinstance(ftp, ftplib.FTP_TLS):
                ftp.prot_p()
            ftp.voidcmd("TYPE I")
            ftp.set_pasv(config.passive)
            features = _features(ftp)
            if features is not None and "UTF8" in features:
                with contextlib.suppress(ftplib.Error):
                    ftp.sendcmd("OPTS UTF8 ON")
        except Exception as exc:
            with contextlib.suppress(Exception):
                ftp.close()
            raise translate(exc, config) from exc
        # RFC 3659 announces MLSD as MLST. A FEAT that failed says nothing: MLSD is tried rather than LIST, whose
        # times are coarser (a session that fell back silently would list the same files with other times).
        return cls(config, ftp, None if features is None else bool({"MLSD", "MLST"} & features))

    @property
    def listing(self) -> str:
        """How this session lists folders: "MLSD", "LIST", or "unknown" until its first listing."""
        return {True: "MLSD", False: "LIST", None: "unknown"}[self._mlsd]

    def mtime_slack(self, precision: float) -> float:
        """How much later than listed a file may have changed: MLSD times are exact UTC; LIST times are minutes
        (or days), in the server's zone, which may be up to 12 hours behind UTC when the connection does not give
        it."""
        if self._mlsd:
            return 0.0
        return precision + (0.0 if self.config.zone is not None else _WEST_MOST_UTC_OFFSET)

    def _call(self, fn: Any, *args: Any, path: str | None = None) -> Any:
        try:
            result = fn(*args)
        except Exception as exc:
            error = translate(exc, self.config, path)
            if isinstance(error, ConnectionFailed):
                self._broken = True
            raise error from exc
        self._last_used = time.monotonic()
        return result

    @property
    def broken(self) -> bool:
        """True once the control connection may be out of step: the pool closes the session, never reuses it."""
        return self._broken

    def mark_broken(self) -> None:
        """Said by a reader or writer that stopped mid-transfer."""
        self._broken = True

    def is_alive(self) -> bool:
        if self._broken:
            return False
        if time.monotonic() - self._last_used > _IDLE_CHECK_SECONDS:
            try:
                self._ftp.voidcmd("NOOP")
            except Exception:
                return False
            self._last_used = time.monotonic()
        return True

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._ftp.quit()
        with contextlib.suppress(Exception):
            self._ftp.close()

    # -- reading ----------------------------------------------------------------------------------------------

    def open_file(self, path: str, prefetch: int = 0, offset: int = 0) -> FTPSourceFile:
        return FTPSourceFile(self, path, offset)

    def data_connection(self, command: str, path: str, offset: int = 0) -> socket.socket:
        """Open a data connection for `command`; with `offset`, REST first (resume a download)."""
        conn: socket.socket = self._call(self._ftp.transfercmd, to_wire(command), offset or None, path=path)
        if conn.gettimeout() is not None and not isinstance(conn, ssl.SSLSocket):  # not already LeanFTP's kind
            kernel_timeouts(conn, self.config.timeout)
        return conn

    def finish_transfer(self, conn: socket.socket, path: str) -> None:
        """Close a data connection and read the server's closing reply (226)."""
        with contextlib.suppress(OSError):
            if isinstance(conn, ssl.SSLSocket):
                conn.unwrap()
        conn.close()
        self._call(self._ftp.voidresp, path=path)

    def lend_socket(self) -> tuple[socket.socket, str] | None:
        """The control connection's socket, non-blocking, and the server's address, for FTPDownloads to drive
        itself (filepool/endpoints/ftp/loop.py); None for a session it cannot drive (FTPS, active mode, IPv6)."""
        ftp = self._ftp
        if not isinstance(ftp, LeanFTP) or not ftp.lendable() or self._broken:
            return None
        assert ftp.sock is not None  # lendable
        ftp.sock.setblocking(False)
        return ftp.sock, ftp.peer

    def take_back_socket(self) -> None:
        """The socket lent is blocking again, with its timeouts."""
        if self._ftp.sock is not None:
            kernel_timeouts(self._ftp.sock, self.config.timeout)
        self._last_used = time.monotonic()

    # -- listing ----------------------------------------------------------------------------------------------

    def list_files(self, root: str, pattern: str = "*", recursive: bool = True) -> list[RemoteFile]:
        found: list[RemoteFile] = []
        pending = [root]
        while pending:
            folder = pending.pop()
            for entry in self.entries(folder):
                full = posixpath.join(folder, entry.name)
                if entry.kind == "dir":
                    if recursive:
                        pending.append(full)
                elif entry.kind == "file" and fnmatch.fnmatchcase(entry.name, pattern):
                    found.append(self.remote_file(full, entry))
        return found

    def remote_file(self, path: str, entry: Entry) -> RemoteFile:
        """A listed file at `path`, with what its listing can tell of its time."""
        slack = self.mtime_slack(entry.precision)
        return RemoteFile(path, entry.size, entry.mtime, slack, entry.precision, entry.offset)

    def stat_files(self, paths: list[str]) -> dict[str, RemoteFile]:
        """Size and mtime again, by listing each parent folder once (the same source as the listing)."""
        wanted = set(paths)
        found: dict[str, RemoteFile] = {}
        for folder in sorted({posixpath.dirname(p) for p in paths}):
            with contextlib.suppress(FileNotFound):
                for entry in self.entries(folder):
                    full = posixpath.join(folder, entry.name)
                    if entry.kind == "file" and full in wanted:
                        found[full] = self.remote_file(full, entry)
        return found

    def has_folder(self, path: str) -> bool:
        """CWD into `path`: 250 says it is a folder, 550 that it is none (or not one this login may enter)."""
        try:
            self._call(self._ftp.cwd, to_wire(path), path=path)
        except FileNotFound:
            return False
        return True

    def entries(self, folder: str, problems: Problems | None = None) -> list[Entry]:
        """(name, "file" | "dir" | "other", size, mtime) for each entry of a folder; lines that cannot be read
        go to `problems`."""
        try:
            return self._list_folder(folder, problems)
        except FileNotFound:  # 550: the command was refused whole, the control connection is in step
            raise
        except Exception as exc:
            # A listing cut short (a reply not read, a data connection left open): never reuse this session.
            self._broken = True
            raise translate(exc, self.config, folder) from exc
        finally:
            # ftplib lists in ASCII mode (TYPE A) and our downloads do not reset it: back to binary, or a
            # server that honours ASCII mode (pyftpdlib) would rewrite line ends in the next file.
            if not self._broken:
                self._call(self._ftp.voidcmd, "TYPE I")

    def _list_folder(self, folder: str, problems: Problems | None) -> list[Entry]:
        """Each line read into its entry as it comes (a line is never kept), and no more than `max_entries`
        entries: an endless listing fails its folder with LISTING_ERROR instead of filling the memory."""
        entries: list[Entry] = []
        limit = self.config.max_entries
        zone = self.config.zone or UTC

        def take(line: str) -> None:
            if len(entries) >= limit:
                raise ListingError(f"{folder} lists more than {limit} entries ([filepool] max_folder_entries)")
            if self._mlsd:
                name, facts = mlsd_facts(line)
                mlsd_entry(from_wire(name), facts, entries, problems)
            else:
                list_entry(from_wire(line), zone, entries, problems)

        if self._mlsd is None:  # FEAT said nothing: MLSD unless the server does not know the command
            try:
                self._ftp.sendcmd(f"MLST {to_wire(folder)}")  # on the control connection: one round trip
                self._mlsd = True
            except ftplib.error_perm as exc:  # 550 (no such folder) says the command is known
                self._mlsd = not str(exc).startswith(("500", "502"))
                if not self._mlsd:
                    log.warning("%s offers no MLSD: listing with LIST (times in minutes)", self.config.where())
        if self._mlsd:
            self._call(self._ftp.sendcmd, "OPTS MLST type;size;modify;", path=folder)
            self._call(self._ftp.retrlines, f"MLSD {to_wire(folder)}", take, path=folder)
        else:
            self._call(self._ftp.cwd, to_wire(folder), path=folder)
            self._call(self._ftp.retrlines, "LIST -a", take, path=folder)
        return entries

    # -- writing ----------------------------------------------------------------------------------------------

    def make_dirs(self, folder: str) -> None:
        parts = [p for p in folder.split("/") if p]
        current = "/" if folder.startswith("/") else ""
        for part in parts:
            current = posixpath.join(current, part) if current else part
            with contextlib.suppress(ftplib.error_perm):  # exists already
                self._ftp.mkd(to_wire(current))

    def size(self, path: str) -> int | None:
        size: int | None = self._call(self._ftp.size, to_wire(path), path=path)
        return size

    def rename(self, source: str, target: str) -> None:
        self._call(self._ftp.rename, to_wire(source), to_wire(target), path=target)

    def delete(self, path: str) -> None:
        """Delete if possible (a temporary file); see `remove` for a source file."""
        with contextlib.suppress(Exception):
            self._ftp.delete(to_wire(path))

    # -- after a transfer: the source file's completion -------------------------------------------------------

    def remove(self, path: str) -> None:
        self._call(self._ftp.delete, to_wire(path), path=path)

    def move(self, path: str, target: str) -> None:
        self.make_dirs(posixpath.dirname(target))
        self.rename(path, target)


def _features(ftp: ftplib.FTP) -> set[str] | None:
    """What FEAT announces; None when it failed (it tells nothing, not that there is nothing)."""
    try:
        reply = ftp.sendcmd("FEAT")
    except ftplib.Error:
        return None
    return {line.strip().split(" ")[0].upper() for line in reply.splitlines()[1:-1]}


class FTPSourceFile:
    """A file being downloaded with RETR; its size is known only at the end of the stream.

    `close()` must run before the session goes back to its pool: a transfer left half-read leaves a reply
    pending on the control connection, so such a session is marked broken and never reused.
    """

    size: int | None = None
    mtime: float | None = None

    def __init__(self, session: FTPSession, path: str, offset: int = 0) -> None:
        self._session = session
        self.path = path
        self._offset = offset
        self._conn: socket.socket | None = None

    def parts(self, part_size: int) -> Generator[bytes, None, None]:
        self._conn = self._session.data_connection(f"RETR {self.path}", self.path, self._offset)
        config = self._session.config
        while True:
            try:
                data = recv_full(self._conn, part_size, time.monotonic() + config.stall_seconds)
            except TimeoutError as exc:
                raise TransferStalled(
                    f"{self.path}: a part did not come within {config.stall_seconds:g} s from {config.where()} ({exc})"
                ) from exc
            except OSError as exc:
                raise ConnectionFailed(f"data connection for {self.path} dropped at {config.where()}: {exc}") from exc
            if not data:
                break
            yield data
        conn, self._conn = self._conn, None
        self._session.finish_transfer(conn, self.path)

    def close(self) -> None:
        if self._conn is not None:  # stopped mid-stream
            with contextlib.suppress(OSError):
                self._conn.close()
            self._conn = None
            self._session.mark_broken()
