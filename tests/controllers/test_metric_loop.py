"""The metric loop wakes the other controllers when an alarm changes state (a deployment may have to roll back);
every front door stores its own metrics, the leader alone the queue-wide ones."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from homeport.controllers.metric_loop import MetricLoop
from homeport.core.clock import ManualClock
from homeport.services.context import Context
from homeport.settings import Settings
from homeport.store import Store


class Collector:
    async def run_once(self, now: float, leading: bool = True) -> None:
        pass


class Alarms:
    def __init__(self, changed: list[str]) -> None:
        self.changed = changed

    def run_once(self, now: float) -> list[str]:
        return self.changed


@pytest.mark.parametrize(("changed", "wakes"), [(["errors"], 1), ([], 0)])
def test_a_changed_alarm_wakes_the_controllers(tmp_path: Path, changed: list[str], wakes: int) -> None:
    woken: list[bool] = []
    ctx = Context(Settings(data_dir=tmp_path), Store(f"sqlite:///{tmp_path / 'db.sqlite'}"), ManualClock())
    ctx.wake = lambda: woken.append(True)
    loop = MetricLoop(ctx, Collector(), Alarms(changed), [])  # type: ignore[arg-type]
    asyncio.run(loop.run_once(10.0))
    assert len(woken) == wakes


def test_a_follower_front_door_stores_its_metrics_and_leaves_alarms_and_scaling_to_the_leader(tmp_path: Path) -> None:
    seen: list[str] = []

    class Recording(Collector):
        async def run_once(self, now: float, leading: bool = True) -> None:
            seen.append("collect" if leading else "collect its own")

    class Evaluator(Alarms):
        def run_once(self, now: float) -> list[str]:
            seen.append("alarms")
            return []

    async def scale(now: float) -> None:
        seen.append("scale")

    leading = [False]
    ctx = Context(Settings(data_dir=tmp_path), Store(f"sqlite:///{tmp_path / 'db.sqlite'}"), ManualClock())
    loop = MetricLoop(ctx, Recording(), Evaluator([]), [scale], leading=lambda: leading[0])  # type: ignore[arg-type]
    asyncio.run(loop.run_once(10.0))
    assert seen == ["collect its own"]  # not the async backlogs: those are the leader's to store
    leading[0] = True  # took the lease over
    asyncio.run(loop.run_once(20.0))
    assert seen == ["collect its own", "collect", "alarms", "scale"]


def test_only_the_leading_front_door_stores_the_async_backlog(tmp_path: Path) -> None:
    """The backlog is the queue's, in the database: one reading per period (the leader's), not one per front door,
    or its Sum and SampleCount would grow with the number of doors."""
    from homeport.controllers.metric_collector import MetricCollector
    from homeport.core.datapoints import Metric
    from homeport.dataplane.meters import SAGEMAKER, Meters
    from homeport.dataplane.router import Route, Router, VariantRoute
    from homeport.store import metric_points

    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    ctx = Context(Settings(data_dir=tmp_path, metric_period_seconds=1), store, ManualClock())
    router = Router()
    router.publish({"ep": Route("ep", [VariantRoute("v", 1.0, [])], {"OutputConfig": {"S3OutputPath": "s3://b/"}})})
    collector = MetricCollector(ctx, Meters(), router, lambda: [])
    backlog = Metric(SAGEMAKER, "ApproximateBacklogSize", (("EndpointName", "ep"),))

    def stored() -> int:
        with store.reading() as conn:
            return len(metric_points.series(conn, backlog, 0.0, 100.0, None))

    asyncio.run(collector.run_once(10.5, leading=False))
    assert stored() == 0
    asyncio.run(collector.run_once(11.5, leading=True))
    assert stored() == 1
    store.close()
