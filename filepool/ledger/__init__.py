"""The PostgreSQL claim ledger: SQL in sql/, one repository class in repository.py."""

from __future__ import annotations

from filepool.ledger.repository import ClaimedFile, Completion, Failure, Ledger

__all__ = ["ClaimedFile", "Completion", "Failure", "Ledger"]
