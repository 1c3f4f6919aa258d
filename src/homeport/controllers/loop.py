"""The loop every controller runs: one tick, then wait for a wake-up or the tick interval, forever."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable

from homeport.core.waiting import event_within

log = logging.getLogger(__name__)


class Loop:
    def __init__(self, what: str) -> None:
        self.what = what
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self, tick: Callable[[], Awaitable[None] | None], delay: Callable[[], float]) -> None:
        while True:
            try:
                done = tick()
                if inspect.isawaitable(done):
                    await done
            except Exception:  # a controller must outlive any one bad tick
                log.exception("%s tick failed", self.what)
            await event_within(self._wake, delay())
            self._wake.clear()
