"""The File transfers page's queries on a real ledger, scoped to the DAGs a user may read."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg2

from filepool.ledger import Completion, DiscoveredFile, Failure, Ledger, TaskRef, WorkerIdentity
from filepool.plugin.overview import Overview, Scope

JOB = "sftp://filepool_sftp/data -> s3://filepool_minio/landing/"


def worker_of(uri: str, dag_id: str) -> Ledger:
    ledger = Ledger(lambda: psycopg2.connect(uri), f"host:1:{dag_id}.transfer:0000")
    ledger.register_worker(WorkerIdentity("host", None, 1, None), 300, TaskRef(dag_id, "run", "transfer"))
    return ledger


def test_each_user_sees_the_routes_and_files_of_the_dags_they_may_read(ledger_uri: str) -> None:
    mine, theirs = worker_of(ledger_uri, "mine"), worker_of(ledger_uri, "theirs")
    mine.register(JOB, [DiscoveredFile(f"/data/a{i}.csv", 5, 1.0, f"a{i}.csv") for i in range(3)])
    theirs.register("ftp://other/x -> local://y/", [DiscoveredFile("/x/b.csv", 7, 1.0, "b.csv")])
    [done] = mine.claim_batch(JOB, 1, 300).files
    mine.complete([Completion(done.id, done.attempts, 5, "ab", "sha256", None, 0.1, 0.1, 0.2)])
    overview = Overview(mine)
    everything, only_mine = Scope(every=True), Scope(every=False, dag_ids=frozenset({"mine"}))

    assert sorted(r["route"] for r in overview.routes(everything)) == ["ftp://other/x -> local://y/", JOB]
    [route] = overview.routes(only_mine)
    assert route["status"] == {"COMPLETED": 1, "DISCOVERED": 2} and route["backlog"] == 2
    assert route["oldest_waiting_seconds"] is not None and route["dag_ids"] == ["mine"]
    assert [f["source_path"] for f in overview.search(only_mine, "")] == [
        "/data/a2.csv",
        "/data/a1.csv",
        "/data/a0.csv",
    ]
    assert overview.search(Scope(every=False), "") == []
    assert overview.search(everything, "a_") == []  # "_" is a character of the path, not a wildcard
    assert [f["source_path"] for f in overview.search(everything, "a1.c")] == ["/data/a1.csv"]
    [point] = overview.throughput(only_mine)
    assert point["route"] == JOB and point["files_per_minute"] > 0
    assert overview.throughput(Scope(every=False, dag_ids=frozenset({"theirs"}))) == []
    assert overview.failures(only_mine) == []
    assert {w["dag_id"] for w in overview.workers(everything)} == {"mine", "theirs"}
    assert [e["event"] for e in overview.file(done.id)["events"]] == ["discovered", "claimed", "completed"]  # type: ignore[index]


def test_the_page_counters_agree_with_the_files_after_concurrent_work_and_folds(ledger_uri: str) -> None:
    """Four workers of two DAGs register, claim, complete, fail, release and reject at once while a fifth
    connection folds the counters' changes over and over; then the counters equal a count of the rows."""
    stop = threading.Event()

    def fold_all_along() -> None:
        folder = Ledger(lambda: psycopg2.connect(ledger_uri), "folder")
        while not stop.is_set():
            folder.fold_page_changes()
        folder.close()

    def work(n: int) -> None:
        ledger = worker_of(ledger_uri, f"dag{n % 2}")
        job = f"{JOB}{n % 3}"
        ledger.register(job, [DiscoveredFile(f"/data/{n}/{i}.csv", 10 + i, 1.0, f"{n}/{i}.csv") for i in range(120)])
        while claimed := ledger.claim_batch(job, 7, 300).files:
            done, failed, released = claimed[:4], claimed[4:6], claimed[6:]
            ledger.complete([Completion(f.id, f.attempts, f.size, "c", "sha256", None, 0, 0, 0) for f in done])
            ledger.fail([Failure(f.id, f.attempts, "E_TEST", "no", None) for f in failed])
            ledger.release(released)
        ledger.reject([{"job": job, "source_path": f"/bad/{n}", "destination": "x", "error_code": "E",
                        "error_message": "bad", "metadata": {}}])  # fmt: skip
        ledger.close()

    folder = threading.Thread(target=fold_all_along)
    folder.start()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(4)))
    stop.set()
    folder.join()

    conn = psycopg2.connect(ledger_uri)
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT job, coalesce(dag_id, ''), status, count(*), sum(greatest(size, 0)) FROM filepool_files"
            " GROUP BY 1, 2, 3 ORDER BY 1, 3, 2"
        )
        counted = [(*row[:4], int(row[4])) for row in cur.fetchall()]
        cur.execute("SELECT count(*), sum(bytes_transferred) FROM filepool_files WHERE status = 'COMPLETED'")
        completed = cur.fetchone()
    conn.close()
    ledger = Ledger(lambda: psycopg2.connect(ledger_uri), "reader")
    assert [(*row[:4], int(row[4])) for row in Overview(ledger)._rows("route_counts")] == counted
    assert {s for *_, s, _, _ in counted} == {"COMPLETED", "FAILED"}  # released files were claimed again
    points = Overview(ledger).throughput(Scope(every=True), bucket_seconds=60)
    assert round(sum(p["files_per_minute"] for p in points)) == completed[0] > 0  # one point a minute
    assert round(sum(p["mb_per_minute"] for p in points) * 1e6) == completed[1]
    ledger.close()
