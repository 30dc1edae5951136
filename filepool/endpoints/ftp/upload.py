"""Uploads to FTP/FTPS: STOR to a temporary name beside the target, check its SIZE, then rename (RNFR/RNTO).

No partial file is ever visible under the target name; a temporary file left by a crash is removed by the
maintenance DAG.
"""

from __future__ import annotations

import contextlib
import posixpath
import socket
import time
import uuid
from contextlib import AbstractContextManager
from typing import Any

from filepool.endpoints.ftp.session import CHUNK, FTPConfig, FTPSession
from filepool.endpoints.pool import SessionPool
from filepool.exceptions import ConnectionFailed, SizeMismatch
from filepool.interfaces import NO_CONTEXT, Destination, GateFor, WriteContext, WriteResult
from filepool.names import temp_name


class FTPWriter:
    """STOR to `.name.<claim>.<random>.filepool.tmp` beside the target, check its size, rename over the target."""

    def __init__(self, pool: SessionPool[FTPSession], key: str, size: int, claim: str = "") -> None:
        self._lease: AbstractContextManager[FTPSession] | None = pool.session()
        self._session = self._lease.__enter__()
        self.final = key
        self._size = size
        folder = posixpath.dirname(key)
        self.temp = posixpath.join(folder, temp_name(posixpath.basename(key), claim, uuid.uuid4().hex[:12]))
        self.write_seconds = 0.0
        started = time.perf_counter()
        try:
            if folder:
                self._session.make_dirs(folder)
            self._conn: socket.socket | None = self._session.data_connection(f"STOR {self.temp}", self.temp)
        except BaseException:
            self._release()
            raise
        self.write_seconds += time.perf_counter() - started

    def write(self, data: bytes) -> None:
        started = time.perf_counter()
        assert self._conn is not None
        try:
            self._conn.sendall(data)
        except OSError as exc:
            self._session.mark_broken()
            raise ConnectionFailed(
                f"data connection for {self.final} dropped at {self._session.config.where()}: {exc}"
            ) from exc
        finally:
            self.write_seconds += time.perf_counter() - started

    def commit(self, sha256: bytes) -> WriteResult:
        started = time.perf_counter()
        try:
            conn, self._conn = self._conn, None
            assert conn is not None
            self._session.finish_transfer(conn, self.temp)
            stored = self._session.size(self.temp)
            if stored != self._size:
                raise SizeMismatch(f"{self.final}: server holds {stored} bytes, {self._size} sent")
            self._session.rename(self.temp, self.final)
        except BaseException:
            self.abort()
            raise
        self.write_seconds += time.perf_counter() - started
        self._release()
        return WriteResult(None, self.write_seconds)

    def abort(self, keep: bool = False) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
            self._conn = None
            self._session.mark_broken()  # the control channel is mid-transfer: do not reuse it
        if not self._session.broken:
            self._session.delete(self.temp)
        self._release()

    def _release(self) -> None:
        if self._lease is not None:
            lease, self._lease = self._lease, None
            lease.__exit__(None, None, None)


class FTPDestination(Destination):
    def __init__(self, config: FTPConfig, max_sessions: int, total: Any = None) -> None:
        self.config = config
        self.pool: SessionPool[FTPSession] = SessionPool(
            config.conn_id, lambda: FTPSession.open(config), max_sessions, total
        )

    def chunk_size(self, size: int) -> int:
        return CHUNK

    def open_writer(self, key: str, size: int, context: WriteContext = NO_CONTEXT) -> FTPWriter:
        return FTPWriter(self.pool, key, size, context.claim)

    def share_logins(self, gate_for: GateFor) -> None:
        self.pool.share_logins(self.config.max_logins, gate_for)

    def close(self) -> None:
        self.pool.close()
