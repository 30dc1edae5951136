"""The replies of a control connection read by LeanFTP: whole lines whatever the reads, and a server that stops
mid-reply fails with a timeout instead of handing ftplib half a line. Real sockets (a socketpair)."""

from __future__ import annotations

import contextlib
import ftplib
import socket
import time
from collections.abc import Iterator

import pytest

from filepool.endpoints.ftp.wire import _Replies, pasv_port
from filepool.endpoints.sockets import kernel_timeouts


@contextlib.contextmanager
def control(timeout: float = 2.0) -> Iterator[tuple[_Replies, socket.socket]]:
    """Our end of a control connection read by _Replies, and the server's end."""
    ours, server = socket.socketpair()
    with ours, server:
        kernel_timeouts(ours, timeout)
        yield _Replies(ours, "latin-1"), server


def test_lines_come_whole_whatever_the_reads() -> None:
    with control() as (replies, server):
        server.sendall(b"211-Features:\r\n UTF8\r\n2")
        assert replies.readline(8193) == "211-Features:\r\n"
        assert replies.readline(8193) == " UTF8\r\n"
        server.sendall(b"11 End\r\n150 Opening \xe9\r\n")
        assert replies.readline(8193) == "211 End\r\n"
        assert replies.readline(8193) == "150 Opening \xe9\r\n"  # Latin-1: one character per byte


def test_a_reply_cut_mid_line_times_out_instead_of_returning_half_a_line() -> None:
    with control(timeout=0.3) as (replies, server):
        server.sendall(b"226 Transfer com")
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            replies.readline(8193)
        assert 0.2 < time.monotonic() - started < 5


def test_a_closed_connection_gives_what_is_left_then_nothing() -> None:
    with control() as (replies, server):
        server.sendall(b"421 Timeout")
        server.close()
        assert replies.readline(8193) == "421 Timeout"
        assert replies.readline(8193) == ""  # ftplib raises EOFError on this


def test_a_line_longer_than_the_limit_is_cut_at_the_limit() -> None:
    with control() as (replies, server):
        server.sendall(b"x" * 20 + b"\r\n")
        assert replies.readline(11) == "x" * 11  # ftplib: "got more than 10 bytes"


def test_the_port_of_a_passive_reply() -> None:
    assert pasv_port("227 Entering Passive Mode (127,0,0,1,229,54).") == 229 * 256 + 54
    with pytest.raises(ftplib.error_reply):
        pasv_port("500 PASV not understood")
