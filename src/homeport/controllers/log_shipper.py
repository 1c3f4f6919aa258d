"""Ships the instances' and jobs' output into CloudWatch Logs every second, and applies retention every minute."""

from __future__ import annotations

import asyncio

from homeport.controllers.loop import Loop
from homeport.services.context import Context
from homeport.services.log_tailer import LogTailer
from homeport.store import log_events

SHIP_EVERY_S = 1.0
EXPIRE_EVERY_S = 60.0


class LogShipper:
    def __init__(self, ctx: Context, tailer: LogTailer) -> None:
        self.ctx = ctx
        self.tailer = tailer
        self.loop = Loop("log shipper")
        self._expired_at = float("-inf")

    def run_once(self) -> None:
        self.tailer.ingest()
        now = self.ctx.clock.now()
        if now - self._expired_at >= EXPIRE_EVERY_S:
            self.expire(now)

    def expire(self, now: float) -> int:
        self._expired_at = now
        settings = self.ctx.settings
        with self.ctx.store.transaction(relaxed=True) as conn:
            return log_events.expire(
                conn, int(now * 1000), settings.log_retention_days, settings.log_stream_max_mb * 1024 * 1024
            )

    async def run_forever(self) -> None:
        await self.loop.run(lambda: asyncio.to_thread(self.run_once), lambda: SHIP_EVERY_S)
