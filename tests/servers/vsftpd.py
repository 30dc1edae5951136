"""vsftpd on a free loopback port, its own config, passive ports and (with tls=True) explicit FTPS."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers.process import free_port, spawn, stop, wait_for_port
from tests.servers.sshd import PASSWORD, USER, ensure_user


@dataclass
class FTPServer:
    """`start()` runs vsftpd for the local user shared with sshd; `log_path` has one line per command."""

    tls: bool = False
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="filepool-vsftpd-")))
    port: int = field(default_factory=free_port)
    pid: int | None = None

    user = USER
    password = PASSWORD

    @property
    def log_path(self) -> Path:
        return self.root / "vsftpd.log"

    @property
    def cert_path(self) -> Path:
        return self.root / "cert.pem"

    def start(self) -> FTPServer:
        vsftpd = shutil.which("vsftpd") or "/usr/sbin/vsftpd"
        if not os.path.exists(vsftpd):
            raise FileNotFoundError("vsftpd not found: install Debian's `vsftpd` package")
        ensure_user()
        self.root.chmod(0o755)
        empty = self.root / "empty"
        empty.mkdir()
        pasv = free_port()
        lines = [
            "listen=YES",
            "listen_ipv6=NO",
            "listen_address=127.0.0.1",
            f"listen_port={self.port}",
            "background=NO",
            "anonymous_enable=NO",
            "local_enable=YES",
            "write_enable=YES",
            "local_umask=022",
            "pasv_enable=YES",
            f"pasv_min_port={pasv}",
            f"pasv_max_port={pasv + 200}",
            "pasv_address=127.0.0.1",
            "seccomp_sandbox=NO",
            f"secure_chroot_dir={empty}",
            "pam_service_name=vsftpd",
            "max_clients=200",
            "max_per_ip=200",
            "xferlog_enable=YES",
            "dual_log_enable=YES",
            "log_ftp_protocol=YES",
            f"vsftpd_log_file={self.log_path}",
            f"xferlog_file={self.root / 'xfer.log'}",
            "utf8_filesystem=YES",
            "connect_from_port_20=NO",
        ]
        if self.tls:
            subprocess.run(
                [
                    "openssl",
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=127.0.0.1",
                    "-addext",
                    "subjectAltName=IP:127.0.0.1",
                    "-keyout",
                    str(self.root / "key.pem"),
                    "-out",
                    str(self.cert_path),
                ],
                check=True,
                capture_output=True,
            )
            lines += [
                "ssl_enable=YES",
                f"rsa_cert_file={self.cert_path}",
                f"rsa_private_key_file={self.root / 'key.pem'}",
                "require_ssl_reuse=NO",
                "force_local_logins_ssl=YES",
                "force_local_data_ssl=YES",
                "ssl_ciphers=HIGH",
            ]
        config = self.root / "vsftpd.conf"
        config.write_text("\n".join(lines) + "\n")
        proc = spawn([vsftpd, str(config)], self.root / "stderr.log")
        self.pid = proc.pid
        wait_for_port(self.port, proc, self.root / "stderr.log")
        return self

    def stop(self) -> None:
        stop(self.pid)
        self.pid = None
        shutil.rmtree(self.root, ignore_errors=True)
