"""SFTP -> S3 benchmark: filepool against rclone and the stock Airflow operator on the same servers, in one run.

Starts its own PostgreSQL, OpenSSH sshd and SeaweedFS; makes 1,000 x 200 KiB files in nested folders and one
1 GiB file. Small files: filepool (8 threads), `rclone copy --transfers 8` and `--transfers 32`, and the stock
`SFTPToS3Operator` once per folder on 8 threads (bench/stock_sftp_to_s3.py); the big file: filepool, rclone and
the stock operator; and, for the ceiling the destination sets, the small files from the local folder sshd serves
straight to S3 (`s3-only`: rclone, 8 transfers, no SFTP at all). Each tool runs REPS times, the order rotating
each repetition, each into a fresh key prefix; then filepool alone at 1, 2, 4, 8, 16 and 32 threads on the small
files (REPS times each, the thread counts rotating). Reports the median and spread, CPU seconds, peak RSS and the
CPU each server spent. Results: bench/results/sftp_to_s3.json.

Usage: python bench/sftp_to_s3.py [--reps 3] [--small 1000] [--big-mib 1024] [--no-stock]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import uuid
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.common import (  # noqa: E402
    exit_on_sigterm,
    make_readable,
    make_small_files,
    prepare_environment,
    rotate,
    run_metrics,
    summarize,
    timed,
)
from tests.servers import seaweedfs, sshd  # noqa: E402
from tests.servers.postgres import PostgresServer  # noqa: E402
from tests.servers.seaweedfs import S3Server  # noqa: E402
from tests.servers.sshd import SSHServer  # noqa: E402

prepare_environment()

THREAD_COUNTS = (1, 2, 4, 8, 16, 32)


def make_data(root: Path, small: int, big_mib: int) -> tuple[Path, Path]:
    small_dir, big_dir = root / "small", root / "big"
    make_small_files(small_dir, small)
    big_dir.mkdir(parents=True)
    with (big_dir / "one.bin").open("wb") as f:
        for _ in range(big_mib):
            f.write(os.urandom(1 << 20))
    make_readable(root)
    return small_dir, big_dir


def rclone_env(ssh: SSHServer, s3: S3Server, known_hosts: Path) -> dict[str, str]:
    obscured = subprocess.run(
        ["rclone", "obscure", sshd.PASSWORD], capture_output=True, text=True, check=True
    ).stdout.strip()
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}  # breaks rclone 1.60 here
    env.update(
        {
            "RCLONE_CONFIG_SRC_TYPE": "sftp",
            "RCLONE_CONFIG_SRC_HOST": "127.0.0.1",
            "RCLONE_CONFIG_SRC_PORT": str(ssh.port),
            "RCLONE_CONFIG_SRC_USER": sshd.USER,
            "RCLONE_CONFIG_SRC_PASS": obscured,
            "RCLONE_CONFIG_SRC_KNOWN_HOSTS_FILE": str(known_hosts),
            "RCLONE_CONFIG_DST_TYPE": "s3",
            "RCLONE_CONFIG_DST_PROVIDER": "Other",
            "RCLONE_CONFIG_DST_ENDPOINT": s3.endpoint,
            "RCLONE_CONFIG_DST_ACCESS_KEY_ID": seaweedfs.ACCESS_KEY,
            "RCLONE_CONFIG_DST_SECRET_ACCESS_KEY": seaweedfs.SECRET_KEY,
            "RCLONE_CONFIG_DST_REGION": "us-east-1",
        }
    )
    return env


def main() -> int:
    exit_on_sigterm()
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--no-stock", action="store_true", help="leave out the stock SFTPToS3Operator")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="filepool-bench-"))
    work.chmod(0o755)
    pg, ssh, s3 = PostgresServer(), SSHServer(), S3Server()
    try:
        pg.start(), ssh.start(), s3.start()
        small_dir, big_dir = make_data(work / "data", args.small, args.big_mib)
        known_hosts = work / "known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{ssh.port} {ssh.host_key_public}\n")
        client = s3.client()
        client.create_bucket(Bucket="bench")
        client.put_object(Bucket="bench", Key="warm", Body=os.urandom(1 << 20))
        fp_env = dict(os.environ)
        fp_env["AIRFLOW_CONN_FILEPOOL_LEDGER"] = pg.uri().replace("postgresql://", "postgres://")
        fp_env["AIRFLOW_CONN_FILEPOOL_SFTP"] = json.dumps(
            {
                "conn_type": "sftp",
                "host": "127.0.0.1",
                "port": ssh.port,
                "login": sshd.USER,
                "password": sshd.PASSWORD,
                "extra": {"host_key": ssh.host_key_public},
            }
        )
        fp_env["AIRFLOW_CONN_FILEPOOL_MINIO"] = json.dumps(
            {
                "conn_type": "aws",
                "login": seaweedfs.ACCESS_KEY,
                "password": seaweedfs.SECRET_KEY,
                "extra": {"endpoint_url": s3.endpoint, "region_name": "us-east-1"},
            }
        )
        rc_env = rclone_env(ssh, s3, known_hosts)

        results: dict[str, dict[str, list[float]]] = {}

        def command(tool: str, folder: Path, prefix: str) -> tuple[list[str], dict[str, str]]:
            if tool.startswith("filepool"):
                threads = tool.partition("@")[2] or "8"
                return [
                    sys.executable,
                    "bench/filepool_once.py",
                    "sftp-s3",
                    str(folder),
                    "bench",
                    prefix,
                    threads,
                ], fp_env
            if tool == "s3-only":  # the S3 half alone: rclone from the local folder sshd serves, no SFTP
                return ["rclone", "copy", "--transfers", "8", str(folder), f"dst:bench/{prefix}"], rc_env
            if tool.startswith("rclone"):
                transfers = tool.partition("@")[2] or "8"
                return ["rclone", "copy", "--transfers", transfers, f"src:{folder}", f"dst:bench/{prefix}"], rc_env
            return [sys.executable, "bench/stock_sftp_to_s3.py", str(folder), "bench", prefix, "8"], fp_env

        def run(case: str, tool: str, folder: Path, count: int, size: int, rep: int) -> None:
            prefix = f"{case}-{tool.replace('@', '')}-{uuid.uuid4().hex[:6]}/"
            run = timed(*command(tool, folder, prefix), {"sshd": ssh.pid, "seaweedfs": s3.pid, "postgresql": pg.pid})
            inner = None
            if tool.startswith(("filepool", "stock")):  # the work itself, without interpreter and Airflow start-up
                inner = json.loads(run.out.strip().splitlines()[-1])
                assert inner["files"] == count and inner.get("failed", 0) == 0, inner
            metrics = run_metrics(run, inner)
            listed = client.list_objects_v2(Bucket="bench", Prefix=prefix).get("KeyCount", 0)
            assert listed == count, (tool, listed)
            seconds = metrics["seconds"]
            metrics.update(files_per_s=count / seconds, mb_per_s=size / 1e6 / seconds)
            for key, value in metrics.items():
                results.setdefault(f"{case}/{tool}", {}).setdefault(key, []).append(value)
            print(
                f"{case:7s} {tool:12s} rep {rep}: {seconds:6.2f}s  {count / seconds:7.1f} files/s  "
                f"{size / 1e6 / seconds:6.1f} MB/s  cpu {run.cpu:5.1f}s  rss {run.rss_mb} MB  "
                f"servers {run.server_cpu}",
                flush=True,
            )

        stock = [] if args.no_stock else ["stock"]
        cases = [
            ("small", small_dir, args.small, ["filepool", "rclone", "rclone@32", "s3-only", *stock]),
            ("big", big_dir, 1, ["filepool", "rclone", *stock]),
            ("threads", small_dir, args.small, [f"filepool@{n}" for n in THREAD_COUNTS]),
        ]
        for case, folder, count, tools in cases:
            size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
            for rep in range(args.reps):
                for tool in rotate(tools, rep):
                    run(case, tool, folder, count, size, rep)
        report: dict[str, object] = {
            name: {k: summarize(v) for k, v in metrics.items()} for name, metrics in results.items()
        }
        report["machine"] = {
            "cores": os.cpu_count(),
            "python": sys.version.split()[0],
            "rclone": subprocess.run(["rclone", "version"], capture_output=True, text=True).stdout.splitlines()[0],
            "apache-airflow-providers-amazon": version("apache-airflow-providers-amazon"),
        }
        out = REPO / "bench" / "results" / "sftp_to_s3.json"
        out.write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(report, indent=2))
        return 0
    finally:
        s3.stop()
        ssh.stop()
        pg.stop()
        subprocess.run(["rm", "-rf", str(work)])


if __name__ == "__main__":
    sys.exit(main())
