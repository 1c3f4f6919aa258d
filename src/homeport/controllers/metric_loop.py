"""What happens at each metric period boundary, in order: the period's metrics are stored, then alarms are
evaluated on them, then the autoscaler acts on the alarms. Every front door stores its own metrics (they add up
when read); only the one that runs the controllers evaluates alarms and scales."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from homeport.controllers.alarms import AlarmEvaluator
from homeport.controllers.loop import Loop
from homeport.controllers.metric_collector import MetricCollector
from homeport.services.context import Context

LAG_S = 0.02  # run just after the boundary, so the period that ended is complete

Step = Callable[[float], Awaitable[None]]


class MetricLoop:
    def __init__(
        self,
        ctx: Context,
        collector: MetricCollector,
        alarms: AlarmEvaluator,
        after: list[Step],
        leading: Callable[[], bool] = lambda: True,
    ) -> None:
        self.ctx = ctx
        self.collector = collector
        self.alarms = alarms
        self.after = after  # what acts on alarm states (the autoscaler)
        self.leading = leading
        self.loop = Loop("metric loop")

    def wake(self) -> None:
        self.loop.wake()

    async def run_once(self, now: float | None = None) -> None:
        now = self.ctx.clock.now() if now is None else now
        leading = self.leading()
        await self.collector.run_once(now, leading)
        if not leading:
            return
        if await asyncio.to_thread(self.alarms.run_once, now):
            self.ctx.wake()  # an alarm that changed state may roll a deployment back: the endpoint controller looks now
        for step in self.after:
            await step(now)

    async def run_forever(self) -> None:
        await self.loop.run(self.run_once, self._until_boundary)

    def _until_boundary(self) -> float:
        period = self.ctx.settings.metric_period_seconds
        now = self.ctx.clock.now()
        return period - now % period + LAG_S
