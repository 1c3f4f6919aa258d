"""The metric collector: at each period boundary, the period's counted metrics and gauge readings become stored
points (SageMaker's endpoint metrics, the instances' CPU and memory, the async backlog)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

import psutil

from homeport.core.datapoints import Metric, Point
from homeport.dataplane.instances import Instance, InstanceState
from homeport.dataplane.meters import COUNT, INSTANCES, NONE, PERCENT, SAGEMAKER, SECONDS, Meters
from homeport.dataplane.router import Router
from homeport.services.async_invocations import backlog_metrics
from homeport.services.context import Context
from homeport.store import alarms, async_queue, metric_points

PRUNE_EVERY_S = 60.0
BACKLOG_UNITS = {
    "ApproximateBacklogSize": COUNT,
    "ApproximateBacklogSizePerInstance": COUNT,
    "ApproximateAgeOfOldestRequest": SECONDS,
    "HasBacklogWithoutCapacity": COUNT,
}


def period_start(now: float, period: int) -> float:
    """The start of the period `now` falls in."""
    return now - now % period


class MetricCollector:
    def __init__(self, ctx: Context, meters: Meters, router: Router, instances: Callable[[], Iterable[Instance]]):
        self.ctx = ctx
        self.meters = meters
        self.router = router
        self.instances = instances
        self.readings: dict[str, tuple[float, float]] = {}  # instance → (CPU, memory) at its last reading
        self._processes: dict[str, psutil.Process] = {}
        self._pruned = 0.0
        self._stored = 0.0  # the last period stored: an early tick must not store one twice

    @property
    def period(self) -> int:
        return self.ctx.settings.metric_period_seconds

    async def run_once(self, now: float, leading: bool = True) -> None:
        """Store the period that ended at the boundary before `now`: this front door's own metrics, and when it
        leads, the queue-wide ones (async backlogs: one reading per period, not one per door)."""
        start = period_start(now, self.period) - self.period
        if start <= self._stored:
            return
        self._stored = start
        self._sample_instances()
        routes = self.router.routes.values()
        for route in routes:
            for variant in route.variants:
                if variant.loader is not None:  # a multi-model variant: one reading per instance
                    dims = (("EndpointName", route.endpoint), ("VariantName", variant.name))
                    metric = Metric(INSTANCES, "LoadedModelCount", dims)
                    for inst in [*variant.instances, *variant.green]:
                        self.meters.sample(metric, float(len(inst.models.loaded)), NONE)
        serving = [(r.endpoint, v.name) for r in routes if r.asynchronous is None for v in [*r.variants, *r.shadows]]
        asynchronous = {
            r.endpoint: sum(len(v.instances) for v in r.variants) for r in routes if r.asynchronous and leading
        }
        points = self.meters.flush(start, self.period, serving)
        await asyncio.to_thread(self._write, points, asynchronous, start, now)

    def _sample_instances(self) -> None:
        """CPUUtilization (percent of one core, so up to 100 x cores, as SageMaker's) and MemoryUtilization of
        each healthy instance: one reading per instance per period, so the Average is over instances."""
        seen = set()
        for inst in self.instances():
            pid = getattr(inst.handle, "pid", None)
            if inst.state != InstanceState.HEALTHY or pid is None:
                continue
            seen.add(inst.id)
            process = self._processes.get(inst.id)
            try:
                if process is None:  # the first reading of cpu_percent has no interval: it starts one
                    process = self._processes[inst.id] = psutil.Process(pid)
                    process.cpu_percent(None)
                    continue
                cpu, memory = process.cpu_percent(None), process.memory_percent()
            except psutil.Error:
                continue
            self.readings[inst.id] = (cpu, memory)
            dims = (("EndpointName", inst.endpoint), ("VariantName", inst.variant))
            self.meters.sample(Metric(INSTANCES, "CPUUtilization", dims), cpu, PERCENT)
            self.meters.sample(Metric(INSTANCES, "MemoryUtilization", dims), memory, PERCENT)
        for gone in set(self._processes) - seen:
            del self._processes[gone]
            self.readings.pop(gone, None)

    def _write(self, points: list[Point], asynchronous: dict[str, int], start: float, now: float) -> None:
        store = self.ctx.store
        with store.transaction() as conn:
            for endpoint, instances in asynchronous.items():
                backlog = backlog_metrics(async_queue.stats(conn, endpoint), instances, now)
                dims = (("EndpointName", endpoint),)
                for name, unit in BACKLOG_UNITS.items():
                    value = float(backlog[name])
                    points.append(
                        Point(Metric(SAGEMAKER, name, dims), start, self.period, 1, value, value, value, unit)
                    )
            metric_points.add(conn, points)
            if now - self._pruned >= PRUNE_EVERY_S:
                self._pruned = now
                metric_points.prune(conn, now - self.ctx.settings.metric_retention_seconds)
                alarms.prune_history(conn, now - self.ctx.settings.metric_retention_seconds)
