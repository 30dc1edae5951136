"""The ledger alone: claims per second in batches, and claim latency (p50, p99) with 10 thousand and with 1 million
rows in the table. Results: bench/results/ledger.json.

Usage: python bench/ledger_claims.py [--sizes 10000,1000000] [--claims 2000] [--batch 64]
Each size gets a fresh database with SIZE registered files of one job (plus as many COMPLETED rows of other jobs,
as an old ledger has); one worker then claims `--claims` batches of `--batch` and completes them as it goes.
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


def measure(uri: str, claims: int, batch: int) -> dict[str, float]:
    ledger = Ledger(lambda: psycopg2.connect(uri), f"bench:{uuid.uuid4().hex[:6]}")
    latencies: list[float] = []
    claimed = 0
    started = time.perf_counter()
    for _ in range(claims):
        t = time.perf_counter()
        files = ledger.claim(JOB, batch, 300)
        latencies.append(time.perf_counter() - t)
        claimed += len(files)
        ledger.complete([Completion(f.id, f.size, "x", "sha256", None, 0, 0, 0) for f in files])
    total = time.perf_counter() - started
    latencies.sort()
    ledger.close()
    return {"files_claimed": claimed, "claims_per_second": round(claimed / sum(latencies), 1),
            "claimed_and_completed_per_second": round(claimed / total, 1),
            "latency_ms_p50": round(statistics.median(latencies) * 1000, 3),
            "latency_ms_p99": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 3)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--claims", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    pg = PostgresServer().start()
    report: dict[str, object] = {"batch": args.batch, "claims": args.claims}
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            name = f"bench_{size}"
            admin = psycopg2.connect(pg.uri())
            admin.autocommit = True
            admin.cursor().execute(f"CREATE DATABASE {name}")
            admin.close()
            uri = pg.uri(name)
            Ledger(lambda u=uri: psycopg2.connect(u), "bench").migrate()
            fill(uri, size)
            claims = min(args.claims, size // args.batch)
            report[f"rows_{size}"] = measure(uri, claims, args.batch)
            print(size, report[f"rows_{size}"], flush=True)
    finally:
        pg.stop()
    (REPO / "bench" / "results" / "ledger.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
