"""The File transfers page's queries on a ledger of 1,000,000 files: p50 and p95 of each (what the page and its API
run per request). Results: bench/results/page.json.

Usage: python bench/page_queries.py [--rows 1000000] [--reps 30]
The ledger holds `--rows` files over 20 routes and 5 DAGs: 97% COMPLETED (a third of them within the last 6
hours), 1% each DISCOVERED, IN_PROGRESS and FAILED (under 8 error codes), 3 events per file for one file in 100,
and 50 workers; vacuumed, as an old ledger is. Each query runs `--reps` times, as a user who may read every DAG
and as one who may read one DAG.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg2

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import exit_on_sigterm  # noqa: E402
from filepool.ledger import Ledger  # noqa: E402
from filepool.plugin.overview import Overview, Scope  # noqa: E402
from tests.servers.postgres import PostgresServer  # noqa: E402


def fill(uri: str, rows: int) -> None:
    conn = psycopg2.connect(uri)
    with conn, conn.cursor() as cur:
        cur.execute(
            """
            INSERT INTO filepool_files (job, source_path, size, mtime, destination, status, attempts, dag_id,
                                        error_code, error_message, next_attempt_at, claimed_by, lease_until,
                                        completed_at, bytes_transferred)
            SELECT 'sftp://server' || (g %% 20) || '/data -> s3://minio/landing/',
                   '/data/day-' || (g %% 365) || '/file-' || g || '.csv', 1000 + g %% 5000, 1000 + g,
                   'day-' || (g %% 365) || '/file-' || g || '.csv',
                   CASE g %% 100 WHEN 0 THEN 'DISCOVERED' WHEN 1 THEN 'IN_PROGRESS' WHEN 2 THEN 'FAILED'
                        ELSE 'COMPLETED' END,
                   1, 'dag_' || (g %% 5),
                   CASE WHEN g %% 100 = 2 THEN 'CODE_' || (g %% 8) END,
                   CASE WHEN g %% 100 = 2 THEN 'the server said no to file ' || g END,
                   CASE WHEN g %% 100 = 2 THEN now() + interval '1 minute' END,
                   CASE WHEN g %% 100 = 1 THEN 'worker-' || (g %% 50) END,
                   CASE WHEN g %% 100 = 1 THEN now() + interval '5 minutes' END,
                   CASE WHEN g %% 100 > 2 THEN now() - make_interval(secs => (g %% 64800) * (1 + g %% 3)) END,
                   CASE WHEN g %% 100 > 2 THEN 1000 + g %% 5000 END
            FROM generate_series(1, %s) g""",
            (rows,),
        )
        cur.execute(
            """
            INSERT INTO filepool_file_events (file_id, event, worker)
            SELECT id, e, 'worker-' || (id % 50) FROM filepool_files, unnest(ARRAY['discovered', 'claimed',
                'completed']) e WHERE id % 100 = 7"""
        )
        cur.execute(
            """
            INSERT INTO filepool_workers (name, alive_until, dag_id, run_id, task_id, map_index, try_number)
            SELECT 'worker-' || g, now() + interval '5 minutes', 'dag_' || (g % 5), 'run', 'transfer', g, 1
            FROM generate_series(0, 49) g"""
        )
    conn.autocommit = True
    conn.cursor().execute("VACUUM (ANALYZE)")
    conn.close()


def measure(reps: int, run: Callable[[], Any]) -> dict[str, float]:
    run()  # warm
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(times[int(len(times) * 0.95) - 1], 1)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=30)
    args = parser.parse_args()
    exit_on_sigterm()
    pg = PostgresServer().start()
    try:
        uri = pg.uri()
        ledger = Ledger(lambda: psycopg2.connect(uri), "bench")
        ledger.migrate()
        started = time.monotonic()
        fill(uri, args.rows)
        print(f"filled {args.rows:,} rows in {time.monotonic() - started:.0f}s", flush=True)
        overview = Overview(ledger)
        [some_id] = [
            r[0]
            for r in ledger.rows(
                "search_files", text="file-7.csv", server="", before=None, limit=1, all=True, dag_ids=[]
            )
        ]
        results: dict[str, Any] = {"rows": args.rows, "reps": args.reps}
        for who, scope in (("every DAG", Scope(every=True)), ("one DAG", Scope(False, frozenset({"dag_1"})))):
            queries: dict[str, Callable[[], Any]] = {
                "routes (counts, backlog, oldest)": functools.partial(overview.routes, scope),
                "throughput, 6 h": functools.partial(overview.throughput, scope),
                "failures by code": functools.partial(overview.failures, scope),
                "workers": functools.partial(overview.workers, scope),
                "search a path, 111 match": functools.partial(overview.search, scope, "file-4242"),
                "search a path, 27k match": functools.partial(overview.search, scope, "day-10"),
                "search a path, none match": functools.partial(overview.search, scope, "no-such-file"),
                "one file's history": functools.partial(overview.file, some_id),
            }
            results[who] = {name: measure(args.reps, run) for name, run in queries.items()}
            for name, figures in results[who].items():
                print(f"{who:10} {name:34} p50 {figures['p50_ms']:8.1f} ms   p95 {figures['p95_ms']:8.1f} ms")
        out = REPO / "bench" / "results" / "page.json"
        out.write_text(json.dumps(results, indent=2) + "\n")
        ledger.close()
        return 0
    finally:
        pg.stop()


if __name__ == "__main__":
    sys.exit(main())
