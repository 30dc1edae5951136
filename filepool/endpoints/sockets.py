"""Blocking sockets whose timeouts the kernel keeps: the FTP sessions' and the S3 PUT's."""

from __future__ import annotations

import socket
import struct


def kernel_timeouts(conn: socket.socket, seconds: float) -> None:
    """Make `conn` blocking, with its timeout kept by the kernel (SO_RCVTIMEO / SO_SNDTIMEO; a read or write
    that times out fails with EAGAIN, an OSError).

    A Python socket with a timeout polls before every recv: two system calls and two hand-overs of the GIL
    per read (1,000 downloads on 8 threads made 187 futex calls per file). A blocking socket can also wait for
    a whole part in one call (MSG_WAITALL). Not for a socket read through a text file (ftplib's listings): its
    readline would return half a line at a timeout instead of failing; `_Replies` fails instead.
    """
    conn.settimeout(None)
    whole = int(seconds)
    value = struct.pack("ll", whole, int((seconds - whole) * 1e6))
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
