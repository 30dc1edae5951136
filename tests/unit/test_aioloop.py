"""The I/O loop's timeout cancels what it gave up on: a listing that hangs does not keep running behind."""

from __future__ import annotations

import asyncio
import threading

import pytest

from filepool.endpoints import aioloop


def test_a_timeout_cancels_the_coroutine() -> None:
    cancelled = threading.Event()

    async def hangs() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(TimeoutError):
        aioloop.run(hangs(), timeout=0.1)
    assert cancelled.wait(5)
