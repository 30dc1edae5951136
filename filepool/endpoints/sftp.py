"""SFTP through an Airflow `sftp`/`ssh` connection, on asyncssh (the library Airflow's SFTPHookAsync uses).

Connection fields: host, port, login, password; extra: `key_file`, `private_key`, `private_key_passphrase`,
`host_key`, `known_hosts`, `no_host_key_check`, `conn_timeout`, `ciphers`, `compress`. Host keys are verified
unless the connection sets `no_host_key_check: true`: against `host_key` when given, else against the
`known_hosts` file (default ~/.ssh/known_hosts). An unknown key is HOST_KEY_UNKNOWN.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import os
import posixpath
import stat
import threading
from collections.abc import Generator, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from filepool.airflow_connections import Connection, read_connection
from filepool.endpoints import aioloop
from filepool.endpoints.pool import SessionPool
from filepool.endpoints.ssh_ignore import skip_ignore_packets
from filepool.endpoints.ssh_import import asyncssh  # without its DSA warnings
from filepool.endpoints.ssh_logging import log_only_what_is_written
from filepool.endpoints.walk import LISTING_ERROR, Walk, bad_name
from filepool.exceptions import (
    AuthenticationFailed,
    ConnectionFailed,
    FileNotFound,
    FilepoolError,
    HostKeyUnknown,
    InvalidConfig,
    TransferIOError,
    TransferStalled,
)
from filepool.interfaces import GateFor, RemoteFile, Source, Unlisted
from filepool.settings import Settings

# asyncssh logs every channel open and close at INFO: task logs would drown in them.
if logging.getLogger("asyncssh").level == logging.NOTSET:
    logging.getLogger("asyncssh").setLevel(logging.WARNING)

_LIST_TIMEOUT = 300.0  # seconds for one folder's listing

# AES-GCM first: about 3x the rate of aes-ctr + hmac on these CPUs (AES-NI, no separate MAC).
_FAST_CIPHERS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
)


@dataclass(frozen=True)
class SFTPConfig:
    conn_id: str
    host: str
    port: int
    username: str | None
    password: str | None = field(repr=False)
    client_keys: Any = field(repr=False)
    passphrase: str | None = field(repr=False)
    known_hosts: Any = field(repr=False)
    connect_timeout: float
    ciphers: tuple[str, ...]
    compression: tuple[str, ...]
    max_logins: int | None = None  # sessions open at once over every worker and host (None: no such cap)
    stall_seconds: float = 120.0  # a read that brings nothing for this long fails the file (TRANSFER_STALLED)

    @classmethod
    def from_airflow(cls, conn_id: str) -> SFTPConfig:
        conn = read_connection(conn_id)
        extra = conn.extra
        client_keys: Any = None
        if extra.get("private_key"):
            client_keys = [asyncssh.import_private_key(extra["private_key"], extra.get("private_key_passphrase"))]
        elif extra.get("key_file"):
            client_keys = [extra["key_file"]]
        ciphers = extra.get("ciphers") or _FAST_CIPHERS
        if isinstance(ciphers, str):  # the connection form's field: comma-separated
            ciphers = [c.strip() for c in ciphers.split(",") if c.strip()]
        return cls(
            conn_id=conn_id,
            host=conn.require_host(),
            port=conn.port or 22,
            username=conn.login,
            password=conn.password,
            client_keys=client_keys,
            passphrase=conn.text("private_key_passphrase"),
            known_hosts=_known_hosts(conn),
            connect_timeout=conn.number("conn_timeout", 10),
            ciphers=tuple(ciphers),
            # Off unless asked for: the data we move is mostly compressed already, and zlib costs CPU.
            compression=("zlib@openssh.com", "none") if conn.flag("compress") else ("none",),
            max_logins=conn.limit("max_logins"),
            stall_seconds=conn.number("stall_seconds", Settings.load().stall_seconds),
        )


def _known_hosts(conn: Connection) -> Any:
    conn_id = conn.conn_id
    host_key = conn.text("host_key")
    if conn.flag("no_host_key_check"):
        if host_key:
            raise InvalidConfig(f"connection {conn_id!r} sets both host_key and no_host_key_check")
        return None
    if host_key:
        parts = str(host_key).split()
        text = " ".join(parts[:2]) if len(parts) >= 2 else f"ssh-rsa {parts[0]}"
        try:
            return ([asyncssh.import_public_key(text)], [], [])
        except (asyncssh.KeyImportError, ValueError) as exc:
            raise InvalidConfig(f"connection {conn_id!r} has an unreadable host_key: {exc}") from exc
    path = os.path.expanduser(conn.text("known_hosts") or "~/.ssh/known_hosts")
    # No file: trust nothing, so an unknown server is refused rather than accepted.
    return path if os.path.isfile(path) else ([], [], [])


def translate(exc: BaseException, config: SFTPConfig, path: str | None = None) -> FilepoolError:
    """Map asyncssh and socket errors to filepool's error codes."""
    where = f"{config.host}:{config.port} (connection {config.conn_id!r})"
    if isinstance(exc, FilepoolError):
        return exc
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return HostKeyUnknown(
            f"host key of {where} is not trusted: set the connection's host_key or add it to known_hosts ({exc.reason})"
        )
    if isinstance(exc, asyncssh.PermissionDenied):
        return AuthenticationFailed(f"login as {config.username!r} refused by {where}")
    if isinstance(exc, asyncssh.SFTPNoSuchFile):
        return FileNotFound(f"{path} not found on {where}")
    if isinstance(exc, asyncssh.SFTPPermissionDenied):
        return TransferIOError(f"permission denied for {path} on {where}")
    if isinstance(exc, asyncssh.SFTPConnectionLost | asyncssh.DisconnectError | ConnectionError):
        return ConnectionFailed(f"connection to {where} lost: {exc}")
    if isinstance(exc, asyncssh.SFTPError):
        return TransferIOError(f"SFTP error on {path} at {where}: {exc.reason}")
    if isinstance(exc, OSError | asyncio.TimeoutError | TimeoutError):
        return ConnectionFailed(f"cannot reach {where}: {exc or type(exc).__name__}")
    return TransferIOError(f"{type(exc).__name__} on {where}: {exc}")


class SFTPSourceFile:
    """An open remote file; reads run on the I/O loop, and one part can be read ahead."""

    def __init__(
        self,
        session: SFTPSession,
        path: str,
        handle: Any,
        size: int,
        mtime: float,
        prefetched: bytes | None = None,
        offset: int = 0,
        single_requests: bool = False,
    ) -> None:
        self._session = session
        self._single_requests = single_requests  # each read one request, which the server may answer short
        self.path = path
        self._handle = handle
        self.size = size
        self.mtime = mtime
        self._prefetched = prefetched
        self._offset = offset

    def parts(self, part_size: int) -> Generator[bytes, None, None]:
        """The file in parts of `part_size` bytes, the next part read while the caller handles this one."""
        if self.size == 0:
            yield b""
            return
        if self._prefetched is not None and len(self._prefetched) == self.size <= part_size:
            yield self._prefetched
            return
        offsets = list(range(self._offset, self.size, part_size))
        if not offsets:
            return
        ahead: Future[bytes] | None = self._read_async(offsets[0], min(part_size, self.size - offsets[0]))
        for i, _offset in enumerate(offsets):
            current, ahead = ahead, None
            if i + 1 < len(offsets):
                nxt = offsets[i + 1]
                ahead = self._read_async(nxt, min(part_size, self.size - nxt))
            assert current is not None
            try:
                yield current.result(timeout=self._session.config.stall_seconds)
            except FutureTimeout:
                for pending in (current, ahead):
                    if pending is not None:
                        pending.cancel()
                self._session.close()  # its channel may still owe the answer: never lent again
                raise TransferStalled(
                    f"{self.path}: no part of it in {self._session.config.stall_seconds:g} s from "
                    f"{self._session.config.host}:{self._session.config.port}"
                ) from None
            except Exception as exc:
                if ahead is not None:
                    ahead.cancel()
                raise translate(exc, self._session.config, self.path) from exc

    def _read_async(self, offset: int, length: int) -> Future[bytes]:
        if self._single_requests:  # the file grew past one request since it was listed: rare, read it in turns
            return aioloop.submit(self._read_in_turns(offset, length))
        return aioloop.submit(self._handle.read(length, offset))

    async def _read_in_turns(self, offset: int, length: int) -> bytes:
        data = bytearray()  # grows in place: a part of many requests is not copied once per request
        while len(data) < length:
            more = await self._handle.read(length - len(data), offset + len(data))
            if not more:
                break
            data += more
        return bytes(data)

    def close(self) -> None:
        """Close the handle in the background: nobody needs to wait for the server's reply."""

        async def close_quietly() -> None:
            with contextlib.suppress(Exception):  # a handle on a dead session: nothing left to release
                await self._handle.close()

        aioloop.submit(close_quietly())


class SFTPSession:
    """One SSH connection with its SFTP channel, kept open and reused across files."""

    def __init__(self, config: SFTPConfig, conn: Any, sftp: Any) -> None:
        self.config = config
        self._conn = conn
        self._sftp = sftp

    @classmethod
    def open(cls, config: SFTPConfig) -> SFTPSession:
        log_only_what_is_written()

        async def connect() -> tuple[Any, Any]:
            conn = await asyncssh.connect(
                config.host,
                config.port,
                username=config.username,
                password=config.password,
                client_keys=config.client_keys,
                passphrase=config.passphrase,
                known_hosts=config.known_hosts,
                encryption_algs=list(config.ciphers),
                compression_algs=list(config.compression),
                connect_timeout=config.connect_timeout,
                keepalive_interval=30,
                preferred_auth="publickey,password,keyboard-interactive",
                window=8 * 1024 * 1024,
                max_pktsize=256 * 1024,
            )
            skip_ignore_packets(conn)
            try:
                # A name that is not UTF-8 keeps its bytes (surrogateescape) and is opened again by them.
                return conn, await conn.start_sftp_client(path_errors="surrogateescape")
            except BaseException:
                conn.close()
                raise

        try:
            conn, sftp = aioloop.run(connect(), timeout=config.connect_timeout + 30)
        except Exception as exc:
            raise translate(exc, config) from exc
        return cls(config, conn, sftp)

    def call(self, coro: Any, path: str | None = None, timeout: float = 300) -> Any:
        try:
            return aioloop.run(coro, timeout=timeout)
        except Exception as exc:
            raise translate(exc, self.config, path) from exc

    def is_alive(self) -> bool:
        return not self._conn.is_closed()

    def close(self) -> None:
        self._conn.close()

    def open_file(self, path: str, prefetch: int = 0, offset: int = 0) -> SFTPSourceFile:
        """Open and stat a file; with `prefetch`, read that many bytes in the same round of requests."""
        prefetch = 0 if offset else prefetch

        # A file that fits in one read request is read with one: asyncssh's reader of parallel requests (tasks,
        # a wait, the data reassembled) costs 0.2-0.3 ms of CPU a file of 200 KiB on the one I/O thread.
        single = 0 < prefetch <= (self._sftp.limits.max_read_len or 0)

        async def opener() -> tuple[Any, Any, bytes | None]:
            handle = await self._sftp.open(path, "rb", block_size=None if single else -1)
            try:
                if prefetch:
                    attrs, data = await asyncio.gather(handle.stat(), handle.read(prefetch, 0))
                    return handle, attrs, data
                return handle, await handle.stat(), None
            except BaseException:
                await handle.close()
                raise

        try:  # the open, its stat and the first read: no longer than a read may take (`stall_seconds`)
            handle, attrs, data = aioloop.run(opener(), timeout=self.config.stall_seconds)
        except TimeoutError:
            self.close()  # a request of this channel is still unanswered: never lent again
            raise TransferStalled(
                f"{path}: not opened and read within {self.config.stall_seconds:g} s from "
                f"{self.config.host}:{self.config.port}"
            ) from None
        except Exception as exc:
            raise translate(exc, self.config, path) from exc
        return SFTPSourceFile(self, path, handle, int(attrs.size or 0), float(attrs.mtime or 0), data, offset, single)

    def remove(self, path: str) -> None:
        self.call(self._sftp.remove(path), path)

    def move(self, path: str, target: str) -> None:
        """Rename `path` to `target` on the server, creating `target`'s folders; an existing target is an error."""

        async def move() -> None:
            await self._sftp.makedirs(posixpath.dirname(target), exist_ok=True)
            await self._sftp.rename(path, target)

        self.call(move(), path)

    def has_folder(self, path: str) -> bool:
        async def is_dir() -> bool:
            try:
                return bool(await self._sftp.isdir(path))
            except asyncssh.SFTPNoSuchFile:
                return False

        return bool(self.call(is_dir(), path))

    def iter_files(
        self, root: str, pattern: str = "*", recursive: bool = True
    ) -> Iterator[list[RemoteFile | Unlisted]]:
        """The files of each folder as it is listed (the tree is never held whole); an entry or a folder that
        cannot be taken comes as an Unlisted and the walk goes on; a folder removed meanwhile is passed over.
        Each folder's listing has its own timeout, which cancels it."""
        walk = Walk(root)
        pending = [root]
        while pending:
            folder = pending.pop()
            try:
                entries = self.call(self._sftp.readdir(folder), folder, timeout=_LIST_TIMEOUT)
            except FileNotFound:
                continue
            except FilepoolError as exc:
                if exc.endpoint_wide:
                    raise
                yield [Unlisted(folder, LISTING_ERROR, f"{folder} could not be listed: {exc.message}")]
                continue
            found: list[RemoteFile | Unlisted] = []
            for entry in entries:
                name = entry.filename
                if name in (".", ".."):
                    continue
                if (bad := bad_name(folder, name)) is not None:
                    found.append(bad)
                    continue
                mode = entry.attrs.permissions or 0
                full = posixpath.join(folder, name)
                if stat.S_ISDIR(mode):
                    admitted, problem = walk.admit(full)
                    if recursive and admitted:
                        pending.append(full)
                    elif recursive and problem is not None:
                        found.append(problem)
                elif stat.S_ISREG(mode) and fnmatch.fnmatchcase(name, pattern):
                    found.append(RemoteFile(full, int(entry.attrs.size or 0), float(entry.attrs.mtime or 0)))
            if found:
                yield found

    def stat_files(self, paths: list[str]) -> dict[str, RemoteFile]:
        """Current size and mtime of each path that still exists (stat requests sent in parallel)."""

        async def one(path: str) -> RemoteFile | None:
            try:
                attrs = await self._sftp.lstat(path)
            except asyncssh.SFTPNoSuchFile:
                return None
            return RemoteFile(path, int(attrs.size or 0), float(attrs.mtime or 0))

        async def all_of() -> list[RemoteFile | None]:
            return await asyncio.gather(*(one(p) for p in paths))

        return {f.path: f for f in self.call(all_of()) if f is not None}


class SFTPSource(Source):
    """The engine's view of an SFTP connection: a bounded pool of persistent sessions."""

    def __init__(self, config: SFTPConfig, max_sessions: int, total: threading.BoundedSemaphore | None = None):
        self.config = config
        self.pool: SessionPool[SFTPSession] = SessionPool(
            config.conn_id, lambda: SFTPSession.open(config), max_sessions, total
        )

    def session(self) -> AbstractContextManager[SFTPSession]:
        return self.pool.session()

    def iter_files(
        self, root: str, pattern: str = "*", recursive: bool = True
    ) -> Iterator[list[RemoteFile | Unlisted]]:
        """The walk of `SFTPSession.iter_files`, on one session of the pool held until the walk ends."""
        with self.session() as session:
            yield from session.iter_files(root, pattern, recursive)

    def stat_files(self, paths: list[str]) -> dict[str, RemoteFile]:
        with self.session() as session:
            return session.stat_files(paths)

    def has_folder(self, path: str) -> bool:
        with self.session() as session:
            return session.has_folder(path)

    def share_logins(self, gate_for: GateFor) -> None:
        self.pool.share_logins(self.config.max_logins, gate_for)

    def release_logins(self) -> None:
        self.pool.release_logins()

    def close(self) -> None:
        self.pool.close()
