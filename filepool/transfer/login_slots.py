"""A server's logins shared by every worker: `max_logins` in a connection's extra caps the sessions open to that
server at once over all workers and hosts, through leased slots in the ledger (`filepool_login_slots`).

A session pool takes a slot before it logs in and gives it back when the session closes; between the two the
session is reused for file after file, as without a cap. A thread that finds every slot held waits for one, or
for a session its own worker gives back. The slots a worker holds are renewed every third of the lease on this
object's own ledger connection; a worker that dies frees them when its lease lapses (at once when a task on its
host finds its process gone). A slot taken over after this worker's lease lapsed (a ledger outage longer than the
lease) is no longer held: the pool closes that session instead of reusing it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from filepool.exceptions import FilepoolError
from filepool.interfaces import GateFor
from filepool.ledger import Ledger

log = logging.getLogger(__name__)


def login_gate(connect: Callable[[], Ledger], lease_seconds: float) -> GateFor:
    """The `gate_for` of one worker (a transfer task, task messages, the Kafka intake, a maintenance sweep, a file
    watcher): each connection that caps its logins gets its slots, on a ledger connection of their own."""

    def gate_for(conn_id: str, max_logins: int) -> LoginSlots:
        log.info("Sessions to %s: at most %d over every worker (max_logins)", conn_id, max_logins)
        return LoginSlots(connect(), conn_id, max_logins, lease_seconds)

    return gate_for


class LoginSlots:
    """The login slots of one connection, as one worker takes and gives them (`filepool.endpoints.pool.LoginGate`)."""

    def __init__(self, ledger: Ledger, conn_id: str, cap: int, lease_seconds: float) -> None:
        self.conn_id = conn_id
        self.cap = cap
        self._ledger = ledger
        self._ledger.retry_seconds = lease_seconds / 3  # a renewal is never late because of the one before
        self._lease = lease_seconds
        self._lock = threading.Lock()  # one ledger connection, used by the pool's threads and the renewer
        self._held: set[int] = set()
        self._stop = threading.Event()
        self._renewer = threading.Thread(target=self._renew, name="filepool-login-slots", daemon=True)
        self._renewer.start()

    def try_take(self) -> int | None:
        """A slot for a new session, or None when every slot is held."""
        with self._lock:
            rows = self._ledger.rows(
                "take_login_slot", conn_id=self.conn_id, cap=self.cap, worker=self._ledger.worker, lease=self._lease
            )
            if not rows:
                return None
            slot = int(rows[0][0])
            self._held.add(slot)
            return slot

    def holds(self, slot: int) -> bool:
        with self._lock:
            return slot in self._held

    def give(self, slot: int) -> None:
        """The session of `slot` is closed."""
        with self._lock:
            self._held.discard(slot)
            try:
                self._ledger.execute("give_login_slot", conn_id=self.conn_id, slot=slot, worker=self._ledger.worker)
            except FilepoolError as exc:  # its lease lapses on its own
                log.warning("Giving back login slot %d of %s failed (%s); it frees when its lease lapses", slot,
                            self.conn_id, exc)  # fmt: skip

    def close(self) -> None:
        self._stop.set()
        self._renewer.join(timeout=10)
        for slot in sorted(self._held):
            self.give(slot)
        self._ledger.close()

    def _renew(self) -> None:
        while not self._stop.wait(self._lease / 3):
            with self._lock:
                held = set(self._held)
                if not held:
                    continue
                try:
                    rows = self._ledger.rows(
                        "renew_login_slots",
                        conn_id=self.conn_id,
                        slots=sorted(held),
                        worker=self._ledger.worker,
                        lease=self._lease,
                    )
                    kept = {int(r[0]) for r in rows}
                except FilepoolError as exc:
                    log.warning("Renewing the login slots of %s failed: %s", self.conn_id, exc)
                    continue
                self._held -= held - kept
            if held - kept:
                log.warning(
                    "Login slots %s of %s were taken over after this worker's lease lapsed: their sessions close",
                    sorted(held - kept),
                    self.conn_id,
                )
