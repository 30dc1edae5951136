"""The ledger alone: claims per second in batches, and claim latency (p50, p99) with 10 thousand and with 1 million
rows in the table. Results: bench/results/ledger.json.

Usage: python bench/ledger_claims.py [--sizes 10000,1000000] [--rounds 5] [--batch 64]
Each size gets a fresh database with SIZE registered files of one job (plus as many COMPLETED rows of other jobs,
as an old ledger has); one worker then claims batches of `--batch` and completes them as it goes. Every size
gets the same number of claims, so their p99s compare like with like: `--rounds` rounds of as many claims as the
smallest size holds (156 at 10,000 rows), each round of the smallest size on a fresh database, the larger sizes
draining on (5 x 156 x 64 = 50,000 of a million files).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

import psycopg2

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from filepool.ledger import Completion, Ledger  # noqa: E402
from tests.servers.postgres import PostgresServer  # noqa: E402

JOB = "sftp://bench/data -> s3://bench/in/"


def fill(uri: str, rows: int) -> None:
    """`rows` DISCOVERED files of JOB and `rows` COMPLETED ones of other jobs, set-based (seconds, not minutes)."""
    conn = psycopg2.connect(uri)
    with conn, conn.cursor() as cur:
        cur.execute("""
            INSERT INTO filepool_files (job, source_path, size, mtime, destination)
            SELECT %s, '/data/f' || g, g, 1000, 'in/f' || g FROM generate_series(1, %s) g""", (JOB, rows))
        cur.execute("""
            INSERT INTO filepool_files (job, source_path, size, mtime, destination, status, completed_at)
            SELECT 'old job ' || (g %% 100), '/old/f' || g, g, 1000, 'old/f' || g, 'COMPLETED', now()
            FROM generate_series(1, %s) g""", (rows,))
        cur.execute("ANALYZE filepool_files")
    conn.close()


def measure(uris: list[str], claims: int, batch: int) -> dict[str, float]:
    """`claims` claims on each database in turn; latencies of all of them together."""
    latencies: list[float] = []
    claimed = 0
    started = time.perf_counter()
    for uri in uris:
        ledger = Ledger(lambda u=uri: psycopg2.connect(u), f"bench:{uuid.uuid4().hex[:6]}")
        for _ in range(claims):
            t = time.perf_counter()
            files = ledger.claim(JOB, batch, 300)
            latencies.append(time.perf_counter() - t)
            claimed += len(files)
            ledger.complete([Completion(f.id, f.size, "x", "sha256", None, 0, 0, 0) for f in files])
        ledger.close()
    total = time.perf_counter() - started
    latencies.sort()
    return {"claims": len(latencies), "files_claimed": claimed,
            "claims_per_second": round(claimed / sum(latencies), 1),
            "claimed_and_completed_per_second": round(claimed / total, 1),
            "latency_ms_p50": round(statistics.median(latencies) * 1000, 3),
            "latency_ms_p99": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 3)}


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
        for size in sizes:
            if size == sizes[0]:  # drained by each round: a fresh database per round
                uris = [database(pg, f"bench_{size}_{r}", size) for r in range(args.rounds)]
            else:
                uris = [database(pg, f"bench_{size}", size)] * args.rounds
            report[f"rows_{size}"] = measure(uris, claims, args.batch)
            print(size, report[f"rows_{size}"], flush=True)
    finally:
        pg.stop()
    (REPO / "bench" / "results" / "ledger.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
