"""An SFTP server that lists, stats and opens files but never answers a READ (asyncssh's SFTP server, in its own
process): the SSH connection stays up and answers keepalives, so only a deadline on the read itself ends the wait.

Run as `python -m tests.servers.silent_sftp PORT ROOT HOST_KEY_FILE USER PASSWORD`.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.servers.process import free_port, spawn, stop, wait_for_port


def serve(port: int, root: str, host_key: str, user: str, password: str) -> None:
    import asyncssh

    class Server(asyncssh.SSHServer):
        def begin_auth(self, username: str) -> bool:
            return True

        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, username: str, given: str) -> bool:
            return username == user and given == password

    class Silent(asyncssh.SFTPServer):
        def __init__(self, chan: Any) -> None:
            super().__init__(chan, chroot=root.encode())

        async def read(self, file_obj: Any, offset: int, size: int) -> bytes:
            await asyncio.Event().wait()  # never
            return b""

    async def main() -> None:
        await asyncssh.listen(
            "127.0.0.1", port, server_host_keys=[host_key], server_factory=Server, sftp_factory=Silent
        )
        await asyncio.Event().wait()

    asyncio.run(main())


@dataclass
class SilentSFTPServer:
    root: Path
    user: str = "silent"
    password: str = "silent-secret"
    port: int = field(default_factory=free_port)
    work: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="filepool-silent-sftp-")))
    pid: int | None = None
    host_key_public: str = ""

    def start(self) -> SilentSFTPServer:
        import asyncssh

        key = asyncssh.generate_private_key("ssh-ed25519")
        key.write_private_key(str(self.work / "host_key"))
        self.host_key_public = key.export_public_key().decode().strip()
        args = [str(self.port), str(self.root), str(self.work / "host_key"), self.user, self.password]
        proc = spawn([sys.executable, "-m", "tests.servers.silent_sftp", *args], self.work / "log")
        self.pid = proc.pid
        wait_for_port(self.port, proc, self.work / "log")
        return self

    def stop(self) -> None:
        stop(self.pid)
        self.pid = None
        shutil.rmtree(self.work, ignore_errors=True)


if __name__ == "__main__":
    port_, root_, key_, user_, password_ = sys.argv[1:6]
    serve(int(port_), root_, key_, user_, password_)
