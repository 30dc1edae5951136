"""The ledger alone: claims per second in batches, and claim latency (p50, p99), with 10 thousand and with 10 million
rows in the table; and what retention costs at the larger size. Results: bench/results/ledger.json.

Usage: python bench/ledger_claims.py [--sizes 10000,10000000] [--rounds 10] [--batch 64]
Each size gets a fresh database with SIZE rows: half of them (at most 1,000,000) registered files of one job, the
rest COMPLETED rows of other jobs, as a ledger holds after months. One worker then claims batches of `--batch` and
completes them as it goes. Every size gets the same number of claims, so their p99s compare like with like:
`--rounds` rounds of as many claims as the smallest size holds (78 at 10,000 rows), each round of the smallest size
on a fresh database, the larger sizes draining on. The sizes take turns claim by claim, so both see the same
moments of the machine. Then retention on the largest: 1,000,000 of its COMPLETED rows made older than the
retention and pruned (`prune_completed`, 10,000 a statement), timed, with the table's size before and after.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

import psycopg2

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import exit_on_sigterm  # noqa: E402
from filepool.ledger import Completion, Ledger  # noqa: E402
from tests.servers.postgres import PostgresServer  # noqa: E402

JOB = "sftp://bench/data -> s3://bench/in/"


def pending_rows(rows: int) -> int:
    return min(rows // 2, 1_000_000)


def fill(uri: str, rows: int, pending: int | None = None) -> None:
    """`rows` rows: `pending` (default `pending_rows(rows)`) DISCOVERED files of JOB, the rest COMPLETED ones of
    other jobs, set-based (10 million in a few minutes)."""
    pending = pending_rows(rows) if pending is None else pending
    conn = psycopg2.connect(uri)
    with conn, conn.cursor() as cur:
        cur.execute(
            """
            INSERT INTO filepool_files (job, source_path, size, mtime, destination)
            SELECT %s, '/data/f' || g, g, 1000, 'in/f' || g FROM generate_series(1, %s) g""",
            (JOB, pending),
        )
        cur.execute(
            """
            INSERT INTO filepool_files (job, source_path, size, mtime, destination, status, completed_at)
            SELECT 'old job ' || (g %% 100), '/old/f' || g, g, 1000, 'old/f' || g, 'COMPLETED', now()
            FROM generate_series(1, %s) g""",
            (rows - pending,),
        )
    # Vacuumed, as an old ledger is. Left to itself, autovacuum takes up a bulk insert of 2 million rows about a
    # minute later and works on it for ~8 s here: that can fall into the measurement (one run in six had its p99 at
    # 1 million rows at 18 ms instead of ~7).
    conn.autocommit = True
    conn.cursor().execute("VACUUM (ANALYZE) filepool_files")
    # And checkpointed: the gigabytes of WAL a 10-million-row fill leaves would otherwise be written out while the
    # claims are measured.
    conn.cursor().execute("CHECKPOINT")
    conn.close()


def measure(rounds: dict[int, list[str]], claims: int, batch: int) -> dict[int, dict[str, float]]:
    """Per round, `claims` claims on each size's database, the sizes taking turns claim by claim: a pause of the
    machine (this is a VM) then falls on both sizes alike instead of on whichever was being measured."""
    latencies: dict[int, list[float]] = {size: [] for size in rounds}
    claimed = dict.fromkeys(rounds, 0)
    busy = dict.fromkeys(rounds, 0.0)
    for r in range(len(next(iter(rounds.values())))):
        ledgers = {
            size: Ledger(functools.partial(psycopg2.connect, uris[r]), f"bench:{uuid.uuid4().hex[:6]}")
            for size, uris in rounds.items()
        }
        for _ in range(claims):
            for size, ledger in ledgers.items():
                t = time.perf_counter()
                files = ledger.claim_batch(JOB, batch, 300).files
                latencies[size].append(time.perf_counter() - t)
                claimed[size] += len(files)
                ledger.complete([Completion(f.id, f.attempts, f.size, "x", "sha256", None, 0, 0, 0) for f in files])
                busy[size] += time.perf_counter() - t
        for ledger in ledgers.values():
            ledger.close()
    report = {}
    for size, found in latencies.items():
        found.sort()
        report[size] = {
            "claims": len(found),
            "files_claimed": claimed[size],
            "claims_per_second": round(claimed[size] / sum(found), 1),
            "claimed_and_completed_per_second": round(claimed[size] / busy[size], 1),
            "latency_ms_p50": round(statistics.median(found) * 1000, 3),
            "latency_ms_p99": round(found[int(len(found) * 0.99) - 1] * 1000, 3),
        }
    return report


def database(pg: PostgresServer, name: str, rows: int, pending: int | None = None) -> str:
    admin = psycopg2.connect(pg.uri())
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    admin.close()
    uri = pg.uri(name)
    Ledger(lambda: psycopg2.connect(uri), "bench").migrate()
    fill(uri, rows, pending)
    return uri


def retention(uri: str, pruned: int = 1_000_000) -> dict[str, float]:
    """Make `pruned` COMPLETED rows older than a 90-day retention and prune them as the maintenance DAG does."""
    conn = psycopg2.connect(uri)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE filepool_files SET completed_at = now() - interval '100 days' WHERE id IN "
            "(SELECT id FROM filepool_files WHERE status = 'COMPLETED' AND job <> %s ORDER BY id LIMIT %s)",
            (JOB, pruned),
        )
        cur.execute("VACUUM (ANALYZE) filepool_files")
        cur.execute("SELECT count(*), pg_total_relation_size('filepool_files') FROM filepool_files")
        rows_before, bytes_before = cur.fetchone()
    started = time.perf_counter()
    done = Ledger(lambda: psycopg2.connect(uri), "bench").prune_completed(90 * 86400)
    seconds = time.perf_counter() - started
    with conn.cursor() as cur:
        cur.execute("SELECT pg_total_relation_size('filepool_moved')")
        (moved_bytes,) = cur.fetchone()
    conn.close()
    return {
        "rows_before": rows_before,
        "table_mb_before": round(bytes_before / 1e6),
        "pruned": done,
        "seconds": round(seconds, 1),
        "pruned_per_second": round(done / seconds),
        "moved_table_mb": round(moved_bytes / 1e6),
    }


def main() -> int:
    exit_on_sigterm()
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,10000000")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    claims = pending_rows(sizes[0]) // args.batch  # per round: what the smallest size holds
    pg = PostgresServer().start()
    report: dict[str, object] = {"batch": args.batch, "rounds": args.rounds, "claims_per_round": claims}
    try:
        rounds = {}
        for size in sizes:
            if size == sizes[0]:  # drained by each round: a fresh database per round
                rounds[size] = [database(pg, f"bench_{size}_{r}", size) for r in range(args.rounds)]
            else:
                rounds[size] = [database(pg, f"bench_{size}", size)] * args.rounds
        measured = measure(rounds, claims, args.batch)
        for size, result in measured.items():
            report[f"rows_{size}"] = result
            print(size, result, flush=True)
        report["p99_ratio"] = round(measured[sizes[-1]]["latency_ms_p99"] / measured[sizes[0]]["latency_ms_p99"], 3)
        report[f"retention_at_{sizes[-1]}"] = retention(rounds[sizes[-1]][0])
        print("retention", report[f"retention_at_{sizes[-1]}"], flush=True)
    finally:
        pg.stop()
    (REPO / "bench" / "results" / "ledger.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
