"""What asyncssh does for every packet and file that filepool skips, on a real sshd: no SSH_MSG_IGNORE before each
packet on a non-CBC connection, no packet described and no log line made for a log that is off, a small file read in
one request; every file still reads whole."""

from __future__ import annotations

import collections
import os
import re
from pathlib import Path
from typing import Any

import asyncssh
import asyncssh.connection
import asyncssh.logging
import asyncssh.packet
import asyncssh.sftp
import pytest
from asyncssh.constants import MSG_IGNORE

from filepool.endpoints.sftp import SFTPConfig, SFTPSession
from filepool.endpoints.ssh_ignore import protects
from filepool.endpoints.ssh_logging import log_only_what_is_written
from tests.helpers import make_readable, sftp_conn, sha256
from tests.servers.sshd import SSHServer

pytestmark = pytest.mark.integration


def read_whole(session: SFTPSession, path: Path) -> bytes:
    opened = session.open_file(str(path))
    try:
        return b"".join(opened.parts(64 * 1024))
    finally:
        opened.close()


def test_packets_reach_the_wire_without_ignore_packets(
    sshd_server: SSHServer, sftp_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: collections.Counter[int] = collections.Counter()
    real = asyncssh.connection.SSHConnection.send_packet

    def counting(self: Any, pkttype: int, *args: Any, **kwargs: Any) -> None:
        sent[pkttype] += 1
        real(self, pkttype, *args, **kwargs)

    # Under filepool's wrapper: this counts what asyncssh itself is asked to send, IGNOREs included.
    monkeypatch.setattr(asyncssh.connection.SSHConnection, "send_packet", counting)
    monkeypatch.setenv("AIRFLOW_CONN_FILEPOOL_SFTP", sftp_conn(sshd_server))
    data = bytes(range(256)) * 4096  # 1 MiB: several SFTP reads
    (sftp_root / "one.bin").write_bytes(data)
    make_readable(sftp_root)

    session = SFTPSession.open(SFTPConfig.from_airflow("filepool_sftp"))
    try:
        sent.clear()  # count from here: the connection is set up, the wrapper in place
        got = read_whole(session, sftp_root / "one.bin")
        cipher = session._conn.get_extra_info("send_cipher")
    finally:
        session.close()

    assert sha256(got) == sha256(data)
    assert not protects(cipher), cipher
    assert sum(sent.values()) >= 3, sent  # open, stat, reads, ... went out
    assert sent[MSG_IGNORE] == 0, sent


def test_the_countermeasure_stays_for_cbc_ciphers() -> None:
    assert protects("aes128-cbc")
    assert protects("rijndael-cbc@lysator.liu.se")
    assert not protects("aes128-gcm@openssh.com")
    assert not protects("chacha20-poly1305@openssh.com")
    assert not protects("aes256-ctr")


@pytest.mark.parametrize("debug_level", [1, 3])
def test_packets_are_described_only_for_a_packet_log(
    debug_level: int,
    sshd_server: SSHServer,
    sftp_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    described = collections.Counter[str]()
    real = asyncssh.packet.plural  # asyncssh's description counts each packet's bytes with it

    def counting(length: int, label: str) -> str:
        described[label] += 1
        return real(length, label)

    monkeypatch.setattr(asyncssh.packet, "plural", counting)
    monkeypatch.setenv("AIRFLOW_CONN_FILEPOOL_SFTP", sftp_conn(sshd_server))
    data = bytes(range(256)) * 1024
    (sftp_root / "one.bin").write_bytes(data)
    make_readable(sftp_root)
    asyncssh.set_debug_level(debug_level)
    caplog.set_level("DEBUG", logger="asyncssh")
    try:
        session = SFTPSession.open(SFTPConfig.from_airflow("filepool_sftp"))
        try:
            got = read_whole(session, sftp_root / "one.bin")
        finally:
            session.close()
    finally:
        asyncssh.set_debug_level(1)

    assert sha256(got) == sha256(data)
    lines = [r.getMessage().split("\n")[0] for r in caplog.records]  # "[conn=0] Sent MSG_... (n), N bytes"
    packet_lines = [line for line in lines if re.search(r"(Sent|Received) \S+ \(\d+\), \d+ bytes?$", line)]
    if debug_level == 3:  # a user who asks for asyncssh's packet log still gets it, as asyncssh writes it
        assert described["byte"] >= 10 and len(packet_lines) >= 10, (described, packet_lines[:3])
        assert any("FXP_READ" in line for line in packet_lines), packet_lines[:10]
    else:
        assert described["byte"] == 0 and packet_lines == [], (described, packet_lines[:3])


def test_log_arguments_become_text_only_for_a_line_written(caplog: pytest.LogCaptureFixture) -> None:
    log_only_what_is_written()
    made: list[str] = []

    class Name:
        def __str__(self) -> str:
            made.append("text")
            return "name"

    logger = asyncssh.logging.logger.get_child("filepool-test")
    caplog.set_level("WARNING", logger="asyncssh")
    logger.debug1("Opening %s", [Name()])  # asyncssh makes list items text itself, before logging's level test
    assert made == [] and caplog.records == []
    caplog.set_level("DEBUG", logger="asyncssh")
    logger.debug1("Opening %s", [Name()])
    assert made == ["text"] and [r.getMessage() for r in caplog.records] == ["Opening name"]


def test_a_small_file_is_read_in_one_request_and_a_grown_one_whole(
    sshd_server: SSHServer, sftp_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []
    real = asyncssh.sftp.SFTPClientHandler.read

    async def counting(self: Any, handle: bytes, offset: int, length: int) -> Any:
        reads.append(length)
        return await real(self, handle, offset, length)

    monkeypatch.setattr(asyncssh.sftp.SFTPClientHandler, "read", counting)
    monkeypatch.setenv("AIRFLOW_CONN_FILEPOOL_SFTP", sftp_conn(sshd_server))
    small, grown = os.urandom(200 * 1024), os.urandom(3 << 20)
    (sftp_root / "small.bin").write_bytes(small)
    (sftp_root / "grown.bin").write_bytes(grown)  # listed at 1,000 bytes, 3 MiB when opened
    make_readable(sftp_root)
    session = SFTPSession.open(SFTPConfig.from_airflow("filepool_sftp"))
    try:
        opened = session.open_file(str(sftp_root / "small.bin"), prefetch=len(small))
        got_small = b"".join(opened.parts(8 << 20))
        opened.close()
        assert reads == [len(small)]  # one request: no reader of parallel requests, no read at the end of file
        opened = session.open_file(str(sftp_root / "grown.bin"), prefetch=1000)
        assert opened.size == len(grown)
        got_grown = b"".join(opened.parts(8 << 20))  # the server answers at most its read limit a request
        opened.close()
    finally:
        session.close()
    assert sha256(got_small) == sha256(small)
    assert sha256(got_grown) == sha256(grown) and len(reads) > 3, reads
