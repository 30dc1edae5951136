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
                with self._lock:
                    self.opened += 1
            try:
                yield session
            finally:
                # A file-level error (a missing file) leaves the session usable; a dead one is dropped.
                if session.is_alive():
                    with self._lock:
                        self._idle.append(session)
                else:
                    session.close()
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

    def close(self) -> None:
        with self._lock:
            idle, self._idle = list(self._idle), deque()
        for session in idle:
            session.close()
