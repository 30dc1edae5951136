"""Bounded pools of persistent sessions, reused across files and threads.

Open sessions are bounded per connection (`max_per_connection`); sessions in use are bounded over all
connections of a worker (`max_total`); with a login gate (`share_logins`), sessions open at once to one server
are bounded over every worker and host too. A session found dead after use is closed, not returned.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, Protocol, TypeVar

from filepool import metrics
from filepool.interfaces import GateFor, LoginGate

log = logging.getLogger(__name__)
_GATE_WAIT_LOGGED = 30.0  # seconds a thread waits for a login slot before the log says so


class Session(Protocol):
    def is_alive(self) -> bool: ...
    def close(self) -> None: ...


S = TypeVar("S", bound=Session)


class SessionPool(Generic[S]):
    def __init__(
        self, name: str, open_session: Callable[[], S], max_size: int, total: threading.BoundedSemaphore | None = None
    ) -> None:
        self.name = name
        self.max_size = max_size
        self._open = open_session
        self._slots = threading.BoundedSemaphore(max_size)
        self._total = total
        self._idle: deque[S] = deque()
        self._lock = threading.Lock()
        self._returned = threading.Condition(self._lock)  # a session went back to idle
        self.gate: LoginGate | None = None
        self._login_slot: dict[int, int] = {}  # id(session) -> its login slot, with a gate
        self.opened = 0
        self.reused = 0
        self._live = 0  # sessions open now

    def share_logins(self, max_logins: int | None, gate_for: GateFor) -> None:
        """Take a login slot from the connection's gate for every session opened from now on (`max_logins`:
        the connection's cap over every worker; None: none)."""
        if max_logins is not None:
            self.gate = gate_for(self.name, max_logins)

    @contextmanager
    def session(self) -> Iterator[S]:
        """Borrow a session: an idle one that is still alive, else a new one."""
        session = self.borrow()
        try:
            yield session
        finally:
            self.give_back(session)

    def borrow(self) -> S:
        """A session for the caller until it calls `give_back`: an idle one that is still alive, else a new one
        (waiting for room within the bounds, and for the login)."""
        self._slots.acquire()
        if self._total is not None:
            self._total.acquire()
        try:
            return self._take_idle() or self._open_new()
        except BaseException:
            self._release()
            raise

    def borrow_idle(self) -> S | None:
        """An idle session at once, or None: no wait, no login (for a loop that must never block)."""
        if not self._slots.acquire(blocking=False):
            return None
        if self._total is not None and not self._total.acquire(blocking=False):
            self._slots.release()
            return None
        try:
            session = self._take_idle()
        except BaseException:
            self._release()
            raise
        if session is None:
            self._release()
        return session

    def give_back(self, session: S) -> None:
        """The end of a borrow. A file-level error (a missing file) leaves the session usable; a dead one is
        dropped, and so is one whose login slot was taken over."""
        try:
            if session.is_alive() and self._slot_held(session):
                with self._returned:
                    self._idle.append(session)
                    self._returned.notify()
            else:
                self._discard(session)
        finally:
            self._release()

    def _release(self) -> None:
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
            self._discard(session)

    def _open_new(self) -> S:
        if self.gate is None:
            session = self._open()
            self._count(+1, opened=1)
            return session
        since, delay, told = time.monotonic(), 0.05, False
        while True:
            slot = self.gate.try_take()
            if slot is not None:
                try:
                    session = self._open()
                except BaseException:
                    self.gate.give(slot)
                    raise
                with self._lock:
                    self._login_slot[id(session)] = slot
                self._count(+1, opened=1)
                return session
            # Every slot is held (by other workers, or by this one's other threads): a session given back here
            # meanwhile will do.
            with self._returned:
                if not self._idle:
                    self._returned.wait(delay)
            idle = self._take_idle()
            if idle is not None:
                return idle
            if not told and time.monotonic() - since > _GATE_WAIT_LOGGED:
                log.info("Waiting for a login slot of %s: all its max_logins sessions are open elsewhere", self.name)
                told = True
            delay = min(delay * 2, 1.0)

    def _slot_held(self, session: S) -> bool:
        if self.gate is None:
            return True
        with self._lock:
            slot = self._login_slot.get(id(session))
        return slot is None or self.gate.holds(slot)

    def _discard(self, session: S) -> None:
        session.close()
        self._count(-1)
        with self._lock:
            slot = self._login_slot.pop(id(session), None)
        if slot is not None and self.gate is not None:
            self.gate.give(slot)

    def release_logins(self) -> None:
        """Log out the idle sessions that hold a login slot, giving their slots back: for a pool used now and
        then (a watcher between polls), so that a slot never idles here while other workers wait for one."""
        if self.gate is not None:
            self._discard_idle()

    def close(self) -> None:
        self._discard_idle()
        if self.gate is not None:
            self.gate.close()

    def _discard_idle(self) -> None:
        with self._lock:
            idle, self._idle = list(self._idle), deque()
        for session in idle:
            self._discard(session)

    def _count(self, change: int, opened: int = 0) -> None:
        with self._lock:
            self._live += change
            self.opened += opened
            live = self._live
        metrics.sessions(self.name, live)
