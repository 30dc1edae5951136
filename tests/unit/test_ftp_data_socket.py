"""FTP data connections read with kernel-side timeouts: a stalled server fails the read, a slow one does not."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from filepool.endpoints.ftp.wire import LeanFTP, recv_full
from filepool.endpoints.sockets import kernel_timeouts


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A TCP connection on loopback: (our end, the server's end)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        ours = socket.create_connection(listener.getsockname())
        theirs, _ = listener.accept()
    try:
        yield ours, theirs
    finally:
        ours.close()
        theirs.close()


def test_a_stalled_data_connection_fails_after_the_timeout(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    kernel_timeouts(ours, 0.5)
    theirs.sendall(b"x" * 65536)  # then nothing, and the connection stays open
    started = time.monotonic()
    with pytest.raises(OSError):
        recv_full(ours, 1 << 20)
    assert 0.4 <= time.monotonic() - started < 5


def test_a_slow_server_is_read_whole(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    kernel_timeouts(ours, 1.0)
    pieces = [bytes([n]) * 100_000 for n in range(3)]

    def trickle() -> None:
        for piece in pieces:
            theirs.sendall(piece)
            time.sleep(0.2)  # gaps shorter than the timeout
        theirs.close()

    sender = threading.Thread(target=trickle)
    sender.start()
    got = recv_full(ours, 1 << 20)
    sender.join()
    assert got == b"".join(pieces)
    assert recv_full(ours, 1 << 20) == b""  # the end of the stream


def test_a_data_connection_that_never_opens_fails_after_the_timeout() -> None:
    """The passive data connection is blocking from the start: the kernel's send timeout bounds its connect."""
    with socket.create_server(("127.0.0.1", 0), backlog=0) as data, socket.create_server(("127.0.0.1", 0)) as control:
        # Nobody accepts on the data port and its queue is full: further connects get no answer at all.
        queued = []
        for _ in range(4):
            pending = socket.socket()
            pending.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                pending.connect(data.getsockname())
            queued.append(pending)
        port = data.getsockname()[1]

        def serve() -> None:
            conn, _ = control.accept()
            with conn, conn.makefile("rb") as lines:
                conn.sendall(b"220 ready\r\n")
                for line in lines:
                    if line.startswith(b"PASV"):
                        conn.sendall(f"227 Entering Passive Mode (127,0,0,1,{port >> 8},{port & 255})\r\n".encode())
                    else:
                        conn.sendall(b"200 ok\r\n")

        server = threading.Thread(target=serve, daemon=True)
        server.start()
        ftp = LeanFTP(timeout=1.0)
        ftp.connect(*control.getsockname())
        started = time.monotonic()
        with pytest.raises(TimeoutError, match=r"data connection \(port \d+\) did not open within 1 s"):
            ftp.ntransfercmd("RETR x")
        assert 0.8 <= time.monotonic() - started < 5
        ftp.close()
        for pending in queued:
            pending.close()
