"""The ledger alone: claims per second in batches, and claim latency (p50, p99) with 10 thousand and with 1 million
rows in the table. Results: bench/results/ledger.json.

Usage: python bench/ledger_claims.py [--sizes 10000,1000000] [--rounds 5] [--batch 64]
Each size gets a fresh database with SIZE registered files of one job (plus as many COMPLETED rows of other jobs,
as an old ledger has); one worker then claims batches of `--batch` and completes them as it goes. Every size
gets the same number of claims, so their p99s compare like with like: `--rounds` rounds of as many claims as the
smallest size holds (156 at 10,000 rows), each round of the smallest size on a fresh database, the larger sizes
draining on (5 x 156 x 64 = 50,000 of a million files). The sizes take turns claim by claim, so both see the same
moments of the machine.
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


def fill(uri: str, rows: int) -> None:
    """`rows` DISCOVERED files of JOB and `rows` COMPLETED ones of other jobs, set-based (seconds, not minutes)."""
    conn = psycopg2.connect(uri)
    with conn, conn.cursor() as cur:
        cur.execute(
            """
            INSERT INTO filepool_files (job, source_path, size, mtime, destination)
            SELECT %s, '/data/f' || g, g, 1000, 'in/f' || g FROM generate_series(1, %s) g""",
            (JOB, rows),
        )
        cur.execute(
            """
            INSERT INTO filepool_files (job, source_path, size, mtime, destination, status, completed_at)
            SELECT 'old job ' || (g %% 100), '/old/f' || g, g, 1000, 'old/f' || g, 'COMPLETED', now()
            FROM generate_series(1, %s) g""",
            (rows,),
        )
    # Vacuumed, as an old ledger is. Left to itself, autovacuum takes up a bulk insert of 2 million rows about a
    # minute later and works on it for ~8 s here: that can fall into the measurement (one run in six had its p99 at
    # 1 million rows at 18 ms instead of ~7).
    conn.autocommit = True
    conn.cursor().execute("VACUUM (ANALYZE) filepool_files")
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
                files = ledger.claim(JOB, batch, 300)
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


def database(pg: PostgresServer, name: str, rows: int) -> str:
    admin = psycopg2.connect(pg.uri())
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    admin.close()
    uri = pg.uri(name)
    Ledger(lambda: psycopg2.connect(uri), "bench").migrate()
    fill(uri, rows)
    return uri


def main() -> int:
    exit_on_sigterm()
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    claims = sizes[0] // args.batch  # per round: what the smallest size holds
    pg = PostgresServer().start()
    report: dict[str, object] = {"batch": args.batch, "rounds": args.rounds, "claims_per_round": claims}
    try:
        rounds = {}
        for size in sizes:
            if size == sizes[0]:  # drained by each round: a fresh database per round
                rounds[size] = [database(pg, f"bench_{size}_{r}", size) for r in range(args.rounds)]
            else:
                rounds[size] = [database(pg, f"bench_{size}", size)] * args.rounds
        for size, result in measure(rounds, claims, args.batch).items():
            report[f"rows_{size}"] = result
            print(size, result, flush=True)
    finally:
        pg.stop()
    (REPO / "bench" / "results" / "ledger.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
