"""A statsd server for tests: a UDP socket on a free loopback port that keeps every line it receives."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field


@dataclass
class StatsdListener:
    lines: list[str] = field(default_factory=list)
    _socket: socket.socket = field(default_factory=lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    _thread: threading.Thread | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def port(self) -> int:
        return int(self._socket.getsockname()[1])

    def airflow_env(self) -> dict[str, str]:
        """[metrics] for an Airflow process to send here, tags kept (InfluxDB line tags)."""
        return {
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(self.port),
            "AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED": "True",
        }

    def start(self) -> StatsdListener:
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()
        return self

    def _receive(self) -> None:
        while not self._stopping.is_set():
            try:
                self.lines += self._socket.recv(65536).decode().splitlines()
            except TimeoutError:
                continue

    def total(self, name: str, tag: str) -> int:
        """The sum of the values of counter `name` (with its prefix) tagged `tag` ("key=value")."""
        start = f"{name},{tag}:"
        return sum(int(line.split(":")[1].split("|")[0]) for line in list(self.lines) if line.startswith(start))

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        self._socket.close()
