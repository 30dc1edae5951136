"""A Docker Engine (Debian's dockerd) on a free loopback port that accepts only TLS with client certificates,
and the images the tests run: a Debian base made with debootstrap (no registry is reachable) and the producer
image built from include/producer/Dockerfile on top of it."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers.process import free_port, spawn, stop, wait_for_port

REPO = Path(__file__).resolve().parent.parent.parent
BASE_IMAGE = "filepool-base:bookworm"
PRODUCER_IMAGE = "tripclick-producer:test"
_ROOTFS_LOCK = threading.Lock()
_NO_NETWORKS = (
    "--bridge=none",
    "--iptables=false",
    "--ip6tables=false",
    "--ip-forward=false",
    "--ip-masq=false",
    "--userland-proxy=false",
)


def make_certificates(folder: Path) -> None:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as `openssl` makes them."""
    folder.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=filepool-test-ca",
    )
    (folder / "server.ext").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    (folder / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name, subject in (("server", "/CN=127.0.0.1"), ("client", "/CN=filepool-client")):
        run(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            f"{name}-key.pem",
            "-out",
            f"{name}.csr",
            "-subj",
            subject,
        )
        run(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-out",
            f"{name}-cert.pem",
            "-days",
            "2",
            "-extfile",
            f"{name}.ext",
        )


def base_rootfs() -> Path:
    """debootstrap's minimal Debian with python3, made once per machine (~60 s) and kept in a cache folder."""
    cache = Path(os.environ.get("FILEPOOL_CACHE", Path.home() / ".cache" / "filepool")) / "bookworm-python3.tar"
    with _ROOTFS_LOCK:
        if cache.exists():
            return cache
        if not shutil.which("debootstrap"):
            raise FileNotFoundError("debootstrap not found: install Debian's `debootstrap` package")
        cache.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="filepool-rootfs-") as work:
            root = Path(work) / "root"
            subprocess.run(
                ["debootstrap", "--variant=minbase", "--include=python3", "bookworm", str(root)],
                check=True,
                capture_output=True,
            )
            partial = cache.with_suffix(f".{os.getpid()}.partial")  # two test processes may make it at once
            subprocess.run(["tar", "-C", str(root), "-cf", str(partial), "."], check=True)
            partial.rename(cache)
        return cache


@dataclass
class DockerEngine:
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="filepool-dockerd-")))
    port: int = field(default_factory=free_port)
    pid: int | None = None
    # False: no networking (the tests run containers on the host's network); True: Docker's default bridge and
    # networks, with NAT to the outside (docker-compose's stack, whose image builds fetch Debian's packages).
    networks: bool = False

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    @property
    def certs(self) -> Path:
        return self.root / "certs"

    def client_env(self) -> dict[str, str]:
        """The environment the docker CLI needs to talk to this engine (its client certificate)."""
        client = self.root / "client"
        if not client.exists():
            client.mkdir()
            names = {"ca.pem": "ca.pem", "client-cert.pem": "cert.pem", "client-key.pem": "key.pem"}
            for source, target in names.items():
                shutil.copy(self.certs / source, client / target)
        return {**os.environ, "DOCKER_HOST": self.url, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(client)}

    def start(self) -> DockerEngine:
        dockerd = shutil.which("dockerd")
        if not dockerd:
            raise FileNotFoundError("dockerd not found: install Debian's `docker.io` package")
        make_certificates(self.certs)
        proc = spawn(
            [
                dockerd,
                "-H",
                self.url,
                "--tlsverify",
                f"--tlscacert={self.certs / 'ca.pem'}",
                f"--tlscert={self.certs / 'server-cert.pem'}",
                f"--tlskey={self.certs / 'server-key.pem'}",
                f"--data-root={self.root / 'data'}",
                f"--exec-root={self.root / 'exec'}",
                f"--pidfile={self.root / 'docker.pid'}",
                *(self._own_bridge() if self.networks else _NO_NETWORKS),
            ],
            self.root / "dockerd.log",
        )
        self.pid = proc.pid
        wait_for_port(self.port, proc, self.root / "dockerd.log", timeout=60)
        return self

    @property
    def bridge(self) -> str:
        return f"filepool{self.port}"

    @property
    def _subnet(self) -> str:
        return f"10.213.{self.port % 250}.1/24"

    def _own_bridge(self) -> list[str]:
        """A bridge of this engine's own for its default network (not docker0, which another engine may hold),
        removed by stop()."""
        subprocess.run(["ip", "link", "add", self.bridge, "type", "bridge"], check=True, capture_output=True)
        subprocess.run(["ip", "addr", "add", self._subnet, "dev", self.bridge], check=True, capture_output=True)
        subprocess.run(["ip", "link", "set", self.bridge, "up"], check=True, capture_output=True)
        return [f"--bridge={self.bridge}"]

    def tls_extra(self) -> dict[str, str]:
        """The client side of this engine's TLS, as a docker connection's extra takes it (PEM text)."""
        return {
            "tls_ca_cert": (self.certs / "ca.pem").read_text(),
            "tls_client_cert": (self.certs / "client-cert.pem").read_text(),
            "tls_client_key": (self.certs / "client-key.pem").read_text(),
        }

    def docker(self, *args: str, stdin: Path | None = None) -> str:
        with open(stdin, "rb") if stdin else open(os.devnull, "rb") as source:
            done = subprocess.run(
                ["docker", *args], env=self.client_env(), stdin=source, capture_output=True, text=False, timeout=600
            )
        if done.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)}: {done.stderr.decode(errors='replace')[-2000:]}")
        return done.stdout.decode(errors="replace")

    def build_producer_image(self) -> str:
        """The base image from the debootstrap'ed tree, then the producer image through its build script."""
        self.docker("import", "-", BASE_IMAGE, stdin=base_rootfs())
        env = {**self.client_env(), "UV": str(Path(sys.executable).parent / "uv")}
        done = subprocess.run(
            ["bash", str(REPO / "include" / "producer" / "build.sh"), PRODUCER_IMAGE, BASE_IMAGE],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if done.returncode != 0:
            raise RuntimeError(f"building {PRODUCER_IMAGE} failed: {done.stdout[-1500:]}{done.stderr[-1500:]}")
        return PRODUCER_IMAGE

    def stop(self) -> None:
        stop(self.pid, timeout=20)
        self.pid = None
        # Mounts dockerd leaves behind: overlays under the data root, and its network namespace under the exec root
        # (still mounted, it kept rmtree from removing the folder: one folder and one mount leaked per session).
        subprocess.run(["umount", "-R", str(self.root / "data")], capture_output=True)
        subprocess.run(["umount", "-l", str(self.root / "exec" / "netns" / "default")], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)
        if self.networks:
            subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True)
            self._drop_rules()

    def _drop_rules(self) -> None:
        """The iptables rules dockerd added for this engine's bridge (it leaves them when it stops)."""
        for table in ("filter", "nat"):
            listed = subprocess.run(["iptables", "-t", table, "-S"], capture_output=True, text=True).stdout
            for rule in listed.splitlines():
                if rule.startswith("-A ") and (self.bridge in rule or self._subnet[:-5] in rule):
                    subprocess.run(["iptables", "-t", table, "-D", *shlex.split(rule)[1:]], capture_output=True)
