"""What the benchmarks share: data sets, timing a command with its CPU and peak RSS, medians and spread."""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


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


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float, int, str]:
    """(wall seconds, CPU seconds of the process tree, peak RSS in MB, stdout) of one command.

    The disk is flushed first: a tool that never syncs (rclone, lftp) leaves hundreds of MB dirty, and the next
    tool's fsyncs would pay for writing them out. Output goes to files, not pipes, so a chatty command cannot
    block; wait4 gives the child's own rusage.
    """
    os.sync()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=err, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {err.read().decode(errors='replace')[-2000:]}")
        return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024, out.read().decode(errors="replace")


def rotate(tools: list[str], rep: int) -> list[str]:
    """The tools in the order of repetition `rep`: each starts one repetition in turn, so no tool always runs
    first (a cold cache) or right after the same neighbour."""
    shift = rep % len(tools)
    return tools[shift:] + tools[:shift]


def summarize(samples: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(samples), 2), "min": round(min(samples), 2),
            "max": round(max(samples), 2)}
