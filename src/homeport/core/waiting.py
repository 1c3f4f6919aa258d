"""Waiting with a time limit that never swallows a cancel.

Python 3.11's `asyncio.wait_for` returns the awaited result when the task is cancelled in the same tick the
awaited thing finishes (fixed in 3.12): the cancel is lost, and a loop that awaits in a `while True` runs on
after its owner cancelled it, so a shutdown that gathers it waits forever. `asyncio.wait` has no such race: a
cancel always raises here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def within(awaitable: Awaitable[T], timeout: float | None) -> T:
    """`await awaitable`, or TimeoutError after `timeout` seconds (it is cancelled then, as by `asyncio.wait_for`)."""
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait((task,), timeout=timeout)
    except asyncio.CancelledError:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: its result or error goes nowhere, as the caller was cancelled
        task.cancel()
        raise
    if not done:
        task.cancel()
        await asyncio.wait((task,))  # its own cleanup runs before the caller goes on, as wait_for's does
        raise TimeoutError
    return task.result()


async def event_within(event: asyncio.Event, timeout: float) -> bool:
    """Wait for `event` to be set, for at most `timeout` seconds; whether it was."""
    if event.is_set():
        return True
    try:
        await within(event.wait(), timeout)
    except TimeoutError:
        return False
    return True
