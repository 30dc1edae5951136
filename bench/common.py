"""What the benchmarks share: data sets, timing a command (its CPU, its peak RSS and the CPU each server spent
meanwhile), medians and spread."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.servers.process import descendants

REPO = Path(__file__).resolve().parent.parent


def exit_on_sigterm() -> None:
    """A benchmark stopped with SIGTERM leaves through its `finally`, which stops the servers it started (Python's
    default for SIGTERM ends the process on the spot and left PostgreSQL, sshd and SeaweedFS running)."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def prepare_environment() -> None:
    """The environment of the benchmark's filepool runs: an Airflow home of its own (unless AIRFLOW_HOME is set),
    removed at exit, and progress lines once a minute, not every few seconds."""
    if "AIRFLOW_HOME" not in os.environ:
        home = tempfile.mkdtemp(prefix="filepool-bench-airflow-")
        os.environ["AIRFLOW_HOME"] = home
        atexit.register(shutil.rmtree, home, True)
    os.environ["AIRFLOW__FILEPOOL__PROGRESS_INTERVAL_SECONDS"] = "60"


def make_small_files(folder: Path, count: int, size: int = 200 * 1024) -> None:
    """`count` random files of `size` bytes in nested folders (10 x 7)."""
    for i in range(count):
        sub = folder / f"d{i % 10}" / f"e{i % 7}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"file {i:05d}.bin").write_bytes(os.urandom(size))
    make_readable(folder)


def make_readable(root: Path) -> None:
    for folder, _, files in os.walk(root):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)


@dataclass(frozen=True)
class Timed:
    wall: float  # seconds
    cpu: float  # CPU seconds of the command's process tree
    rss_mb: int  # peak RSS
    out: str  # stdout
    machine_cpu: float  # CPU seconds of the whole machine over the run (all cores, every process and the kernel)
    server_cpu: dict[str, float]  # CPU seconds of each server over the run


_CPUACCT = Path("/sys/fs/cgroup/cpuacct")  # cgroup v1; on cgroup v2 machines see _CGROUP2
_CGROUP2 = Path("/sys/fs/cgroup")


class ServerCPU:
    """CPU seconds spent by a server and by every process it starts (sessions, backends, what they run).

    Through a cgroup of its own when the machine lets us make one (root, cpuacct of cgroup v1 or cgroup v2): exact,
    counting processes that end unreaped too. Otherwise from /proc: the server's own CPU and that of the children it
    has reaped - which misses what sshd's session processes spend when a client goes away without closing its
    connection (filepool's sshd CPU came out at a third of what sampling its processes showed).
    """

    def __init__(self, name: str, pid: int) -> None:
        self.pid = pid
        self.usage: Path | None = None
        for root, usage in ((_CPUACCT, "cpuacct.usage"), (_CGROUP2, "cpu.stat")):
            if not (root / "cgroup.procs").exists():  # not a cgroup hierarchy here
                continue
            group = root / f"filepool-bench-{name}-{pid}"
            try:
                group.mkdir(exist_ok=True)
                for member in [pid, *descendants(pid)]:
                    (group / "cgroup.procs").write_text(str(member))
            except OSError:
                continue
            atexit.register(_remove_group, group)
            self.usage = group / usage
            break

    def seconds(self) -> float:
        if self.usage is None:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime
        text = self.usage.read_text()
        if self.usage.name == "cpu.stat":  # cgroup v2: "usage_usec N" on the first line
            return int(text.split()[1]) / 1e6
        return int(text) / 1e9


def machine_cpu() -> float:
    """CPU seconds spent by all cores so far, idle and waiting for the disk left out."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def _remove_group(group: Path) -> None:
    """At exit, once the server has stopped: an empty cgroup is removed with rmdir (SeaweedFS can take a moment to
    be gone: one run left its group behind)."""
    for _ in range(50):
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)


_meters: dict[tuple[str, int], ServerCPU] = {}


def _meter(name: str, pid: int) -> ServerCPU:
    """One meter per server process, made at its first run (its processes then stay in the same cgroup)."""
    if (name, pid) not in _meters:
        _meters[(name, pid)] = ServerCPU(name, pid)
    return _meters[(name, pid)]


def timed(args: list[str], env: dict[str, str], servers: dict[str, int | None] | None = None) -> Timed:
    """Run a command: its wall time, its CPU and peak RSS, and the CPU the machine and each of `servers`
    ({name: pid}) spent meanwhile, to show where the time of a run goes.

    The disk is flushed first: a tool that never syncs (rclone, lftp) leaves hundreds of MB dirty, and the next
    tool's fsyncs would pay for writing them out. Output goes to files, not pipes, so a chatty command cannot
    block; wait4 gives the child's own rusage.
    """
    meters = {name: _meter(name, pid) for name, pid in (servers or {}).items() if pid}
    os.sync()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        servers_before = {name: meter.seconds() for name, meter in meters.items()}
        machine_before = machine_cpu()
        started = time.perf_counter()
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=err, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        machine = machine_cpu() - machine_before
        time.sleep(0.3)  # the servers finish with the sessions and backends the command ended
        spent = {name: round(meter.seconds() - servers_before[name], 2) for name, meter in meters.items()}
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {err.read().decode(errors='replace')[-2000:]}")
        return Timed(
            wall,
            usage.ru_utime + usage.ru_stime,
            usage.ru_maxrss // 1024,
            out.read().decode(errors="replace"),
            machine,
            spent,
        )


def run_metrics(run: Timed, inner: dict[str, Any] | None = None) -> dict[str, float]:
    """The figures of one run. `inner` is what a Python tool printed about its own work (`seconds`, and
    `cpu_seconds` when it knows them): those replace the process's, which include interpreter and Airflow start-up.
    `others_cpu_seconds` is what the rest of the machine spent meanwhile: the servers, the kernel's threads."""
    metrics = {
        "seconds": run.wall,
        "process_seconds": run.wall,
        "cpu_seconds": run.cpu,
        "peak_rss_mb": run.rss_mb,
        "machine_cpu_seconds": run.machine_cpu,
        "others_cpu_seconds": run.machine_cpu - run.cpu,
        **{f"{name}_cpu_seconds": spent for name, spent in run.server_cpu.items()},
    }
    if inner is not None:
        metrics["seconds"] = inner["seconds"]
        if "cpu_seconds" in inner:
            metrics["work_cpu_seconds"] = inner["cpu_seconds"]
    return metrics


def rotate(tools: list[str], rep: int) -> list[str]:
    """The tools in the order of repetition `rep`: each starts one repetition in turn, so no tool always runs
    first (a cold cache) or right after the same neighbour."""
    shift = rep % len(tools)
    return tools[shift:] + tools[:shift]


def summarize(samples: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(samples), 2),
        "min": round(min(samples), 2),
        "max": round(max(samples), 2),
    }
