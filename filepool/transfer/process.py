"""Who this worker process is: host, PID namespace, pid and start time (Linux /proc; None where unknown).

Two containers sharing a host name (host networking) have different PID namespaces; a pid reused after a
crash has another start time. So a worker is declared gone on its own host only when both say so.
"""

from __future__ import annotations

import os
import socket
import uuid

from filepool.ledger import WorkerIdentity


def identity() -> WorkerIdentity:
    try:
        namespace: str | None = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = None
    pid = os.getpid()
    return WorkerIdentity(socket.gethostname(), namespace, pid, process_start(pid))


def process_start(pid: int) -> str | None:
    """The start time of process `pid` (clock ticks since boot, field 22 of /proc/PID/stat); None if none."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count fields after its closing one.
    fields = stat[stat.rindex(b")") + 2 :].split()
    return fields[19].decode()


def worker_name(task: str) -> str:
    """The name a worker goes by in logs and in the ledger (`claimed_by`): host, pid, the task it runs (e.g.
    "dag.task[slot]") and a random suffix, so a retried task is a new worker."""
    return f"{socket.gethostname()}:{os.getpid()}:{task}:{uuid.uuid4().hex[:8]}"
