"""The File transfers page's queries on a real ledger, scoped to the DAGs a user may read."""

from __future__ import annotations

import psycopg2

from filepool.ledger import Completion, DiscoveredFile, Ledger, TaskRef, WorkerIdentity
from filepool.ledger.overview import Overview, Scope

JOB = "sftp://filepool_sftp/data -> s3://filepool_minio/landing/"


def worker_of(uri: str, dag_id: str) -> Ledger:
    ledger = Ledger(lambda: psycopg2.connect(uri), f"host:1:{dag_id}.transfer:0000")
    ledger.register_worker(WorkerIdentity("host", None, 1, None), 300, TaskRef(dag_id, "run", "transfer"))
    return ledger


def test_each_user_sees_the_routes_and_files_of_the_dags_they_may_read(ledger_uri: str) -> None:
    mine, theirs = worker_of(ledger_uri, "mine"), worker_of(ledger_uri, "theirs")
    mine.register(JOB, [DiscoveredFile(f"/data/a{i}.csv", 5, 1.0, f"a{i}.csv") for i in range(3)])
    theirs.register("ftp://other/x -> local://y/", [DiscoveredFile("/x/b.csv", 7, 1.0, "b.csv")])
    [done] = mine.claim(JOB, 1, 300)
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
    [point] = overview.throughput(only_mine)
    assert point["route"] == JOB and point["files_per_second"] > 0
    assert overview.throughput(Scope(every=False, dag_ids=frozenset({"theirs"}))) == []
    assert overview.failures(only_mine) == []
    assert {w["dag_id"] for w in overview.workers(everything)} == {"mine", "theirs"}
    assert [e["event"] for e in overview.file(done.id)["events"]] == ["discovered", "claimed", "completed"]  # type: ignore[index]
