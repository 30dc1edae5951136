"""A worker whose heartbeat cannot reach the ledger stops writing the files it can no longer show it holds.

Real PostgreSQL and a real local disk; the only stand-ins are the heartbeat's connection (refused, as by a
network cut between the worker and PostgreSQL alone) and a source slowed down with a sleep, so that a file is
still being read when the lease runs out.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from filepool.endpoints.local import LocalConfig, LocalDestination, LocalSession, LocalSource, LocalSourceFile
from filepool.exceptions import LeaseLost
from filepool.ledger import DiscoveredFile, Ledger
from filepool.transfer.worker import Worker, WorkerConfig
from tests.helpers import ledger_rows

pytestmark = pytest.mark.integration
JOB = "fs://src/ -> fs://dst/"
LEASE = 1.0


class SlowSource(LocalSource):
    """Every open takes `delay` seconds: the file is in flight while the lease runs out."""

    def __init__(self, config: LocalConfig, delay: float) -> None:
        super().__init__(config)
        self._delay = delay

    @contextmanager
    def session(self) -> Iterator[LocalSession]:
        with super().session() as session:
            yield _Slow(session, self._delay)  # type: ignore[misc]


class _Slow:
    def __init__(self, session: LocalSession, delay: float) -> None:
        self._session, self._delay = session, delay

    def open_file(self, path: str, prefetch: int = 0, offset: int = 0) -> LocalSourceFile:
        time.sleep(self._delay)
        return self._session.open_file(path, prefetch, offset)


def refused() -> Any:
    raise psycopg2.OperationalError("connection refused (a network cut to PostgreSQL)")


def run_worker(uri: str, src: Path, dst: Path, delay: float, heartbeat_reaches_ledger: bool) -> dict[str, Any]:
    made = 0

    def connect() -> Ledger:
        nonlocal made
        made += 1
        # main, results, upload ids, then the heartbeat's connection
        reaches = made < 4 or heartbeat_reaches_ledger
        return Ledger(lambda: psycopg2.connect(uri) if reaches else refused(), "w", retry_seconds=0.2)

    config = WorkerConfig(
        job=JOB, threads=2, claim_batch=8, lease_seconds=LEASE, max_attempts=5, retry_backoff=0, progress_interval=60
    )
    source = SlowSource(LocalConfig("src", str(src)), delay)
    return Worker(config, connect, source, LocalDestination(LocalConfig("dst", str(dst)))).run()


@pytest.fixture
def two_files(ledger_uri: str, tmp_path: Path) -> tuple[Path, Path]:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    ledger = Ledger(lambda: psycopg2.connect(ledger_uri), "setup")
    ledger.migrate()
    found = []
    for name in ("a.bin", "b.bin"):
        (src / name).write_bytes(os.urandom(1000))
        st = (src / name).stat()
        found.append(DiscoveredFile(str(src / name), st.st_size, st.st_mtime, name))
    ledger.register(JOB, found)
    return src, dst


def test_no_commit_past_the_last_renewed_deadline(ledger_uri: str, two_files: tuple[Path, Path]) -> None:
    src, dst = two_files
    summary = run_worker(ledger_uri, src, dst, delay=LEASE * 1.5, heartbeat_reaches_ledger=False)
    assert summary["files_transferred"] == 0 and summary["lost_leases"] == 2 and summary["files_failed"] == 0
    assert sorted(p.name for p in dst.iterdir()) == []  # neither the file nor a temporary one
    # nobody took the files over, so the fenced failure frees them for the next claim at once
    rows = ledger_rows(ledger_uri, "SELECT status, error_code, next_attempt_at <= now() FROM filepool_files")
    assert rows == [("FAILED", LeaseLost.code, True)] * 2


def test_the_same_slow_files_are_written_while_the_heartbeat_gets_through(
    ledger_uri: str, two_files: tuple[Path, Path]
) -> None:
    src, dst = two_files
    summary = run_worker(ledger_uri, src, dst, delay=LEASE * 1.5, heartbeat_reaches_ledger=True)
    assert summary["files_transferred"] == 2 and summary["lost_leases"] == 0
    for name in ("a.bin", "b.bin"):
        assert hashlib.sha256((dst / name).read_bytes()).digest() == hashlib.sha256((src / name).read_bytes()).digest()
    assert ledger_rows(ledger_uri, "SELECT DISTINCT status FROM filepool_files") == [("COMPLETED",)]


def test_a_local_batch_is_not_renamed_into_place_for_a_file_whose_lease_ran_out(tmp_path: Path) -> None:
    dest = LocalDestination(LocalConfig("dst", str(tmp_path)))
    for name in ("kept.bin", "lost.bin"):
        writer = dest.open_writer(name, 3)
        writer.write(b"abc")
        writer.commit(hashlib.sha256(b"abc").digest())

    def fence(claim: str, key: str) -> None:
        if key == "lost.bin":
            raise LeaseLost("lease ran out")

    refusals = dest.sync(["kept.bin", "lost.bin"], fence)
    assert list(refusals) == ["lost.bin"] and isinstance(refusals["lost.bin"], LeaseLost)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.bin"]
