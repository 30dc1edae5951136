"""`make bench`: every benchmark in turn, each on servers it starts itself, then one summary.

Runs bench/sftp_to_s3.py, bench/ftp_to_local.py, bench/producer_vs_kcat.py, bench/sweep_tree.py (each alternates
filepool and its peers, REPS times), bench/ledger_claims.py, bench/ledger_concurrency.py and bench/page_queries.py,
merges their results into bench/results/latest.json and writes docs/BENCHMARKS.md - the tables, and the targets
with whether this run met them - with the machine, the versions and the command.

Usage: python bench/run.py [--reps 3] [--only ledger,producer]
(--only reruns those steps and takes the others' figures from their last result files.)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
STEPS = {  # result file -> the command that writes it
    "sftp_to_s3": ["bench/sftp_to_s3.py"],
    "ftp_to_local": ["bench/ftp_to_local.py"],
    "producer": ["bench/producer_vs_kcat.py"],
    "ledger": ["bench/ledger_claims.py"],
    "ledger_concurrency": ["bench/ledger_concurrency.py"],
    "sweep": ["bench/sweep_tree.py"],
    "page": ["bench/page_queries.py"],
}
NO_REPS = ("ledger", "ledger_concurrency", "page")  # steps that repeat inside, not by --reps


def median(results: dict, tool: str, metric: str) -> float | None:
    value = results.get(tool, {}).get(metric, {})
    return value.get("median") if isinstance(value, dict) else None


def table(latest: dict) -> str:
    s3, ftp, prod, ledger = (latest.get(k, {}) for k in ("sftp_to_s3", "ftp_to_local", "producer", "ledger"))
    rows = [
        (
            "1,000 x 200 KiB SFTP->S3 (s)",
            "filepool",
            median(s3, "small/filepool", "seconds"),
            "rclone --transfers 8 / 32 / stock SFTPToS3Operator",
            " / ".join(str(median(s3, f"small/{t}", "seconds")) for t in ("rclone", "rclone@32", "stock")),
        ),
        (
            "the same files, local disk -> S3 (s)",
            "-",
            "-",
            "rclone --transfers 8, no SFTP (the S3 half alone)",
            median(s3, "small/s3-only", "seconds"),
        ),
        (
            "1 GiB SFTP->S3 (s)",
            "filepool",
            median(s3, "big/filepool", "seconds"),
            "rclone / stock SFTPToS3Operator",
            " / ".join(str(median(s3, f"big/{t}", "seconds")) for t in ("rclone", "stock")),
        ),
        (
            "1 GiB SFTP->S3 peak RSS (MB)",
            "filepool",
            median(s3, "big/filepool", "peak_rss_mb"),
            "rclone / stock SFTPToS3Operator",
            " / ".join(str(median(s3, f"big/{t}", "peak_rss_mb")) for t in ("rclone", "stock")),
        ),
        (
            "1,000 x 200 KiB FTP->local (files/s)",
            "filepool",
            median(ftp, "filepool", "files_per_s"),
            "rclone / lftp, raw (the copy alone)",
            f"{median(ftp, 'rclone', 'files_per_s')} / {median(ftp, 'lftp', 'files_per_s')}",
        ),
        (
            "the same, the same job (files/s)",
            "filepool",
            median(ftp, "filepool", "files_per_s"),
            "rclone / lftp, then sha256sum of every file and sync, as one job",
            f"{median(ftp, 'rclone+job', 'files_per_s')} / {median(ftp, 'lftp+job', 'files_per_s')}",
        ),
        (
            "200,000 events to Kafka (events/s)",
            "producer",
            median(prod, "producer", "events_per_s"),
            "kcat -P",
            median(prod, "kcat", "events_per_s"),
        ),
    ]
    lines = ["| what | filepool side | median | peer | median |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows]
    for size in sorted((k for k in ledger if k.startswith("rows_")), key=lambda k: int(k[5:])):
        r = ledger[size]
        lines.append(
            f"| ledger, {int(size[5:]):,} rows | claims/s | {r['claims_per_second']} | "
            f"claim p50 / p99 (ms) | {r['latency_ms_p50']} / {r['latency_ms_p99']} |"
        )
    lines += targets(latest) + sweep_table(latest.get("sweep", {}))
    lines += claimers_table(latest.get("ledger_concurrency", {}))
    lines += retention_table(ledger) + cpu_table(s3, ftp) + page_table(latest.get("page", {}))
    scaling = sorted((int(name.partition("@")[2]), m) for name, m in s3.items() if name.startswith("threads/"))
    if scaling:
        lines += [
            "",
            "Scaling, 1,000 x 200 KiB SFTP->S3, filepool alone:",
            "",
            "| threads | " + " | ".join(str(n) for n, _ in scaling) + " |",
            "| --- | " + " | ".join("---" for _ in scaling) + " |",
            "| files/s (median) | " + " | ".join(str(m["files_per_s"]["median"]) for _, m in scaling) + " |",
        ]
    return "\n".join(lines)


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def targets(latest: dict) -> list[str]:
    """The targets this project holds itself to, and whether this run met them."""
    s3, ftp, ledger = (latest.get(k, {}) for k in ("sftp_to_s3", "ftp_to_local", "ledger"))
    fp = median(ftp, "filepool", "files_per_s")
    best_job = max((median(ftp, t, "files_per_s") or 0 for t in ("rclone+job", "lftp+job")), default=0) or None
    checks = [
        ("FTP->local: at least the best peer doing the same job", ratio(fp, best_job), 1.0, ">="),
        ("FTP->local: at least 0.85x raw lftp", ratio(fp, median(ftp, "lftp", "files_per_s")), 0.85, ">="),
        (
            "1,000 x 200 KiB SFTP->S3: at least 1.5x rclone (time ratio)",
            ratio(median(s3, "small/rclone", "seconds"), median(s3, "small/filepool", "seconds")),
            1.5,
            ">=",
        ),
        ("ledger: claim p99 at the largest size within 1.2x of 10,000 rows", ledger.get("p99_ratio"), 1.2, "<="),
        *claimer_checks(latest.get("ledger_concurrency", {})),
    ]
    lines = ["", "Targets (the ratio measured in this run):", "", "| target | ratio | met |", "| --- | --- | --- |"]
    for what, value, bound, sense in checks:
        met = "-" if value is None else ("yes" if (value >= bound if sense == ">=" else value <= bound) else "**no**")
        lines.append(f"| {what} | {value if value is not None else '-'} | {met} |")
    return lines


def claimer_checks(concurrency: dict) -> list[tuple[str, float | None, float, str]]:
    """Claims flat to 64 claimers on the 10M-row ledger: against the best level, against the claim from the
    queue's head measured in the same run, and the claim's p99."""
    levels = {r["claimers"]: r for r in concurrency.get("levels", [])}
    head = {r["claimers"]: r for r in concurrency.get("from_head", [])}
    top = levels.get(64, {})
    best = max((r["files_per_second"] for r in levels.values()), default=None)
    return [
        ("ledger: files/s at 64 claimers at least 90% of the best level", ratio(top.get("files_per_second"), best),
         0.9, ">="),
        ("ledger: files/s at 64 claimers at least 2x claims from the queue's head (same run)",
         ratio(top.get("files_per_second"), head.get(64, {}).get("files_per_second")), 2.0, ">="),
        ("ledger: claim p99 at 64 claimers under 200 ms (the value, ms)", top.get("latency_ms_p99"), 200, "<="),
    ]  # fmt: skip


def sweep_table(sweep: dict) -> list[str]:
    if "files" not in sweep:
        return []
    lines = [
        "",
        f"An hourly sweep of a tree that keeps {sweep['files']:,} files in {sweep['folders']:,} folders, "
        f"{sweep['new_files']:,} of them new (medians; `bench/sweep_tree.py`):",
        "",
        "| protocol | run | seconds (process) | seconds (discovery) | peak RSS (MB) | files sent to the ledger | "
        "rows written |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for protocol in ("sftp", "ftp"):
        first = sweep.get(f"{protocol}/first_sweep", {})
        lines.append(
            f"| {protocol} | first sweep (registers all) | {first.get('seconds')} | - | {first.get('peak_rss_mb')} | "
            f"{sweep['files']:,} | {sweep['files']:,} |"
        )
        for variant, label in (
            ("incremental", "incremental sweep"),
            ("every_file_sent", "sweep sending every file (before folder digests)"),
            ("rclone_lsf", "rclone lsf -R (listing only)"),
        ):
            r = sweep.get(f"{protocol}/{variant}")
            if r:
                sent = r.get("sent", {}).get("median", "-")
                own = r.get("discovery_seconds", {}).get("median", "-")
                lines.append(
                    f"| {protocol} | {label} | {r['seconds']['median']} | {own} | {r['peak_rss_mb']['median']} | "
                    f"{sent} | {r['rows_written']['median']} |"
                )
    return lines


def claimers_table(concurrency: dict) -> list[str]:
    levels = concurrency.get("levels", [])
    if not levels:
        return []
    lines = [
        "",
        f"Concurrent claimers on one ledger of {concurrency['rows']:,} rows (batches of {concurrency['batch']}, each "
        f"claimed and completed; {concurrency['seconds_per_level']} s per level; `bench/ledger_concurrency.py`):",
        "",
        "| claimers | files/s (all) | claim p50 (ms) | claim p99 (ms) | backends waiting on a lock | on an LWLock "
        "| waits seen most (samples) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in levels:
        seen = sorted(r.get("waits_seen", {}).items(), key=lambda kv: -kv[1])[:3]
        lines.append(
            f"| {r['claimers']} | {r['files_per_second']:,} | {r['latency_ms_p50']} | {r['latency_ms_p99']} | "
            f"{r['waiting_on_locks_mean']} | {r['waiting_on_lwlocks_mean']} | "
            f"{', '.join(f'{name} {n:,}' for name, n in seen) or '-'} |"
        )
    for r in concurrency.get("from_head", []):
        seen = sorted(r.get("waits_seen", {}).items(), key=lambda kv: -kv[1])[:3]
        lines.append(
            f"| {r['claimers']}, each claim from the queue's head (before) | {r['files_per_second']:,} | "
            f"{r['latency_ms_p50']} | {r['latency_ms_p99']} | {r['waiting_on_locks_mean']} | "
            f"{r['waiting_on_lwlocks_mean']} | {', '.join(f'{name} {n:,}' for name, n in seen) or '-'} |"
        )
    lines += [
        "",
        "Each claim goes on from where its worker's last one ended, a worker's first at a random place in the "
        "queue (every 16th from the head); the rows marked *before* claim from the queue's head each time, "
        "measured right after the level with as many claimers, on the same ledger. `Lock:transactionid`: a claim "
        "or a completion waiting for another's transaction to end (from the head, completions waited on claims "
        "that had locked their rows); `LWLock:BufferContent`: claimers on the same index pages; "
        "`LWLock:LockManager`: the lock table itself; `Lock:extend`: a relation growing (sampled from pg_locks: "
        "mostly the index of file versions, which every claim and completion adds an entry to).",
    ]
    return lines


def retention_table(ledger: dict) -> list[str]:
    found = [(k, v) for k, v in ledger.items() if k.startswith("retention_at_")]
    if not found:
        return []
    key, r = found[0]
    return [
        "",
        f"Retention on the ledger of {int(key.rpartition('_')[2]):,} rows ({r['table_mb_before']:,} MB with indexes): "
        f"{r['pruned']:,} COMPLETED rows pruned to their version key in {r['seconds']} s "
        f"({r['pruned_per_second']:,} rows/s, 10,000 a statement); `filepool_moved` then {r['moved_table_mb']} MB.",
    ]


def cpu_table(s3: dict, ftp: dict) -> list[str]:
    """Where each run's CPU went: the tool itself (filepool: its execute(), without start-up) and each server."""
    servers = ("sshd", "seaweedfs", "vsftpd", "postgresql")
    runs = [("SFTP->S3", s3, f"small/{t}") for t in ("filepool", "rclone", "rclone@32")]
    runs += [("local->S3", s3, "small/s3-only")]
    runs += [("FTP->local", ftp, t) for t in ("filepool", "rclone", "lftp", "rclone+job", "lftp+job")]
    rows = []
    for case, results, tool in runs:
        if tool not in results or "machine_cpu_seconds" not in results[tool]:
            continue
        own = median(results, tool, "work_cpu_seconds") or median(results, tool, "cpu_seconds")
        spent = [median(results, tool, f"{name}_cpu_seconds") for name in servers]
        name = "rclone" if tool == "small/s3-only" else tool.removeprefix("small/")
        rows.append(
            f"| {case} | {name} | {median(results, tool, 'seconds')} | {own} | "
            + " | ".join("-" if v is None else str(v) for v in spent)
            + " |"
        )
    if not rows:
        return []
    return [
        "",
        "Where the CPU goes, 1,000 x 200 KiB (CPU seconds per run, medians; a server's figure includes its "
        "sessions and backends):",
        "",
        "| case | tool | seconds | the tool | sshd | SeaweedFS | vsftpd | PostgreSQL (ledger) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *rows,
    ]


def page_table(page: dict) -> list[str]:
    if "every DAG" not in page:
        return []
    lines = [
        "",
        f"The File transfers page's queries on a ledger of {page['rows']:,} files (p95 ms of {page['reps']} runs, "
        "as a user who reads every DAG / one of 5):",
        "",
        "| query | every DAG | one DAG |",
        "| --- | --- | --- |",
    ]
    for name, every in page["every DAG"].items():
        lines.append(f"| {name} | {every['p95_ms']} | {page['one DAG'][name]['p95_ms']} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--only", default=",".join(STEPS), help="steps to run, comma-separated")
    args = parser.parse_args()
    started = time.monotonic()
    latest: dict[str, object] = {}
    for name, script in STEPS.items():
        if name not in args.only.split(","):
            latest[name] = json.loads((RESULTS / f"{name}.json").read_text())
            continue
        extra = [] if name in NO_REPS else ["--reps", str(args.reps)]
        print(f"== {name}", flush=True)
        subprocess.run([sys.executable, *script, *extra], cwd=REPO, check=True)
        latest[name] = json.loads((RESULTS / f"{name}.json").read_text())
    latest["machine"] = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "minutes": round((time.monotonic() - started) / 60, 1),
        "steps_run": args.only,
    }
    (RESULTS / "latest.json").write_text(json.dumps(latest, indent=2) + "\n")
    doc = REPO / "docs" / "BENCHMARKS.md"
    partial = (
        ""
        if set(args.only.split(",")) >= set(STEPS)
        else (f"\nThis run: {args.only} (`--only`); the other figures are from their last runs.")
    )
    doc.write_text(f"""# Benchmarks

Measured by `make bench` (`python bench/run.py --reps {args.reps}`) on {os.cpu_count()} cores,
{platform.platform()}, Python {platform.python_version()}; every tool on the same servers in the same run,
alternating, medians of {args.reps}. Raw figures, spreads and versions: `bench/results/latest.json`.{partial}

{table(latest)}
""")
    print(doc.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
