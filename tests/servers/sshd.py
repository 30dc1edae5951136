"""OpenSSH sshd on a free loopback port with its own host key, serving SFTP to one password user."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers.process import crash, free_port, spawn, stop, wait_for_port

USER = "filepool-sftp"
PASSWORD = "sftp-secret-91c2"  # a test secret: the log tests look for it


def ensure_user(user: str = USER, password: str = PASSWORD) -> None:
    """Create the local account sshd authenticates (root only; idempotent)."""
    if subprocess.run(["id", user], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", user], check=True)
    subprocess.run(["chpasswd"], input=f"{user}:{password}".encode(), check=True)


@dataclass
class SSHServer:
    """`start()` writes a config and host key, then runs `sshd -D`; `stop()` ends it by PID."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="filepool-sshd-")))
    port: int = field(default_factory=free_port)
    pid: int | None = None

    @property
    def host_key_path(self) -> Path:
        return self.root / "ssh_host_ed25519_key"

    @property
    def host_key_public(self) -> str:
        """The public host key as `type base64`, the form Airflow's `host_key` extra takes."""
        kind, blob = (self.root / "ssh_host_ed25519_key.pub").read_text().split()[:2]
        return f"{kind} {blob}"

    @property
    def log_path(self) -> Path:
        return self.root / "sshd.log"

    def start(self) -> SSHServer:
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        if not os.path.exists(sshd):
            raise FileNotFoundError("sshd not found: install Debian's `openssh-server` package")
        ensure_user()
        self.root.chmod(0o755)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.host_key_path)], check=True)
        config = self.root / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    "ListenAddress 127.0.0.1",
                    f"Port {self.port}",
                    f"HostKey {self.host_key_path}",
                    f"PidFile {self.root / 'sshd.pid'}",
                    "UsePAM no",
                    "StrictModes no",
                    "PasswordAuthentication yes",
                    "KbdInteractiveAuthentication no",
                    "PubkeyAuthentication yes",
                    "PermitRootLogin no",
                    f"AllowUsers {USER}",
                    "Subsystem sftp internal-sftp -l INFO",
                    "LogLevel VERBOSE",
                    "MaxStartups 256",
                    "MaxSessions 256",
                    "MaxAuthTries 3",
                    "",
                ]
            )
        )
        os.makedirs("/run/sshd", exist_ok=True)
        self._run(sshd, config)
        return self

    def _run(self, sshd: str, config: Path) -> None:
        proc = spawn([sshd, "-D", "-e", "-f", str(config)], self.log_path)
        self.pid = proc.pid
        wait_for_port(self.port, proc, self.log_path)

    def restart_after_crash(self, down_seconds: float) -> None:
        """An outage: the server and every session killed, `down_seconds` without it, then the same server."""
        crash(self.pid)
        time.sleep(down_seconds)
        self._run(shutil.which("sshd") or "/usr/sbin/sshd", self.root / "sshd_config")

    def stop(self) -> None:
        stop(self.pid)
        self.pid = None
        shutil.rmtree(self.root, ignore_errors=True)
