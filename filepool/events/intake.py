"""Task messages from a Kafka topic into the ledger, then moved and answered.

At least once into the ledger: a batch's offsets are committed only after its messages are in the ledger (one
transaction: each task_id taken, its file version registered and linked) and its malformed ones are in the
dead-letter topic. Exactly once out of it: a message delivered again finds its task_id taken (a duplicate,
dropped) and its version registered (moved once by whichever worker claims it); results leave through the
outbox (filepool.transfer.publish).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from filepool.allow import Allowed
from filepool.bounded import fit
from filepool.endpoints.factory import open_pair
from filepool.events.kafka import KafkaSink, Record, TopicConsumer
from filepool.events.sinks import open_sink
from filepool.exceptions import FilepoolError, MalformedMessage, MessageParked, TaskIdConflict, as_error, error_code
from filepool.interfaces import Destination, Source
from filepool.ledger import Ledger
from filepool.ledger.inbox import IntakeMarks, TakenMessage, jobs_due, take_messages
from filepool.names import storable
from filepool.settings import Settings
from filepool.transfer.completion import KEEP, AfterTransfer
from filepool.transfer.login_slots import login_gate
from filepool.transfer.message_pairs import Pair, checked_pair, file_versions, job_of, pair_of, reject_row, rejected_job
from filepool.transfer.messages import TaskMessage, result
from filepool.transfer.publish import Publisher
from filepool.transfer.task import move_queued

log = logging.getLogger(__name__)

JOIN_SECONDS = 120  # how long joining the consumer group may take before quiet time counts anyway
COUNTED = ("consumed", "new", "duplicate", "conflict", "malformed", "refused", "parked")
DUE_CHECK_SECONDS = 30.0  # while the topic is quiet, how often to look for files whose retry has come due
PARK_AFTER = 3  # tries of one record on its own (over runs) before it is parked


@dataclass(frozen=True)
class IntakeConfig:
    kafka_conn_id: str
    topic: str
    group: str
    dead_letter_topic: str
    results_topic: str
    failures_topic: str
    batch: int = 500  # messages taken into the ledger per transaction
    idle_seconds: float = 30.0  # stop after this long without a message
    max_seconds: float | None = None  # stop after this long in any case (between batches)
    threads: int = 8
    park_after: int = PARK_AFTER  # tries of one message on its own (over runs) before it is parked


def identity(raw: dict[str, Any], version: Any = None) -> tuple[str, str]:
    """(task_id, digest): a message's own task_id and the SHA-256 of its canonical JSON; without a task_id, an
    id from its source version (or its paths, when it has none) and destination, which is also its digest."""
    if raw.get("task_id"):
        return str(raw["task_id"]), hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()
    parts = [raw.get("src_id"), raw.get("src_path"), raw.get("dst_id"), raw.get("dst_path"), version]
    digest = hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()
    return f"version-{digest[:32]}", digest


class Intake:
    """Consumes task messages until the topic has been quiet for `idle_seconds` (or `max_seconds` passed)."""

    def __init__(
        self,
        config: IntakeConfig,
        connect: Callable[[], Ledger],
        settings: Settings,
        allowed: Allowed,
        after_transfer: AfterTransfer = KEEP,
    ) -> None:
        self.config, self._connect, self.settings, self.allowed = config, connect, settings, allowed
        self.after = after_transfer
        self.counts: Counter[str] = Counter()
        self.reasons: Counter[str] = Counter()
        self._pairs: dict[Pair, tuple[Source, Destination]] = {}
        self._sessions = threading.BoundedSemaphore(settings.max_sessions_total)
        self.reply = {
            "conn_id": config.kafka_conn_id,
            "results": config.results_topic,
            "failures": config.failures_topic,
        }

    def run(self) -> dict[str, Any]:
        cfg = self.config
        started = time.monotonic()
        with ExitStack() as stack:
            ledger = self._connect()
            stack.callback(ledger.close)
            consumer = TopicConsumer(cfg.kafka_conn_id, cfg.topic, cfg.group)
            stack.callback(consumer.close)
            dead_letters = KafkaSink(cfg.kafka_conn_id)
            stack.callback(dead_letters.close)
            publisher = Publisher(self._connect, open_sink)
            stack.callback(publisher.close)
            stack.callback(self._close_pairs)
            self._move_due(ledger)  # what an earlier run took and did not finish, or whose retry is due
            quiet_since = checked = time.monotonic()
            while True:
                records = consumer.poll(cfg.batch, 1.0)
                if records:
                    for pair in self._intake(ledger, consumer, records, dead_letters):
                        self._move(pair)
                    quiet_since = time.monotonic()
                elif time.monotonic() - checked >= DUE_CHECK_SECONDS:
                    self._move_due(ledger)
                    checked = time.monotonic()
                publisher.publish()
                now = time.monotonic()
                if not consumer.assigned and now - started < JOIN_SECONDS:
                    quiet_since = now  # not in the group yet: the topic is not quiet, we do not hear it
                if now - quiet_since >= cfg.idle_seconds or (cfg.max_seconds and now - started >= cfg.max_seconds):
                    break
            left = publisher.drain(timeout=60)
            summary = {
                "topic": cfg.topic,
                **{k: self.counts[k] for k in COUNTED},
                "moved": self.counts["moved"],
                "failed": self.counts["failed"],
                "results_sent": publisher.sent["kafka"],
                "outbox_left": left,
                "dead_letter_reasons": dict(self.reasons),
                "seconds": round(time.monotonic() - started, 1),
            }
        log.info(
            "Intake from %s: %d messages - %d new, %d duplicates, %d task_id conflicts, %d malformed (dead-letter "
            "topic %s), %d refused; %d files moved, %d failed; %d results sent%s",
            cfg.topic,
            summary["consumed"],
            summary["new"],
            summary["duplicate"],
            summary["conflict"],
            summary["malformed"],
            cfg.dead_letter_topic,
            summary["refused"],
            summary["moved"],
            summary["failed"],
            summary["results_sent"],
            f", still in the outbox: {left}" if left else "",
        )
        return summary

    # -- one batch into the ledger ----------------------------------------------------------------------------

    def _intake(
        self, ledger: Ledger, consumer: TopicConsumer, records: list[Record], dead_letters: KafkaSink
    ) -> set[Pair]:
        """Take a batch into the ledger and commit its offsets; returns the pairs with files to move.

        Whatever one record raises is that record's refusal (`_take`); should a batch raise all the same, it is
        taken again a record at a time. The ledger counts each try (`IntakeMarks`), so a record that fails alone
        `park_after` times, over runs too (one that kills its process), is parked and the partition goes on."""
        self.counts["consumed"] += len(records)
        marks = IntakeMarks(ledger, self.config.group, self.config.topic)
        suspects, clean = marks.split(records)  # records a run took and never finished: one at a time
        touched: set[Pair] = set()
        for record in suspects:
            touched |= self._take_alone(ledger, consumer, marks, record, dead_letters)
        if not clean:
            return touched
        marks.mark(clean)
        try:
            touched |= self._take(ledger, clean, dead_letters)
        except Exception as exc:
            log.warning("A batch of %d task messages failed (%s); taking them one at a time", len(clean), exc)
            for record in clean:
                touched |= self._take_alone(ledger, consumer, marks, record, dead_letters)
            return touched
        consumer.commit(clean)  # the ledger and the dead-letter topic have every one of them
        marks.clear(clean)
        return touched

    def _take_alone(
        self, ledger: Ledger, consumer: TopicConsumer, marks: IntakeMarks, record: Record, dead_letters: KafkaSink
    ) -> set[Pair]:
        touched: set[Pair] = set()
        while True:
            attempts, last_error = marks.mark([record])
            if attempts > self.config.park_after:
                self._park(ledger, record, attempts - 1, last_error, dead_letters)
                break
            try:
                touched = self._take(ledger, [record], dead_letters)
                break
            except Exception as exc:
                where = (record.topic, record.partition, record.offset)
                log.warning("Task message at %s partition %d offset %d failed: %s", *where, exc)
                marks.failed(record, as_error(exc))
        consumer.commit([record])
        marks.clear([record])
        return touched

    def _park(
        self, ledger: Ledger, record: Record, attempts: int, last_error: str | None, dead_letters: KafkaSink
    ) -> None:
        """Set a record that failed `attempts` times aside: a FAILED row on the File transfers page, an alert line,
        and (if the broker takes it) its dead letter."""
        where = f"{record.topic} partition {record.partition} offset {record.offset}"
        why = MessageParked(f"the task message at {where} failed {attempts} times on its own: {last_error}")
        log.error("ALERT [%s] %s; the partition goes on behind it", why.code, why.message)
        self.counts["parked"] += 1
        value = (record.value or b"")[:1000].decode("utf-8", "replace")
        ledger.reject(
            [
                {
                    "job": f"rejected://{storable(record.topic)} (Kafka)",
                    "source_path": f"partition {record.partition} offset {record.offset}",
                    "destination": "",
                    "error_code": why.code,
                    "error_message": storable(f"{why.message}; the message began: {value}"),
                    "metadata": {
                        "topic": storable(record.topic),
                        "partition": record.partition,
                        "offset": record.offset,
                    },
                }
            ]
        )
        try:
            dead_letters.send([self._dead_letter(record, why, dead_letters.max_value_bytes)])
        except Exception as exc:  # its row is in the ledger: that is where an operator finds it
            log.warning("The parked message's dead letter was not sent: %s", exc)

    def _take(self, ledger: Ledger, records: list[Record], dead_letters: KafkaSink) -> set[Pair]:
        """Put a batch in the ledger and its unusable messages in the dead-letter topic; returns the pairs with
        new files."""
        dead: list[tuple[Record, FilepoolError]] = []
        by_pair: dict[Pair, list[tuple[int, TaskMessage]]] = {}
        taken: dict[int, TakenMessage] = {}
        raws: dict[int, dict[str, Any]] = {}
        for index, record in enumerate(records):
            try:
                raw = _decode(record)
                message = TaskMessage.parse(raw)
            except Exception as exc:  # whatever a record makes the parser raise, it is refused alone
                dead.append((record, _malformed(exc)))
                continue
            raws[index] = raw
            try:
                pair = checked_pair(message, self.allowed)
            except Exception as exc:
                taken[index] = self._refusal(raw, message, as_error(exc))
                continue
            by_pair.setdefault(pair, []).append((index, message))
        for pair, members in by_pair.items():
            taken.update(self._found(ledger, pair, members, raws))
        verdicts = self._claim(ledger, records, taken, dead)
        # a duplicate's file may wait still (its first message's run was killed): its pair moves too
        moving = ("new", "duplicate")
        touched = {pair for pair, members in by_pair.items() if any(verdicts.get(i) in moving for i, _ in members)}
        refused = [
            _reject_row(taken[i])
            for i, v in verdicts.items()
            if v in ("new", "transient") and taken[i].refusal is not None
        ]
        self.counts["refused"] += len(refused)
        ledger.reject(refused)
        if dead:
            dead_letters.send([self._dead_letter(record, exc, dead_letters.max_value_bytes) for record, exc in dead])
        return touched

    def _claim(
        self, ledger: Ledger, records: list[Record], taken: dict[int, TakenMessage], dead: list[Any]
    ) -> dict[int, str]:
        """Take the batch's messages by task_id: repeats within the batch are settled here, the rest by the
        ledger. {index: verdict}."""
        first: dict[str, int] = {}
        verdicts: dict[int, str] = {}
        for index, m in sorted(taken.items()):
            if m.task_id in first:
                verdicts[index] = "duplicate" if taken[first[m.task_id]].digest == m.digest else "conflict"
            else:
                first[m.task_id] = index
        by_id = take_messages(ledger, [taken[i] for i in first.values()], self.reply)
        verdicts.update({i: by_id[task_id] for task_id, i in first.items()})
        for index, verdict in verdicts.items():
            self.counts["new" if verdict == "transient" else verdict] += 1
            if verdict == "conflict":
                why = TaskIdConflict(f"task_id {taken[index].task_id!r} was taken already with other content")
                dead.append((records[index], why))
        return verdicts

    def _found(
        self, ledger: Ledger, pair: Pair, members: list[tuple[int, TaskMessage]], raws: dict[int, dict[str, Any]]
    ) -> dict[int, TakenMessage]:
        """The messages of one pair as the ledger takes them: their file versions, or why there is none."""
        messages = dict(members)
        try:
            source, destination = self._endpoints(pair)
            versions = file_versions(source, destination, members, ledger, job_of(pair))
            found, refused = versions.found, versions.refused
        except Exception as exc:
            found, refused = {}, {index: as_error(exc) for index, _ in members}
        out = {index: self._refusal(raws[index], messages[index], exc) for index, exc in refused.items()}
        for index, version in found.items():
            task_id, digest = identity(raws[index], [version.size, version.mtime])
            out[index] = TakenMessage(task_id, digest, _fields(raws[index]), job_of(pair), version)
        return out

    def _refusal(self, raw: dict[str, Any], message: TaskMessage, exc: FilepoolError) -> TakenMessage:
        """A message refused before any transfer, answered at once. A refusal that may pass (a server down, a
        login refused) leaves the task_id free: the same message sent again later moves the file."""
        task_id, digest = identity(raw)
        record = result(raw, task_id, "failure", error_code=error_code(exc), error_message=exc.message)
        return TakenMessage(task_id, digest, _fields(raw), rejected_job(raw), None, record, transient=exc.retryable)

    def _dead_letter(
        self, record: Record, exc: FilepoolError, limit: int
    ) -> tuple[str, str | None, Any, dict[str, str]]:
        self.counts["malformed" if isinstance(exc, MalformedMessage) else "dead_lettered"] += 1
        self.reasons[exc.code] += 1
        value = fit(
            {
                "error_code": exc.code,
                "reason": exc.message,
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "value": (record.value or b"").decode("utf-8", "replace"),
            },
            limit,
        )
        key = record.key.decode("utf-8", "replace") if record.key is not None else None
        return (self.config.dead_letter_topic, key, value, {"filepool-error-code": exc.code})

    # -- moving -----------------------------------------------------------------------------------------------

    def _endpoints(self, pair: Pair) -> tuple[Source, Destination]:
        """A pair's source and destination, opened once for the whole task: their sessions stay pooled."""
        if pair not in self._pairs:
            per_connection = min(self.config.threads, self.settings.max_sessions_per_connection)
            gate_for = login_gate(self._connect, self.settings.lease_seconds)
            self._pairs[pair] = open_pair(pair, per_connection, self._sessions, gate_for)
        return self._pairs[pair]

    def _move_due(self, ledger: Ledger) -> None:
        """Move the files of this intake's pairs that wait: taken by a run killed before it moved them, or failed
        with a retry now due. A message is never left acknowledged and unmoved."""
        for job in jobs_due(ledger, self.reply):
            pair = pair_of(job)
            if pair is None:
                continue
            log.info("Moving what waits on %s (taken earlier, or a retry due)", job)
            try:
                self._move(pair)
            except FilepoolError as exc:  # its connection gone or refused: the others move, it waits
                log.warning("[%s] %s: %s", exc.code, job, exc.message)

    def _move(self, pair: Pair) -> None:
        source, destination = self._endpoints(pair)
        summary = move_queued(
            self._connect,
            job_of(pair),
            source,
            destination,
            self.config.threads,
            self.settings,
            after_transfer=self.after,
        )
        self.counts["moved"] += int(summary.get("files_transferred", 0))
        self.counts["failed"] += int(summary.get("files_failed", 0))

    def _close_pairs(self) -> None:
        for source, destination in self._pairs.values():
            source.close()
            destination.close()
        self._pairs.clear()


def _decode(record: Record) -> dict[str, Any]:
    if not record.value:
        raise MalformedMessage("the record has no value")
    try:
        raw = json.loads(record.value)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedMessage(f"not JSON: {exc}") from None
    except RecursionError:
        raise MalformedMessage("JSON nested too deeply to read") from None
    if not isinstance(raw, dict):
        raise MalformedMessage(f"a task message must be a JSON object, got {type(raw).__name__}")
    return raw


def _malformed(exc: BaseException) -> MalformedMessage:
    return MalformedMessage(exc.message if isinstance(exc, FilepoolError) else f"{type(exc).__name__}: {exc}")


def _fields(raw: dict[str, Any]) -> dict[str, Any]:
    """What a result record repeats of its message (a path that is not UTF-8 escaped, as the ledger keeps it)."""
    fields = {k: raw.get(k) for k in ("src_id", "src_path", "dst_id", "dst_path", "metadata")}
    return {k: storable(v) if isinstance(v, str) else v for k, v in fields.items()}


def _reject_row(m: TakenMessage) -> dict[str, Any]:
    """A refused message's FAILED row, for the File transfers page (its result left through the outbox)."""
    refusal = m.refusal or {}
    return reject_row(
        m.job or "rejected://", m.message, m.task_id, refusal.get("error_code"), str(refusal.get("error_message") or "")
    )
