"""How many workers one ledger serves: 1 to 64 concurrent claimers against one PostgreSQL, each claiming batches of
64 files and completing them as a worker does, for `--seconds` each. Results: bench/results/ledger_concurrency.json.

Usage: python bench/ledger_concurrency.py [--claimers 1,2,4,8,16,32,64] [--seconds 12] [--processes 4] [--rows N]
       [--from-head 4,64]

Each claimer claims from a place of its own in the queue (filepool.ledger.Ledger.claim_batch); at the `--from-head`
levels the claim of before, from the queue's head each time, is measured too, right after, on the same ledger.
The claimers are threads with a ledger connection each, spread over `--processes` processes (the statements wait
on PostgreSQL, not on Python, but one process's GIL would still cap 64 threads). The table holds 10,000,000 rows:
2,000,000 files of one job to claim (the levels drain it) and 8,000,000 COMPLETED rows of other jobs. Per level:
files claimed and completed per second (all claimers together), claim latency p50 and p99, and lock waits - the
mean number of PostgreSQL backends waiting on a heavyweight lock (`pg_stat_activity.wait_event_type = 'Lock'`) and
on a lightweight one (`LWLock`), sampled every 50 ms.
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg2

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import exit_on_sigterm  # noqa: E402
from bench.ledger_claims import JOB, database  # noqa: E402
from filepool.ledger import Completion, Ledger, repository  # noqa: E402
from tests.servers.postgres import PostgresServer  # noqa: E402

ROWS = 10_000_000
PENDING = 2_000_000  # to claim: enough for every level and the claims from the head
BATCH = 64
CURSOR_EVERY = repository.CLAIM_FROM_HEAD_EVERY


def claimer(uri: str, until: float, latencies: list[float], claimed: list[int]) -> None:
    ledger = Ledger(functools.partial(psycopg2.connect, uri), f"bench:{uuid.uuid4().hex[:8]}")
    try:
        while time.time() < until:
            t = time.perf_counter()
            files = ledger.claim_batch(JOB, BATCH, 300).files
            latencies.append(time.perf_counter() - t)
            ledger.complete([Completion(f.id, f.attempts, f.size, "x", "sha256", None, 0, 0, 0) for f in files])
            claimed.append(len(files))
    finally:
        ledger.close()


def process_claimers(uri: str, threads: int, start: float, until: float, out: Any) -> None:
    """`threads` claimers in this process, from `start` (epoch seconds) to `until`; their figures go to `out`."""
    time.sleep(max(0.0, start - time.time()))
    latencies: list[float] = []
    claimed: list[int] = []
    workers = [threading.Thread(target=claimer, args=(uri, until, latencies, claimed)) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.put((latencies, sum(claimed)))


def lock_waits(uri: str, until: float) -> dict[str, Any]:
    conn = psycopg2.connect(uri)
    conn.autocommit = True
    samples: list[tuple[int, int]] = []
    events: Counter[str] = Counter()  # which waits, to tell contention on rows from contention on the machine
    with conn.cursor() as cur:
        while time.time() < until:
            cur.execute(
                "SELECT wait_event_type, wait_event FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND wait_event_type IN ('Lock', 'LWLock')"
            )
            waits = cur.fetchall()
            samples.append((sum(t == "Lock" for t, _ in waits), sum(t == "LWLock" for t, _ in waits)))
            events.update(f"{t}:{e}" for t, e in waits)
            time.sleep(0.05)
    conn.close()
    return {
        "waiting_on_locks_mean": round(statistics.mean(s[0] for s in samples), 2) if samples else 0.0,
        "waiting_on_lwlocks_mean": round(statistics.mean(s[1] for s in samples), 2) if samples else 0.0,
        "waits_seen": dict(events.most_common(5)),
    }


def level(uri: str, claimers: int, seconds: float, processes: int) -> dict[str, Any]:
    procs = min(processes, claimers)
    start = time.time() + 2.0  # every process connected and waiting
    until = start + seconds
    out: Any = multiprocessing.Queue()
    spread = [claimers // procs + (1 if i < claimers % procs else 0) for i in range(procs)]
    children = [multiprocessing.Process(target=process_claimers, args=(uri, n, start, until, out)) for n in spread]
    for child in children:
        child.start()
    time.sleep(max(0.0, start - time.time()))
    waits = lock_waits(uri, until)
    latencies: list[float] = []
    files = 0
    for _ in children:
        found, claimed = out.get()
        latencies += found
        files += claimed
    for child in children:
        child.join()
    latencies.sort()
    return {
        "claimers": claimers,
        "files_per_second": round(files / seconds),
        "claims": len(latencies),
        "latency_ms_p50": round(statistics.median(latencies) * 1000, 2),
        "latency_ms_p99": round(latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000, 2),
        **waits,
    }


def main() -> int:
    exit_on_sigterm()
    parser = argparse.ArgumentParser()
    parser.add_argument("--claimers", default="1,2,4,8,16,32,64")
    parser.add_argument("--seconds", type=float, default=12)
    parser.add_argument("--from-head", default="4,64", help="levels also measured with claims from the head")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--rows", type=int, default=ROWS)
    args = parser.parse_args()
    pg = PostgresServer().start()
    report: dict[str, Any] = {"rows": args.rows, "batch": BATCH, "seconds_per_level": args.seconds, "levels": []}
    try:
        uri = database(pg, "bench_concurrency", args.rows, PENDING)
        report["from_head"] = []
        for n in (int(c) for c in args.claimers.split(",")):
            result = level(uri, n, args.seconds, args.processes)
            report["levels"].append(result)
            print(result, flush=True)
            if str(n) in args.from_head.split(","):
                repository.CLAIM_FROM_HEAD_EVERY = 1  # the claimer processes are forked: they take it with them
                before = level(uri, n, args.seconds, args.processes)
                repository.CLAIM_FROM_HEAD_EVERY = CURSOR_EVERY
                report["from_head"].append(before)
                print("from the head:", before, flush=True)
    finally:
        pg.stop()
    (REPO / "bench" / "results" / "ledger_concurrency.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
