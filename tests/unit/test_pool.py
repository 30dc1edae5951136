"""SessionPool bounds and reuse, with an in-memory session (the pool logic needs no server)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from filepool.endpoints.pool import SessionPool


class CountingSession:
    def __init__(self, live: list[int], lock: threading.Lock) -> None:
        self.alive = True
        self._live, self._lock = live, lock

    def is_alive(self) -> bool:
        return self.alive

    def close(self) -> None:
        self.alive = False


def test_sessions_are_bounded_per_connection_and_reused() -> None:
    lock = threading.Lock()
    in_use = [0]
    peak = [0]
    pool: SessionPool[CountingSession] = SessionPool("c", lambda: CountingSession([], lock), max_size=4)

    def job(_: int) -> None:
        with pool.session():
            with lock:
                in_use[0] += 1
                peak[0] = max(peak[0], in_use[0])
            time.sleep(0.005)
            with lock:
                in_use[0] -= 1

    with ThreadPoolExecutor(16) as ex:
        list(ex.map(job, range(200)))
    assert peak[0] == 4
    assert pool.opened == 4
    assert pool.reused == 196


def test_total_bound_spans_pools() -> None:
    total = threading.BoundedSemaphore(3)
    lock = threading.Lock()
    pools = [SessionPool(f"c{i}", lambda: CountingSession([], lock), 3, total) for i in range(2)]
    in_use, peak = [0], [0]

    def job(i: int) -> None:
        with pools[i % 2].session():
            with lock:
                in_use[0] += 1
                peak[0] = max(peak[0], in_use[0])
            time.sleep(0.005)
            with lock:
                in_use[0] -= 1

    with ThreadPoolExecutor(12) as ex:
        list(ex.map(job, range(120)))
    assert peak[0] == 3


def test_a_dead_session_is_replaced() -> None:
    lock = threading.Lock()
    pool: SessionPool[CountingSession] = SessionPool("c", lambda: CountingSession([], lock), max_size=1)
    with pool.session() as first:
        first.alive = False
    with pool.session() as second:
        assert second is not first and second.is_alive()
    assert pool.opened == 2
