"""Phases of a task's log, folded in the Airflow UI: its log view starts a group at a line holding `::group::NAME`
and ends it at `::endgroup::`. The summary stays outside any group, so a folded log still shows it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)


@contextmanager
def log_group(name: str) -> Iterator[None]:
    log.info("::group::%s", name)
    try:
        yield
    finally:
        log.info("::endgroup::")
