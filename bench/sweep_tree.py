"""A source that keeps its files: the hourly sweep of a 1,000,000-file tree in which 1,000 files are new, over SFTP
(OpenSSH) and FTP (vsftpd), against `rclone lsf -R` listing the same tree. Results: bench/results/sweep.json.

Usage: python bench/sweep_tree.py [--folders 1000] [--per-folder 1000] [--reps 2]

The tree: `--folders` folders of `--per-folder` small files. Per protocol, in one ledger: a first sweep registers
every file; they are then marked COMPLETED (the moves of earlier hours). Then REPS times: 1,000 files arrive in a
new folder, and per protocol: the incremental sweep (it lists everything and sends the ledger only the changed
folders), the same sweep with the folder digests deleted first (what every hourly sweep cost before them: every
file sent to the ledger, none registered) and `rclone lsf -R`. Each timed as its own process: wall seconds and
peak RSS; for filepool also its discovery's own seconds (the process's include ~3 s of Python and Airflow start-up,
which an Airflow task pays before it runs), the files sent to the ledger and the rows it wrote.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg2

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.common import exit_on_sigterm, prepare_environment, summarize, timed  # noqa: E402
from tests.servers import sshd  # noqa: E402
from tests.servers.postgres import PostgresServer  # noqa: E402
from tests.servers.sshd import SSHServer  # noqa: E402
from tests.servers.vsftpd import FTPServer  # noqa: E402

prepare_environment()
OLD = time.time() - 3 * 86400  # old enough to be taken without a second look, whatever the FTP server's zone


def make_tree(root: Path, folders: int, per_folder: int, first: int = 0) -> None:
    for n in range(first, first + folders):
        folder = root / f"h{n:05d}"
        folder.mkdir(parents=True)
        os.chmod(folder, 0o755)
        for i in range(per_folder):
            path = os.path.join(folder, f"f{i:05d}.dat")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
            os.write(fd, b"%d %d\n" % (n, i))
            os.close(fd)
            os.utime(path, (OLD, OLD))


def sql(uri: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = psycopg2.connect(uri)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(statement, params)
        rows = list(cur.fetchall()) if cur.description else []
    conn.close()
    return rows


def main() -> int:
    exit_on_sigterm()
    parser = argparse.ArgumentParser()
    parser.add_argument("--folders", type=int, default=1000)
    parser.add_argument("--per-folder", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args()
    total = args.folders * args.per_folder

    work = Path(tempfile.mkdtemp(prefix="filepool-bench-sweep-"))
    work.chmod(0o755)
    tree = work / "tree"
    pg, ssh, ftp = PostgresServer(), SSHServer(), FTPServer()
    report: dict[str, Any] = {"files": total, "new_files": args.per_folder, "folders": args.folders}
    try:
        pg.start(), ssh.start(), ftp.start()
        started = time.monotonic()
        make_tree(tree, args.folders, args.per_folder)
        report["tree_seconds"] = round(time.monotonic() - started, 1)
        print(f"tree of {total:,} files made in {report['tree_seconds']} s", flush=True)
        uri = pg.uri()
        known_hosts = work / "known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{ssh.port} {ssh.host_key_public}\n")
        env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
        env["AIRFLOW_CONN_FILEPOOL_LEDGER"] = uri.replace("postgresql://", "postgres://")
        env["AIRFLOW_CONN_FILEPOOL_SFTP"] = json.dumps(
            {"conn_type": "sftp", "host": "127.0.0.1", "port": ssh.port, "login": sshd.USER,
             "password": sshd.PASSWORD, "extra": {"host_key": ssh.host_key_public}}
        )  # fmt: skip
        env["AIRFLOW_CONN_FILEPOOL_FTP"] = json.dumps(
            {"conn_type": "ftp", "host": "127.0.0.1", "port": ftp.port, "login": ftp.user, "password": ftp.password}
        )
        env["AIRFLOW_CONN_FILEPOOL_MINIO"] = json.dumps({"conn_type": "aws", "extra": {"endpoint_url": "http://x"}})
        env["AIRFLOW_CONN_FILEPOOL_LOCAL"] = json.dumps({"conn_type": "fs", "extra": {"path": str(work)}})
        obscured = subprocess.run(["rclone", "obscure", sshd.PASSWORD], capture_output=True, text=True, check=True)
        for name, kind, port in (("SFTP", "sftp", ssh.port), ("FTP", "ftp", ftp.port)):
            env |= {
                f"RCLONE_CONFIG_{name}_TYPE": kind,
                f"RCLONE_CONFIG_{name}_HOST": "127.0.0.1",
                f"RCLONE_CONFIG_{name}_PORT": str(port),
                f"RCLONE_CONFIG_{name}_USER": sshd.USER,
                f"RCLONE_CONFIG_{name}_PASS": obscured.stdout.strip(),
            }
        env["RCLONE_CONFIG_SFTP_KNOWN_HOSTS_FILE"] = str(known_hosts)
        servers = {"sshd": ssh.pid, "vsftpd": ftp.pid, "postgresql": pg.pid}
        sweep = {
            "sftp": [sys.executable, "bench/filepool_once.py", "sftp-s3-sweep", str(tree), "bench", "", "8"],
            "ftp": [sys.executable, "bench/filepool_once.py", "ftp-local-sweep", str(tree), "in", "8"],
        }
        for protocol, command in sweep.items():
            run = timed(command, env, servers)
            found = json.loads(run.out.strip().splitlines()[-1])["discovery"]
            assert found["registered"] == total, found
            report[f"{protocol}/first_sweep"] = {"seconds": round(run.wall, 1), "peak_rss_mb": run.rss_mb}
            print(protocol, "first sweep", report[f"{protocol}/first_sweep"], flush=True)
        sql(uri, "UPDATE filepool_files SET status = 'COMPLETED', completed_at = now()")
        sql(uri, "VACUUM (ANALYZE) filepool_files")
        results: dict[str, dict[str, list[float]]] = {}
        for rep in range(args.reps):
            make_tree(tree, 1, args.per_folder, first=args.folders + rep)  # the hour's new files, in a new folder
            for protocol, command in sweep.items():
                job = sql(uri, "SELECT DISTINCT job FROM filepool_files WHERE job LIKE %s", (f"{protocol}://%",))[0][0]
                for variant in ("incremental", "every_file_sent", "rclone_lsf"):
                    if variant == "every_file_sent":
                        sql(uri, "DELETE FROM filepool_listed_folders WHERE job = %s", (job,))
                    before = sql(uri, "SELECT count(*) FROM filepool_files")[0][0]
                    if variant == "rclone_lsf":
                        # counted by wc, not read here: this process holding a million names would grow, and a
                        # child's peak RSS counts what it inherits at fork
                        listing = f"rclone lsf -R --files-only {protocol.upper()}:{tree} | wc -l"
                        run = timed(["bash", "-o", "pipefail", "-c", listing], env, servers)
                        figures: dict[str, float] = {"listed": int(run.out)}
                    else:
                        run = timed(command, env, servers)
                        found = json.loads(run.out.strip().splitlines()[-1])["discovery"]
                        figures = {"listed": found["listed"], "sent": found["sent"], "registered": found["registered"],
                                   "discovery_seconds": found["seconds"]}  # fmt: skip
                    figures |= {
                        "seconds": run.wall,
                        "peak_rss_mb": run.rss_mb,
                        "rows_written": sql(uri, "SELECT count(*) FROM filepool_files")[0][0] - before,
                    }
                    for key, value in figures.items():
                        results.setdefault(f"{protocol}/{variant}", {}).setdefault(key, []).append(value)
                    print(protocol, variant, rep, figures, flush=True)
        report |= {name: {k: summarize(v) for k, v in m.items()} for name, m in results.items()}
        report["rclone"] = subprocess.run(["rclone", "version"], capture_output=True, text=True).stdout.splitlines()[0]
        (REPO / "bench" / "results" / "sweep.json").write_text(json.dumps(report, indent=2) + "\n")
        return 0
    finally:
        ftp.stop()
        ssh.stop()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
