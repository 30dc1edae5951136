"""Bounded pools of persistent sessions, reused across files and threads.

Open sessions are bounded per connection (`max_per_connection`); sessions in use are bounded over all
connections of a worker (`max_total`). A session found dead after use is closed, not returned.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, Protocol, TypeVar

from filepool import metrics


class Session(Protocol):
    def is_alive(self) -> bool: ...
    def close(self) -> None: ...


S = TypeVar("S", bound=Session)


class SessionPool(Generic[S]):
    def __init__(
        self, name: str, open_session: Callable[[], S], max_size: int, total: threading.BoundedSemaphore | None = None
    ) -> None:
        self.name = name
        self._open = open_session
        self._slots = threading.BoundedSemaphore(max_size)
        self._total = total
        self._idle: deque[S] = deque()
        self._lock = threading.Lock()
        self.opened = 0
        self.reused = 0
        self._live = 0  # sessions open now

    @contextmanager
    def session(self) -> Iterator[S]:
        """Borrow a session: an idle one that is still alive, else a new one."""
        self._slots.acquire()
        if self._total is not None:
            self._total.acquire()
        try:
            session = self._take_idle()
            if session is None:
                session = self._open()
                self._count(+1, opened=1)
            try:
                yield session
            finally:
                # A file-level error (a missing file) leaves the session usable; a dead one is dropped.
                if session.is_alive():
                    with self._lock:
                        self._idle.append(session)
                else:
                    session.close()
                    self._count(-1)
        finally:
            if self._total is not None:
                self._total.release()
            self._slots.release()

    def _take_idle(self) -> S | None:
        while True:
            with self._lock:
                if not self._idle:
                    return None
                session = self._idle.pop()
            if session.is_alive():
                with self._lock:
                    self.reused += 1
                return session
            session.close()
            self._count(-1)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = list(self._idle), deque()
        for session in idle:
            session.close()
            self._count(-1)

    def _count(self, change: int, opened: int = 0) -> None:
        with self._lock:
            self._live += change
            self.opened += opened
            live = self._live
        metrics.sessions(self.name, live)
