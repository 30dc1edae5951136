"""Task metrics: a transfer sends its counts, bytes and per-file durations, tagged with the route's slug, to the
statsd that Airflow's Stats is configured with (here a UDP socket of the test)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from filepool.metrics import route_slug
from filepool.operators import FTPToLocalOperator
from tests.helpers import age, write_tree
from tests.servers.statsd import StatsdListener


@pytest.fixture
def statsd(monkeypatch: pytest.MonkeyPatch) -> Iterator[StatsdListener]:
    """A statsd listener, and Airflow's Stats pointed at it as a task run sets it up (task_runner.main)."""
    from airflow.sdk._shared.observability.metrics import stats
    from airflow.sdk.observability.metrics import stats_utils

    listener = StatsdListener().start()
    for key, value in listener.airflow_env().items():
        monkeypatch.setenv(key, value)
    stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=False)
    yield listener
    stats.initialize(factory=stats_utils.NoStatsLogger, export_legacy_names=False)
    listener.stop()


def test_a_transfer_sends_its_metrics_tagged_by_route(
    statsd: StatsdListener, ftp_conns: None, sftp_root: Path, local_base: Path
) -> None:
    files = write_tree(sftp_root, 30, size=1000)
    age(sftp_root)
    op = FTPToLocalOperator(task_id="t", source_path=str(sftp_root), dest_path="in", threads=4)
    summary = op.execute({})
    assert summary["files_transferred"] == 30
    route = f"route={route_slug(summary['job'])}"
    deadline = time.monotonic() + 10
    while statsd.total("airflow.filepool.files_transferred", route) < 30 and time.monotonic() < deadline:
        time.sleep(0.1)
    received = list(statsd.lines)
    assert statsd.total("airflow.filepool.files_transferred", route) == 30, received
    assert statsd.total("airflow.filepool.bytes_transferred", route) == sum(len(d) for d in files.values())
    assert sum(1 for m in received if m.startswith(f"airflow.filepool.transfer_duration,{route}:")) == 30
    assert any(m.startswith("airflow.filepool.sessions_active,conn_id=filepool_ftp:") for m in received)
    assert "files_failed" not in "".join(received)
    assert not any(str(sftp_root) in m for m in received)  # no path in any metric
