"""The PostgreSQL claim ledger: SQL in sql/, the records in records.py, one repository class in repository.py."""

from __future__ import annotations

from filepool.ledger.records import (
    Claim,
    ClaimedFile,
    Completion,
    DiscoveredFile,
    Failure,
    SourceAction,
    TaskRef,
    Version,
    WorkerIdentity,
)
from filepool.ledger.repository import Ledger

__all__ = [
    "Claim",
    "ClaimedFile",
    "Completion",
    "DiscoveredFile",
    "Failure",
    "Ledger",
    "SourceAction",
    "TaskRef",
    "Version",
    "WorkerIdentity",
]
