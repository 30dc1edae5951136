"""`make bench`: every benchmark in turn, each on servers it starts itself, then one summary.

Runs bench/sftp_to_s3.py, bench/ftp_to_local.py, bench/producer_vs_kcat.py (each alternates filepool and its
peers, REPS times), bench/ledger_claims.py and bench/page_queries.py, merges their results into
bench/results/latest.json and writes the table in docs/BENCHMARKS.md with the machine, the versions and the
command.

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
    "page": ["bench/page_queries.py"],
}


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
            "rclone / lftp",
            f"{median(ftp, 'rclone', 'files_per_s')} / {median(ftp, 'lftp', 'files_per_s')}",
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
    for size in ("rows_10000", "rows_1000000"):
        if size in ledger:
            r = ledger[size]
            lines.append(
                f"| ledger, {int(size[5:]):,} rows | claims/s | {r['claims_per_second']} | "
                f"claim p50 / p99 (ms) | {r['latency_ms_p50']} / {r['latency_ms_p99']} |"
            )
    lines += cpu_table(s3, ftp) + page_table(latest.get("page", {}))
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


def cpu_table(s3: dict, ftp: dict) -> list[str]:
    """Where each run's CPU went: the tool itself (filepool: its execute(), without start-up) and each server."""
    servers = ("sshd", "seaweedfs", "vsftpd", "postgresql")
    runs = [("SFTP->S3", s3, f"small/{t}") for t in ("filepool", "rclone", "rclone@32")]
    runs += [("local->S3", s3, "small/s3-only")]
    runs += [("FTP->local", ftp, t) for t in ("filepool", "rclone", "lftp")]
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
        extra = [] if name in ("ledger", "page") else ["--reps", str(args.reps)]
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
