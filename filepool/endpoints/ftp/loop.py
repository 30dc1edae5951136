"""Plain FTP downloads driven on one thread: every session's control and data connection in one selector.

A copy thread per session waits on the server four or five times a file (PASV, RETR, the data, the closing reply)
and takes the GIL back after each wait: 1,000 downloads of 200 KiB on 8 threads made 24 context switches a file.
One thread that waits on every connection at once, as lftp does, does the same work with far fewer (see
docs/BENCHMARKS.md for the figures).

The loop asks `next_download()` for work whenever it has room for another download (up to `sessions` at once),
borrows a session of the source's pool for each file - an idle one at once, or a new login on a helper thread -
and gives it back after the file, as a copy thread does, so that discovery's listing gets its turn. It feeds each
file's bytes to its writer and to SHA-256 as they arrive.

It does the common case only: anything else - a reply it does not expect, a connection that drops or times out,
more or fewer bytes than listed - ends that download with `NotDoneHere` and closes its session, for the caller to
copy the file the ordinary way, which has the error codes, the retries and the resumes.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import queue
import selectors
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from filepool.endpoints.ftp.session import FTPConfig, FTPSession
from filepool.endpoints.ftp.wire import ReplyAssembler, passive_connection, pasv_port, to_wire
from filepool.interfaces import Download, Downloaded, NotDoneHere

if TYPE_CHECKING:
    from filepool.endpoints.pool import SessionPool

log = logging.getLogger(__name__)
_READ = 256 * 1024  # bytes per data read


class _Lent:
    """A session lent to the loop for one download."""

    def __init__(self, session: FTPSession, download: Download) -> None:
        lent = session.lend_socket()
        if lent is None:
            raise NotDoneHere("the session cannot be driven by the loop")
        self.session = session
        self.sock, self.peer = lent
        self.download: Download | None = download
        self.replies = ReplyAssembler()
        self.phase = ""  # "pasv", "retr", "reading"
        self.data: socket.socket | None = None
        self.digest = hashlib.sha256()
        self.copied = 0
        self.ended = False  # the closing reply (226) came
        self.eof = False  # the data connection closed
        self.started = time.monotonic()
        self.write_seconds = 0.0
        self.deadline = 0.0


class FTPDownloads:
    """Downloads of up to `sessions` files at once over sessions of `pool` (a source's), on one thread (see the
    module's docstring)."""

    def __init__(
        self,
        pool: SessionPool[FTPSession],
        config: FTPConfig,
        sessions: int,
        next_download: Callable[[], Download | None],
    ) -> None:
        self._pool = pool
        self._wanted = sessions
        self._next = next_download
        self._timeout = config.timeout
        self._stall = config.stall_seconds
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._helpers = ThreadPoolExecutor(sessions, thread_name_prefix="filepool-ftp-login")
        self._logged_in: queue.SimpleQueue[tuple[Download, FTPSession | BaseException]] = queue.SimpleQueue()
        self._logging_in = 0
        self._busy: set[_Lent] = set()
        self._no_logins: str | None = None  # why the loop makes no more logins (one failed)
        self._stop = False
        self._alive = True
        self._buffer = bytearray(_READ)
        self._thread = threading.Thread(target=self._run, name="filepool-ftp-loop", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """There is new work, or the loop is to stop: from any thread."""
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def close(self) -> None:
        """Stop once the downloads under way are over (the caller gives no new ones)."""
        self._stop = True
        self.wake()
        self._thread.join()
        self._helpers.shutdown()
        self._take_logins()  # logins that ended after the loop stopped
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    # -- the loop ---------------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not (self._stop and not self._busy and not self._logging_in):
            try:
                self._take_logins()
                self._start_downloads()
                for key, _ in self._selector.select(self._wait()):
                    if key.data is None:
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                        continue
                    on_event, lent = key.data
                    try:
                        on_event(lent)
                    except Exception as exc:  # a fault of this download alone
                        log.exception("FTP download of %s", lent.download.path if lent.download else "?")
                        self._give_up(lent, f"{type(exc).__name__}: {exc}")
                self._time_out()
            except Exception as exc:  # a fault of the loop: what it holds and what comes goes the ordinary way
                log.exception("The FTP download loop stopped; the files left are copied the ordinary way")
                self._stopped(f"the loop stopped: {type(exc).__name__}: {exc}")
                return

    def alive(self) -> bool:
        return self._alive

    def _stopped(self, why: str) -> None:
        self._alive = False
        for lent in list(self._busy):
            with contextlib.suppress(Exception):
                self._give_up(lent, why)
        while (download := self._next()) is not None:
            download.done(NotDoneHere(why))

    def _wait(self) -> float | None:
        if not self._busy:
            return None
        return max(0.0, min(lent.deadline for lent in self._busy) - time.monotonic())

    def _start_downloads(self) -> None:
        while not self._stop and len(self._busy) + self._logging_in < self._wanted:
            download = self._next()
            if download is None:
                return
            session = self._pool.borrow_idle()
            if session is not None:
                self._begin(session, download)
            elif self._no_logins is not None:
                download.done(NotDoneHere(self._no_logins))
            else:
                self._logging_in += 1
                self._helpers.submit(self._log_in, download)

    def _log_in(self, download: Download) -> None:
        """On a helper thread: a session for `download`, waiting for room in the pool or for a login."""
        try:
            self._logged_in.put((download, self._pool.borrow()))
        except BaseException as exc:
            self._logged_in.put((download, exc))
        self.wake()

    def _take_logins(self) -> None:
        while True:
            try:
                download, got = self._logged_in.get_nowait()
            except queue.Empty:
                return
            self._logging_in -= 1
            if isinstance(got, BaseException):
                # The ordinary copy meets the same error, with its code; the loop makes no more logins.
                self._no_logins = f"no session: {got}"
                download.done(NotDoneHere(self._no_logins))
            elif self._stop:
                self._pool.give_back(got)
                download.done(NotDoneHere("the loop stopped"))
            else:
                self._begin(got, download)

    # -- one download -----------------------------------------------------------------------------------------

    def _begin(self, session: FTPSession, download: Download) -> None:
        try:
            lent = _Lent(session, download)
        except NotDoneHere as exc:
            self._pool.give_back(session)
            download.done(exc)
            return
        self._busy.add(lent)
        self._selector.register(lent.sock, selectors.EVENT_READ, (self._on_reply, lent))
        self._send(lent, "PASV", "pasv")

    def _renew(self, lent: _Lent) -> None:
        """Another `timeout` to the next answer, but never past `stall_seconds` for the whole download (a file here
        is one part): a server that trickles is given up on, and the ordinary copy fails it TRANSFER_STALLED."""
        lent.deadline = min(time.monotonic() + self._timeout, lent.started + self._stall)

    def _send(self, lent: _Lent, command: str, phase: str) -> None:
        lent.phase = phase
        self._renew(lent)
        try:
            lent.sock.sendall(f"{command}\r\n".encode("latin-1"))  # a command is a few bytes: the buffer takes it
        except OSError as exc:
            self._give_up(lent, f"sending {command.split()[0]}: {exc}")

    def _on_reply(self, lent: _Lent) -> None:
        try:
            chunk = lent.sock.recv(8192)
        except BlockingIOError:
            return
        except OSError as exc:
            self._give_up(lent, f"control connection: {exc}")
            return
        if not chunk:
            self._give_up(lent, "the server closed the control connection")
            return
        self._renew(lent)
        lent.replies.feed(chunk)
        while lent.download is not None and (line := lent.replies.next_reply()) is not None:
            self._reply(lent, line)

    def _reply(self, lent: _Lent, line: str) -> None:
        download = lent.download
        assert download is not None
        code = line[:3]
        if lent.phase == "pasv" and code == "227":
            try:
                data = lent.data = passive_connection(lent.peer, pasv_port(line), None)
                self._selector.register(data, selectors.EVENT_READ, (self._on_data, lent))
            except Exception as exc:  # a reply it cannot read, a refused connect
                self._give_up(lent, f"passive data connection: {exc}")
                return
            self._send(lent, f"RETR {to_wire(download.path)}", "retr")
        elif lent.phase == "retr" and code in ("125", "150"):
            lent.phase = "reading"
        elif lent.phase == "reading" and code in ("226", "250"):
            lent.ended = True
            self._finish_if_over(lent)
        else:
            self._give_up(lent, f"{lent.phase}: the server replied {line!r}")

    def _on_data(self, lent: _Lent) -> None:
        download, data = lent.download, lent.data
        assert download is not None and data is not None
        try:
            got = data.recv_into(self._buffer)
        except BlockingIOError:
            return
        except OSError as exc:
            self._give_up(lent, f"data connection: {exc}")
            return
        self._renew(lent)
        if got == 0:
            self._selector.unregister(data)
            data.close()
            lent.data = None
            lent.eof = True
            self._finish_if_over(lent)
            return
        lent.copied += got
        if lent.copied > download.size:
            self._give_up(lent, f"more than the {download.size} bytes listed")
            return
        part = bytes(memoryview(self._buffer)[:got])
        lent.digest.update(part)
        started = time.perf_counter()
        try:
            download.writer.write(part)
        except Exception as exc:  # the ordinary way meets it again, with its code
            self._give_up(lent, f"writing: {exc}")
            return
        lent.write_seconds += time.perf_counter() - started

    def _finish_if_over(self, lent: _Lent) -> None:
        download = lent.download
        assert download is not None
        if not (lent.ended and lent.eof):
            return
        if lent.copied != download.size:
            self._give_up(lent, f"{lent.copied} bytes instead of the {download.size} listed")
            return
        self._selector.unregister(lent.sock)
        self._busy.discard(lent)
        lent.download = None
        self._give_back(lent)
        read_seconds = time.monotonic() - lent.started - lent.write_seconds
        download.done(Downloaded(lent.copied, lent.digest.digest(), read_seconds, lent.write_seconds))

    def _time_out(self) -> None:
        now = time.monotonic()
        for lent in [lent for lent in self._busy if lent.deadline <= now]:
            self._give_up(lent, f"no answer within {self._timeout:g} s ({lent.phase})")

    def _give_up(self, lent: _Lent, why: str) -> None:
        """End this download here and close its session: the control connection may be out of step."""
        download = lent.download
        if download is None:  # over already: its session is back in the pool, maybe lent again
            return
        if lent in self._busy:
            self._busy.discard(lent)
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(lent.sock)
        if lent.data is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(lent.data)
            lent.data.close()
            lent.data = None
        lent.download = None
        lent.session.mark_broken()
        self._helpers.submit(self._give_back, lent)  # closing it may wait for the server: not on the loop
        log.info("%s: left to the ordinary copy (%s)", download.path, why)
        download.done(NotDoneHere(why))

    def _give_back(self, lent: _Lent) -> None:
        lent.session.take_back_socket()
        self._pool.give_back(lent.session)
