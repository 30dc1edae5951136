"""python -m producer --file PATH --topic TOPIC --mode batch|realtime [--speed N] [--brokers B] [--config F]

Exit status: 0 every event delivered; 1 some event not delivered; 2 bad input or settings (a missing file, no
brokers); 3 no broker reachable. The closing summary is the last line on stdout (JSON) and in the log.
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import os
import sys
import time
from pathlib import Path

from producer import config
from producer.events import DEDUP_ALGORITHM
from producer.replay import Progress, Rejects, Tally, batch, realtime, write_line
from producer.sender import BrokersUnreachable, Sender

log = logging.getLogger("producer")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m producer", description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", required=True, help="JSON-lines events, e.g. /app/data/date=2026-01-01/events.json")
    parser.add_argument("--topic", help=f"Kafka topic (default: kafka.topic in the config, or {config.DEFAULT_TOPIC})")
    parser.add_argument("--mode", choices=("batch", "realtime"), default="batch")
    parser.add_argument("--speed", type=float, default=1.0, help="realtime: replay this many times faster")
    parser.add_argument(
        "--max-gap",
        type=float,
        default=60.0,
        help="realtime: never wait longer than this many seconds between two events",
    )
    parser.add_argument("--brokers", help="host:port,... (default: KAFKA_BROKERS, then the config)")
    parser.add_argument("--config", help=f"YAML config (default: {config.DEFAULT_CONFIG})")
    parser.add_argument("--log-file", default="logs/tripclick_producer.log", help="rotating log, 50 MB x 5")
    parser.add_argument("--reject-file", help="malformed lines go here (default: next to the log file)")
    parser.add_argument("--progress-seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    if args.speed <= 0:
        parser.error("--speed must be greater than 0")
    if args.max_gap <= 0:
        parser.error("--max-gap must be greater than 0")
    return args


def setup_logging(log_file: str) -> None:
    """Everything to a rotating file; only warnings and errors on the console."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING)
    console.setFormatter(logging.Formatter("producer: %(levelname)s %(message)s"))
    root.addHandler(console)
    try:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=50 * 1024 * 1024, backupCount=5, encoding="utf-8"
        )
    except OSError as exc:
        log.warning("Cannot write the log file %s (%s): logging to the console only", log_file, exc)
        return
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.log_file)
    path = Path(args.file)
    try:
        settings = config.load(args.config)
        brokers, topic = config.brokers(args.brokers, settings), config.topic(args.topic, settings)
        options = config.kafka_options(settings)
        if not path.is_file():
            raise config.ConfigError(f"input file not found: {path}")
    except config.ConfigError as exc:
        log.error("%s", exc)
        return 2
    sender = Sender(brokers, topic, options)
    try:
        sender.check()
    except BrokersUnreachable as exc:
        log.error("%s", exc)
        return 3
    reject_path = (
        Path(args.reject_file)
        if args.reject_file
        else Path(args.log_file).parent / (f"rejected-{path.parent.name}-{path.stem}.jsonl")
    )
    try:  # before anything is sent: a reject file that cannot be written is bad settings, not a traceback later
        reject_path.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(reject_path.parent, os.W_OK):
            raise PermissionError(f"no write access to {reject_path.parent} (as uid {os.getuid()})")
    except OSError as exc:
        log.error("Cannot write the reject file %s: %s", reject_path, exc)
        return 2
    rejects, tally = Rejects(reject_path), Tally()
    progress = Progress(sender, tally, args.progress_seconds)
    log.info("Sending %s to %s on %s in %s mode (dedup keys: %s)", path, topic, brokers, args.mode, DEDUP_ALGORITHM)
    try:
        if args.mode == "batch":
            batch(path, sender, tally, rejects, progress)
        else:
            realtime(path, sender, tally, rejects, progress, args.speed, args.max_gap)
    finally:
        rejects.close()
        undelivered = sender.close()
    progress.tick(force=True)
    seconds = time.monotonic() - tally.started
    summary = {
        "file": str(path),
        "topic": topic,
        "mode": args.mode,
        "lines": tally.lines,
        "sent": sender.produced,
        "delivered": sender.delivered,
        "undelivered": undelivered,
        "rejected": tally.rejected,
        "reject_file": str(reject_path.resolve()) if tally.rejected else None,
        "log_file": str(Path(args.log_file).resolve()),
        "gaps_cut": tally.gaps_cut,
        "seconds": round(seconds, 3),
        "events_per_second": round(sender.produced / max(seconds, 1e-9), 1),
        "errors": sender.errors,
    }
    log.info("Summary: %s", summary)
    if tally.rejected:
        log.warning("%d malformed lines skipped; see %s", tally.rejected, reject_path)
    if undelivered:
        log.error("%d of %d events were not delivered: %s", undelivered, sender.produced, sender.errors)
    write_line(sys.stdout, json.dumps(summary))
    return 1 if undelivered else 0
