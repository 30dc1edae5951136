"""FTP -> local benchmark: filepool against `rclone copy --transfers 8` and `lftp mirror --parallel=8`, raw and doing
filepool's whole job.

Starts its own vsftpd and PostgreSQL; makes 1,000 x 200 KiB files in nested folders; runs each tool REPS
times, rotating the order, each into a fresh folder; reports median and spread. filepool runs as it always
does: SHA-256 of every file, a temporary name, fsync, rename. The peers run twice: raw (`rclone`, `lftp`: the
copy alone, nothing verified, nothing durable when they exit) and doing the same job as filepool (`rclone+job`,
`lftp+job`: the copy, then `sha256sum` of every file, then `sync`, timed as one command). Results:
bench/results/ftp_to_local.json.

Usage: python bench/ftp_to_local.py [--reps 3] [--small 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.common import (  # noqa: E402
    exit_on_sigterm,
    make_small_files,
    prepare_environment,
    rotate,
    run_metrics,
    summarize,
    timed,
)
from tests.servers.postgres import PostgresServer  # noqa: E402
from tests.servers.vsftpd import FTPServer  # noqa: E402

prepare_environment()

TOOLS = ("filepool", "rclone", "lftp", "rclone+job", "lftp+job")
# What filepool does besides the copy, for a peer: a SHA-256 of every file, and the files durable on disk.
SAME_JOB = "find {dest} -type f -print0 | xargs -0 -r -P 2 -n 100 sha256sum > /dev/null && sync"


def commands(tool: str, ftp: FTPServer, source: Path, dest: Path, env: dict[str, str]) -> list[str]:
    if tool.endswith("+job"):
        copy = " ".join(shlex.quote(a) for a in commands(tool.removesuffix("+job"), ftp, source, dest, env))
        return ["bash", "-c", f"set -e; {copy}; {SAME_JOB.format(dest=shlex.quote(str(dest)))}"]
    if tool == "filepool":
        return [sys.executable, "bench/filepool_once.py", "ftp-local", str(source), dest.name, "8"]
    if tool == "rclone":
        return ["rclone", "copy", "--transfers", "8", f"src:{source}", str(dest)]
    script = f"set ftp:ssl-allow no; set net:max-retries 2; mirror --parallel=8 '{source}' '{dest}'; quit"
    return ["lftp", "-u", f"{ftp.user},{ftp.password}", "-p", str(ftp.port), "-e", script, "127.0.0.1"]


def main() -> int:
    exit_on_sigterm()
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--small", type=int, default=1000)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="filepool-bench-ftp-"))
    work.chmod(0o755)
    base = work / "base"
    base.mkdir()
    pg, ftp = PostgresServer(), FTPServer()
    try:
        pg.start(), ftp.start()
        source = work / "data"
        make_small_files(source, args.small)
        size = sum(p.stat().st_size for p in source.rglob("*") if p.is_file())
        env = dict(os.environ)
        env["AIRFLOW_CONN_FILEPOOL_LEDGER"] = pg.uri().replace("postgresql://", "postgres://")
        env["AIRFLOW_CONN_FILEPOOL_FTP"] = json.dumps(
            {"conn_type": "ftp", "host": "127.0.0.1", "port": ftp.port, "login": ftp.user, "password": ftp.password}
        )
        env["AIRFLOW_CONN_FILEPOOL_LOCAL"] = json.dumps({"conn_type": "fs", "extra": {"path": str(base)}})
        obscured = subprocess.run(
            ["rclone", "obscure", ftp.password], capture_output=True, text=True, check=True
        ).stdout.strip()
        env.update(
            {
                "RCLONE_CONFIG_SRC_TYPE": "ftp",
                "RCLONE_CONFIG_SRC_HOST": "127.0.0.1",
                "RCLONE_CONFIG_SRC_PORT": str(ftp.port),
                "RCLONE_CONFIG_SRC_USER": ftp.user,
                "RCLONE_CONFIG_SRC_PASS": obscured,
            }
        )
        env.pop("AWS_CA_BUNDLE", None)

        results: dict[str, dict[str, list[float]]] = {}
        for rep in range(args.reps):
            for tool in rotate(list(TOOLS), rep):
                dest = base / f"{tool}-{rep}"
                run = timed(commands(tool, ftp, source, dest, env), env, {"vsftpd": ftp.pid, "postgresql": pg.pid})
                inner = json.loads(run.out.strip().splitlines()[-1]) if tool == "filepool" else None
                metrics = run_metrics(run, inner)
                got = sum(1 for p in dest.rglob("*") if p.is_file())
                assert got == args.small, (tool, got)
                seconds = metrics["seconds"]
                metrics.update(files_per_s=args.small / seconds, mb_per_s=size / 1e6 / seconds)
                for key, value in metrics.items():
                    results.setdefault(tool, {}).setdefault(key, []).append(value)
                print(
                    f"{tool:8s} rep {rep}: {seconds:6.2f}s  {args.small / seconds:7.1f} files/s  "
                    f"cpu {run.cpu:5.1f}s  servers {run.server_cpu}",
                    flush=True,
                )
                shutil.rmtree(dest)
        report: dict[str, object] = {tool: {k: summarize(v) for k, v in m.items()} for tool, m in results.items()}
        report["machine"] = {
            "cores": os.cpu_count(),
            "python": sys.version.split()[0],
            "rclone": subprocess.run(["rclone", "version"], capture_output=True, text=True).stdout.splitlines()[0],
            "lftp": subprocess.run(["lftp", "--version"], capture_output=True, text=True).stdout.splitlines()[0],
        }
        (REPO / "bench" / "results" / "ftp_to_local.json").write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(report, indent=2))
        return 0
    finally:
        ftp.stop()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
