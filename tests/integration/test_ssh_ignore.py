"""No SSH_MSG_IGNORE before every packet on a non-CBC connection to a real sshd; the file still reads whole."""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import asyncssh.connection
import pytest
from asyncssh.constants import MSG_IGNORE

from filepool.endpoints.sftp import SFTPConfig, SFTPSession
from filepool.endpoints.ssh_ignore import protects
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
