"""The steps every task message takes, whichever way it came (a trigger form's batch, a Kafka topic): checked
against the allow-lists and paired (src_id, src kind, dst_id, dst kind), its file version found at the source,
and, once moved, its result record read from the ledger; a refused message's FAILED row for the File transfers
page. filepool.operators.task_messages and filepool.events.intake are the two inputs; each only adds how its
messages arrive and how results leave."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from filepool.allow import Allowed
from filepool.exceptions import FileNotFound, FilepoolError, as_error
from filepool.interfaces import Destination, RemoteFile, Source
from filepool.ledger import DiscoveredFile, Ledger
from filepool.names import storable
from filepool.transfer.messages import TaskMessage, kinds, result

Pair = tuple[str, str, str, str]  # (src_id, src kind, dst_id, dst kind)
Members = Sequence[tuple[int, TaskMessage]]  # a batch's messages of one pair, by their index in the batch


def checked_pair(message: TaskMessage, allowed: Allowed) -> Pair:
    """The message's pair, once its connections and its remote path are within the allow-lists (INVALID_CONFIG
    otherwise, as for a both-local or both-remote pair)."""
    allowed.connection(message.src_id, "src_id")
    allowed.connection(message.dst_id, "dst_id")
    src_kind, dst_kind = kinds(message)
    if src_kind == "ftp":
        allowed.path(message.src_path, "src_path")
    else:
        allowed.path(message.dst_path, "dst_path")
    return (message.src_id, src_kind, message.dst_id, dst_kind)


def job_of(pair: Pair) -> str:
    """The pair's ledger queue, e.g. "ftp://filepool_ftp -> local://filepool_local". A route's job says fs:// for
    the same local side, but job names are the ledger's identity of a queue and never change: the versions a
    pruned row leaves in filepool_moved are keyed by this text, so a renamed job would move those files again."""
    src_id, src_kind, dst_id, dst_kind = pair
    return f"{src_kind}://{src_id} -> {dst_kind}://{dst_id}"


def pair_of(job: str) -> Pair | None:
    """The pair of a job named by `job_of` (None for another job)."""
    source, arrow, destination = job.partition(" -> ")
    src_kind, sep, src_id = source.partition("://")
    dst_kind, sep2, dst_id = destination.partition("://")
    if not (arrow and sep and sep2):
        return None
    return (src_id, src_kind, dst_id, dst_kind)


def rejected_job(fields: Any) -> str:
    """The ledger job of a message refused before it had a pair."""
    fields = fields if isinstance(fields, dict) else {}
    return f"rejected://{fields.get('src_id')} -> {fields.get('dst_id')}"


def reject_row(job: str, fields: Any, task_id: str, code: str | None, message: str) -> dict[str, Any]:
    """A refused message's FAILED row (`Ledger.reject`); what the ledger cannot store (a NUL) escaped."""
    fields = fields if isinstance(fields, dict) else {}
    return {
        "job": storable(job),
        "source_path": storable(str(fields.get("src_path") or "")),
        "destination": storable(str(fields.get("dst_path") or "")),
        "error_code": code,
        "error_message": storable(message),
        "metadata": {"task_id": storable(task_id)},
    }


@dataclass(frozen=True)
class Versions:
    """A pair's messages sorted: {index: its file version} and {index: why it has none}."""

    found: dict[int, DiscoveredFile]
    refused: dict[int, FilepoolError]


def file_versions(source: Source, destination: Destination, members: Members, ledger: Ledger, job: str) -> Versions:
    """The file versions of the messages whose paths are allowed and whose source exists, from one listing
    session, and why not for the others; a version listed with a coarse time (FTP LIST) is the one the ledger
    has where their times agree (`Ledger.canonical`). The destination is part of the version: the same source
    sent to two places is two transfers, and each message reports on its own destination only."""
    refused: dict[int, FilepoolError] = {}
    wanted: list[tuple[int, TaskMessage, str]] = []
    for index, message in members:
        try:
            path = source.confine(message.src_path)
            destination.confine(message.dst_path)  # refuse escapes before any byte moves
            wanted.append((index, message, path))
        except FilepoolError as exc:
            refused[index] = exc
    try:
        with source.session() as session:
            found = session.stat_files([path for _, _, path in wanted])
    except FilepoolError as exc:
        if exc.endpoint_wide:  # the source refuses us (login, host, network): all of its messages fail
            refused.update({index: exc for index, _message, _path in wanted})
            return Versions({}, refused)
        found = _one_by_one(source, wanted, refused)
    except Exception:  # one path the source cannot look at (a name too long): each path on its own
        found = _one_by_one(source, wanted, refused)
    listed: dict[int, DiscoveredFile] = {}
    for index, message, path in wanted:
        if path in found:
            f = found[path]
            listed[index] = DiscoveredFile(
                path, f.size, f.mtime, message.dst_path, None, f.mtime_precision, f.mtime_offset
            )
        elif index not in refused:
            refused[index] = FileNotFound(f"{message.src_path} not found on {message.src_id}")
    canonical = ledger.canonical(job, list(listed.values()))
    return Versions(dict(zip(listed, canonical, strict=True)), refused)


def _one_by_one(
    source: Source, wanted: list[tuple[int, TaskMessage, str]], refused: dict[int, FilepoolError]
) -> dict[str, RemoteFile]:
    """Each path looked up alone, so that what one path raises refuses its message only."""
    found: dict[str, RemoteFile] = {}
    with source.session() as session:
        for index, _message, path in wanted:
            try:
                found.update(session.stat_files([path]))
            except Exception as exc:
                refused[index] = as_error(exc)
    return found


def results(
    ledger: Ledger, job: str, versions: dict[int, tuple[TaskMessage, DiscoveredFile]], raws: Sequence[Any]
) -> dict[int, dict[str, Any]]:
    """A result record per moved message ({index: record}), from its file version's row in the ledger."""
    keys = {index: (v.source_path, v.size, v.mtime, v.destination) for index, (_, v) in versions.items()}
    rows = ledger.lookup(job, list(keys.values()))
    records = {}
    for index, (message, _version) in versions.items():
        row = rows.get(keys[index]) or {}
        records[index] = result(
            raws[index],
            message.task_id,
            "success" if row.get("status") == "COMPLETED" else "failure",
            bytes_transferred=int(row.get("bytes_transferred") or 0),
            duration_ms=int((row.get("total_seconds") or 0) * 1000),
            timestamp=row.get("updated_at"),
            error_code=row.get("error_code") or (None if row else "UNKNOWN_ERROR"),
            error_message=row.get("error_message"),
        )
    return records
